"""Field-by-field comparison of an edited ONNX file with the file it came
from (the onnx package as the oracle): everything no edit touched must be
identical, serialised bytes equal. Shared by check_onnx_write.py (the
writer's own test) and check_repair_benchmark.py (every file `nndiff
repair` writes)."""
import copy

import onnx


def _same(a, b):
    return a.SerializeToString() == b.SerializeToString()


def field_diffs(src_path, out_path, nodes=(), removed=(), inits=(), new_inits=None, new_nodes=()):
    """[(ok, what)] for: the model's fields (ir_version, opsets, producer,
    metadata), the graph's inputs, outputs, name, doc string; every node but
    `nodes` (edited) and `removed` identical and in order, the removed ones
    gone, no node added but `new_nodes`; every initializer but `inits`
    identical; initializers added only as `new_inits` (None: any new one
    allowed, as long as only edited or new nodes read it)."""
    a = onnx.load(src_path, load_external_data=False)
    b = onnx.load(out_path, load_external_data=False)
    out = []
    ma, mb = copy.deepcopy(a), copy.deepcopy(b)
    ma.ClearField("graph")
    mb.ClearField("graph")
    out.append((_same(ma, mb), "model fields (ir_version, opsets, producer, metadata) kept"))
    for f in ("input", "output", "name", "doc_string", "sparse_initializer"):
        va, vb = getattr(a.graph, f), getattr(b.graph, f)
        ok = (va == vb) if isinstance(va, str) else \
            [x.SerializeToString() for x in va] == [x.SerializeToString() for x in vb]
        out.append((ok, "graph %s kept" % f))
    nodes, removed, new_nodes = set(nodes), set(removed), set(new_nodes)
    na, nb = list(a.graph.node), list(b.graph.node)
    kept_a = [n for n in na if n.name not in nodes and n.name not in removed]
    kept_b = [n for n in nb if n.name not in nodes and n.name not in new_nodes]
    out.append(([n.SerializeToString() for n in kept_a] == [n.SerializeToString() for n in kept_b],
                "%d untouched nodes identical and in order" % len(kept_a)))
    names_b = {n.name for n in nb}
    out.append((all(r not in names_b for r in removed), "removed nodes gone"))
    ia = {i.name: i for i in a.graph.initializer}
    ib = {i.name: i for i in b.graph.initializer}
    untouched = [k for k in ia if k not in inits]
    out.append((all(k in ib and _same(ia[k], ib[k]) for k in untouched),
                "%d untouched initializers identical" % len(untouched)))
    added = set(ib) - set(ia)
    if new_inits is not None:
        out.append((set(ib) == set(ia) | set(new_inits), "initializers added only where planned"))
    else:
        readers = {i for n in nb if n.name in nodes | new_nodes for i in n.input}
        out.append((added <= readers, "initializers added (%d) read only by edited nodes" % len(added)))
    return out


def repair_touched(src_path, edits):
    """What a repair's edits (its JSON `edits`: kind, target_name) may touch
    in the file: (nodes, removed, inits). A tensor edit changes the
    initializer of that name or the Constant node making it; a node edit
    the node and the constants it reads (a Clip's bounds, a Pad's pads); a
    removed node making a graph output, the node before it (it takes the
    output's name)."""
    m = onnx.load(src_path, load_external_data=False)
    init_names = {i.name for i in m.graph.initializer}
    producer = {o: n for n in m.graph.node for o in n.output}
    nodes, removed, inits = set(), set(), set()
    for e in edits:
        name = e["target_name"]
        if e["kind"] == "remove_node":
            removed.add(name)
            # a graph output keeps its name: the node before takes it on
            outs = {o.name for o in m.graph.output}
            for n in m.graph.node:
                if n.name == name and set(n.output) & outs and n.input and n.input[0] in producer:
                    nodes.add(producer[n.input[0]].name)
        elif e["kind"] == "set_constant":
            inits.add(name)
            if name in producer:
                nodes.add(producer[name].name)
        else:
            nodes.add(name)
            for n in m.graph.node:
                if n.name != name:
                    continue
                for i in n.input:
                    if i in init_names:
                        inits.add(i)
                    elif i in producer and producer[i].op_type == "Constant":
                        nodes.add(producer[i].name)
    return nodes, removed, inits

"""Self-check of the fault benchmark written by tools/make_fault_benchmark.py.

Checks, for DIR/manifest.json (the ground truth nndiff's `localize` is judged
by), per architecture and benchmark variant (manifest field `variant`), that:
  * every case names existing source/target files, the equivalent pair is
    marked equivalent with no faulty nodes, every faulty pair has at least one
    faulty node on each side, and each named node exists in its file;
  * the ground truth is exact: the nodes that differ between a faulty target
    and its variant's clean target (op type, attributes, inputs and
    outputs, and the values of every constant a node reads: an initializer,
    a Constant node's value or a Cast of either, so the constant_weights and
    fp16_weights storage is seen through; those value nodes themselves are
    not compared) are exactly faulty_target_nodes;
  * every faulty case moved onnxruntime's logits (ort_rel_max_abs_diff >
    1e-3) and every equivalent pair agrees (<= 1e-4);
  * every faulty source node exists in the source and the first one has the
    op type its target counterpart had before the fault (or a known
    converter rewrite of it: Gemm->MatMul/Add, Flatten->Reshape,
    HardSwish->HardSigmoid);
  * the clean target holds no BatchNormalization node and shares no node,
    tensor or initializer name with the source;
  * with --ort: onnxruntime (tools/ort_run.py, 1 thread, ORT_ENABLE_ALL) on
    DIR/inputs.npy reproduces the recorded ort_labels_differing and
    ort_max_abs_diff of every case.

Usage: check_fault_benchmark.py DIR [--ort]     (exit 0 ok, 1 problems found)
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

REWRITES = {("Gemm", "MatMul"), ("Gemm", "Add"), ("Flatten", "Reshape"),
            ("HardSwish", "HardSigmoid"), ("HardSwish", "Mul")}


def node_signature(node, inits):
    """Everything that defines what a node computes, constant values included."""
    import hashlib
    ins = []
    for i in node.input:
        t = inits.get(i)
        ins.append((i, hashlib.sha1(t).hexdigest() if t is not None else None))
    attrs = sorted(a.SerializeToString() for a in node.attribute)
    return (node.op_type, tuple(ins), tuple(node.output), tuple(attrs))


def load(path):
    """(model, {tensor: value bytes} of every constant, names of the value nodes)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(path)  # resolves external data beside the file
    vals = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    value_nodes = set()
    for n in m.graph.node:  # topological order: a Cast of a Constant comes after it
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            vals[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
            value_nodes.add(n.name)
        elif n.op_type == "Cast" and n.input[0] in vals:
            to = helper.get_attribute_value(n.attribute[0])
            vals[n.output[0]] = vals[n.input[0]].astype(helper.tensor_dtype_to_np_dtype(to))
            value_nodes.add(n.name)
    inits = {k: np.ascontiguousarray(v).tobytes() for k, v in vals.items()}
    return m, inits, value_nodes


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    root = argv[0]
    do_ort = "--ort" in argv[1:]
    with open(os.path.join(root, "manifest.json")) as f:
        man = json.load(f)
    problems = []
    by_arch = collections.defaultdict(list)
    for c in man["cases"]:
        by_arch[(c["arch"], c.get("variant", "calibrated"))].append(c)
    x = None
    if do_ort:
        import numpy as np
        import ort_run
        x = np.load(os.path.join(root, man["inputs"]["path"]))
    n_ok = 0
    for (arch_name, variant), cases in by_arch.items():
        arch = arch_name if variant == "calibrated" else "%s/%s" % (arch_name, variant)
        clean = [c for c in cases if c["fault"] == "none"]
        if len(clean) != 1:
            problems.append("%s: %d clean cases" % (arch, len(clean)))
            continue
        clean = clean[0]
        src, src_inits, _ = load(os.path.join(root, clean["source"]))
        src_nodes = {n.name: n for n in src.graph.node}
        cm, cm_inits, cm_values = load(os.path.join(root, clean["target"]))
        cm_nodes = {n.name: n for n in cm.graph.node if n.name not in cm_values}
        cm_sig = {n.name: node_signature(n, cm_inits) for n in cm.graph.node if n.name not in cm_values}
        if any(n.op_type == "BatchNormalization" for n in cm.graph.node):
            problems.append("%s: clean target holds BatchNormalization" % arch)
        src_names = set(src_nodes) | set(src_inits) | {o for n in src.graph.node for o in n.output} \
            | {v.name for v in src.graph.input}
        tgt_names = set(cm_nodes) | set(cm_inits) | {o for n in cm.graph.node for o in n.output} \
            | {v.name for v in cm.graph.input}
        shared = (src_names & tgt_names) - {""}
        if shared:
            problems.append("%s: clean target shares %d names with the source, e.g. %s"
                            % (arch, len(shared), sorted(shared)[:3]))
        y_src = None
        if do_ort:
            y_src = ort_run.run(ort_run.make_session(os.path.join(root, clean["source"])), x)[0][1]
        for c in cases:
            cid = c["case"]
            bad = []
            if c["equivalent"] and c.get("ort_rel_max_abs_diff", 0) > 1e-4:
                bad.append("equivalent pair differs under onnxruntime (rel %.3g)" % c["ort_rel_max_abs_diff"])
            if not c["equivalent"] and not c.get("ort_rel_max_abs_diff", 1) > 1e-3:
                bad.append("faulty target does not move onnxruntime's logits (rel %.3g)"
                           % c.get("ort_rel_max_abs_diff", 0))
            if c["equivalent"] != (c["fault"] == "none"):
                bad.append("equivalent=%s for fault %s" % (c["equivalent"], c["fault"]))
            if c["equivalent"]:
                if c["faulty_target_nodes"] or c["faulty_source_nodes"]:
                    bad.append("equivalent case lists faulty nodes")
                tm, t_nodes = cm, cm_nodes
            else:
                tm, t_inits, t_values = load(os.path.join(root, c["target"]))
                t_nodes = {n.name: n for n in tm.graph.node if n.name not in t_values}
                if not c["faulty_target_nodes"] or not c["faulty_source_nodes"]:
                    bad.append("faulty case without faulty nodes")
                changed = {n.name for n in tm.graph.node if n.name not in t_values
                           and cm_sig.get(n.name) != node_signature(n, t_inits)}
                changed |= set(cm_nodes) - set(t_nodes)
                if changed != set(c["faulty_target_nodes"]):
                    bad.append("nodes differing from the clean target %s != faulty_target_nodes %s"
                               % (sorted(changed), c["faulty_target_nodes"]))
                for s in c["faulty_source_nodes"]:
                    if s not in src_nodes:
                        bad.append("source node %s not in the source" % s)
                first_t = c["faulty_target_nodes"][0]
                if first_t not in t_nodes:
                    bad.append("target node %s not in the target" % first_t)
                # the node the fault sits on, as the clean target has it
                carrier = next((cm_nodes[t] for t in c["faulty_target_nodes"] if t in cm_nodes), None)
                s0 = src_nodes.get(c["faulty_source_nodes"][0]) if c["faulty_source_nodes"] else None
                if carrier is not None and s0 is not None and carrier.op_type != s0.op_type \
                        and (s0.op_type, carrier.op_type) not in REWRITES:
                    bad.append("source node %s is a %s, target node %s was a %s" % (
                        s0.name, s0.op_type, carrier.name, carrier.op_type))
            if do_ort:
                import numpy as np
                y = ort_run.run(ort_run.make_session(os.path.join(root, c["target"])), x)[0][1]
                nd = int((y_src.reshape(len(x), -1).argmax(1) != y.reshape(len(x), -1).argmax(1)).sum())
                d = float(np.max(np.abs(y_src.astype(np.float64) - y.astype(np.float64))))
                if nd != c["ort_labels_differing"] or abs(d - c["ort_max_abs_diff"]) > 1e-6 * max(1.0, d):
                    bad.append("onnxruntime now gives %d labels / max|d| %.6g, manifest says %d / %.6g"
                               % (nd, d, c["ort_labels_differing"], c["ort_max_abs_diff"]))
            if bad:
                problems += ["%s: %s" % (cid, b) for b in bad]
                print("FAIL %s" % cid)
            else:
                n_ok += 1
                print("ok   %s" % cid)
    for p in problems:
        print("  " + p)
    print("%d cases ok, %d problem(s)" % (n_ok, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

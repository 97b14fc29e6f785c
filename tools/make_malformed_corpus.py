#!/usr/bin/env python3
"""Write a corpus of malformed ONNX files for nndiff's bad-input tests.

Every file in the corpus is named for what is wrong with it, and nndiff is
expected to reject each one cleanly with exit code 2 (no crash, no hang, no
read outside the model's directory). The corpus is built from:

  * a tiny valid model made with onnx.helper (Conv -> Relu ->
    GlobalAveragePool -> Flatten -> Gemm, opset 13), written as
    DIR/valid_tiny.onnx, plus DIR/valid_tiny_external.onnx whose Conv weight
    lives in DIR/valid_tiny_external.bin (external data done right). Both are
    checked with onnx.checker and onnxruntime and must stay VALID;
  * protobuf-level corruption of the tiny model's serialized bytes
    (truncations at chosen offsets, bad varints, wrong wire types, length
    prefixes past the end of the file, ...);
  * structurally broken graphs built with onnx.helper without running
    onnx.checker (dangling inputs, cycles, bad tensors, bad external data, ...);
  * a few cuts of a real model (--base, default examples/squeezenet1_1.onnx),
    kept to a few KiB.

Also written: DIR/manifest.tsv (tab-separated: file, expected_exit_code,
description; the first line is the header "file<TAB>expected_exit_code<TAB>description") and
DIR/README.txt (the same list, with which Python-side layer rejects each
file: protobuf parsing, onnx.checker or onnxruntime -- every malformed file is
verified to be rejected by at least one of them, else this script fails).

Everything is deterministic (fixed seed): rerunning gives identical bytes.
No file is ever written outside DIR (the path-escape cases only *name*
"../escape.bin" and "/etc/passwd").

Usage:
  .venv/bin/python tools/make_malformed_corpus.py --out DIR [--base MODEL.onnx]
"""

import argparse
import os
import sys

EXPECTED_EXIT = 2
SEED = 20240611


# --------------------------------------------------------------------------
# protobuf wire helpers
# --------------------------------------------------------------------------

def enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def dec_varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


class Field:
    """One field of a serialized message: offsets into the buffer."""

    def __init__(self, number, wire, tag_start, len_start, start, end):
        self.number, self.wire = number, wire
        self.tag_start = tag_start    # first byte of the tag varint
        self.len_start = len_start    # first byte of the length varint (LEN only)
        self.start, self.end = start, end  # the value (payload for LEN)


def fields(buf, begin=0, end=None):
    """List the fields of the message in buf[begin:end]."""
    end = len(buf) if end is None else end
    pos, out = begin, []
    while pos < end:
        tag_start = pos
        tag, pos = dec_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        len_start = None
        if wire == 0:
            start = pos
            _, pos = dec_varint(buf, pos)
        elif wire == 1:
            start, pos = pos, pos + 8
        elif wire == 5:
            start, pos = pos, pos + 4
        elif wire == 2:
            len_start = pos
            n, start = dec_varint(buf, pos)
            pos = start + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        out.append(Field(number, wire, tag_start, len_start, start, pos))
    return out


def first(flds, number):
    return next(f for f in flds if f.number == number)


# --------------------------------------------------------------------------
# the tiny model
# --------------------------------------------------------------------------

def tiny_model(rng, conv_w=None, conv_attrs=None, nodes=None, outputs=None,
               initializers=None, opset=13):
    """Conv(3->4, 3x3, pad 1) -> Relu -> GAP -> Flatten -> Gemm(4->2) on 1x3x8x8."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    fw = rng.standard_normal((2, 4)).astype(np.float32)
    fb = rng.standard_normal(2).astype(np.float32)
    inits = {
        "conv.weight": numpy_helper.from_array(w, "conv.weight") if conv_w is None else conv_w,
        "conv.bias": numpy_helper.from_array(b, "conv.bias"),
        "fc.weight": numpy_helper.from_array(fw, "fc.weight"),
        "fc.bias": numpy_helper.from_array(fb, "fc.bias"),
    }
    if initializers:
        inits.update(initializers)
    attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    attrs.update(conv_attrs or {})
    if nodes is None:
        nodes = [
            helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", **attrs),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
            helper.make_node("Flatten", ["g"], ["f"], name="flatten", axis=1),
            helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
        ]
    if outputs is None:
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        outputs, initializer=list(inits.values()))
    model = helper.make_model(graph, producer_name="nndiff-malformed-corpus",
                              opset_imports=[helper.make_opsetid("", opset)] if opset else [])
    model.ir_version = 8
    if not opset:
        del model.opset_import[:]
    return model


def fresh_rng():
    import numpy as np
    return np.random.default_rng(SEED)


def base_model():
    return tiny_model(fresh_rng())


def with_conv_weight(**kw):
    """Tiny model whose conv.weight TensorProto fields are replaced by kw."""
    from onnx import TensorProto
    m = base_model()
    t = next(t for t in m.graph.initializer if t.name == "conv.weight")
    for k, v in kw.items():
        if k == "dims":
            del t.dims[:]
            t.dims.extend(v)
        elif k == "external":
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            del t.external_data[:]
            for key, val in v:
                e = t.external_data.add()
                e.key, e.value = key, str(val)
        else:
            setattr(t, k, v)
    return m


# --------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------

def byte_cases(valid, base_bytes):
    """(name, bytes, description) for protobuf-level corruption."""
    import numpy as np

    top = fields(valid)
    ir = first(top, 1)
    prod = first(top, 2)
    graph = first(top, 7)
    opset = first(top, 8)
    gf = fields(valid, graph.start, graph.end)
    node0 = first(gf, 1)
    init0 = first(gf, 5)
    raw = first(fields(valid, init0.start, init0.end), 9)  # TensorProto.raw_data
    in0 = first(gf, 11)
    assert graph.start - graph.len_start >= 2, "graph length must be a multi-byte varint"

    cases = [
        ("empty.onnx", b"", "empty file (0 bytes)"),
        ("random_bytes.onnx", np.random.default_rng(SEED).bytes(4096),
         "4096 random bytes (seeded), not a protobuf"),
    ]

    cuts = [
        ("1byte", 1, "only the first byte (the ir_version tag)"),
        ("after_tag", graph.tag_start + 1, "right after the ModelProto.graph tag, before its length"),
        ("mid_varint", graph.len_start + 1, "inside the multi-byte length varint of ModelProto.graph"),
        ("mid_producer_name", (prod.start + prod.end) // 2, "inside the producer_name string"),
        ("mid_graph", (graph.start + graph.end) // 2, "in the middle of the length-delimited graph field"),
        ("mid_node", (node0.start + node0.end) // 2, "inside the first NodeProto"),
        ("mid_raw_data", (raw.start + raw.end) // 2, "inside conv.weight raw_data"),
        ("mid_graph_input", (in0.start + in0.end) // 2, "inside the graph input ValueInfoProto"),
        ("mid_opset_import", (opset.start + opset.end) // 2, "inside the opset_import entry"),
        ("last_byte_missing", len(valid) - 1, "the whole file but its last byte"),
    ]
    for tag, off, desc in cuts:
        assert 0 < off < len(valid)
        cases.append(("truncated_%s.onnx" % tag, valid[:off],
                      "valid_tiny.onnx truncated to %d of %d bytes: %s" % (off, len(valid), desc)))

    cases.append(("bad_varint_11x_ff.onnx", valid[:ir.start] + b"\xff" * 11 + valid[ir.end:],
                  "ir_version value is 11 bytes of 0xFF: varint longer than 10 bytes"))
    cases.append(("wrong_wire_type_graph_varint.onnx",
                  valid[:graph.tag_start] + enc_varint(7 << 3 | 0) + enc_varint(1) + valid[graph.end:],
                  "ModelProto.graph (field 7) encoded as a varint instead of a message"))
    cases.append(("len_prefix_past_eof.onnx",
                  valid[:graph.len_start] + enc_varint(len(valid) + 1000) + valid[graph.start:],
                  "ModelProto.graph length prefix is 1000 bytes larger than the file"))
    cases.append(("len_prefix_huge.onnx",
                  valid[:graph.len_start] + enc_varint((1 << 64) - 1) + valid[graph.start:],
                  "ModelProto.graph length prefix is 2^64-1 (overflows any offset arithmetic)"))
    cases.append(("len_prefix_raw_data_past_parent.onnx",
                  valid[:raw.len_start] + enc_varint(raw.end - raw.start + 64) + valid[raw.start:],
                  "conv.weight raw_data length runs 64 bytes past the end of its TensorProto"))
    cases.append(("field_number_zero.onnx", b"\x00" + valid[1:],
                  "first tag is 0x00: field number 0 is invalid"))
    cases.append(("wire_type_7.onnx", valid[:ir.tag_start] + enc_varint(1 << 3 | 7) + valid[ir.start:],
                  "ir_version tag carries wire type 7, which does not exist"))

    # Cuts of the real base model, kept small.
    cases.append(("base_truncated_4096.onnx", base_bytes[:4096],
                  "the first 4096 bytes of the base model (%d bytes)" % len(base_bytes)))
    pos, gtag = 0, None
    while pos < len(base_bytes):  # find ModelProto.graph in the base model
        tag_start = pos
        tag, pos = dec_varint(base_bytes, pos)
        if tag & 7 == 0:
            _, pos = dec_varint(base_bytes, pos)
        elif tag & 7 == 2:
            n, s = dec_varint(base_bytes, pos)
            if tag >> 3 == 7:
                gtag = (tag_start, pos, s)
                break
            pos = s + n
        else:
            raise ValueError("unexpected wire type in base model header")
    if gtag is None:
        raise ValueError("base model has no ModelProto.graph field")
    t0, l0, s0 = gtag
    cases.append(("base_graph_len_past_eof.onnx",
                  base_bytes[:l0] + enc_varint(len(base_bytes)) + base_bytes[s0:s0 + 4096],
                  "base model header + 4 KiB of its graph, graph length says %d bytes" % len(base_bytes)))
    return cases


def graph_cases():
    """(name, ModelProto, description, extra files) for structural breakage."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w_bytes = next(t for t in base_model().graph.initializer if t.name == "conv.weight").raw_data
    cases = []

    cases.append(("tensor_dims_overflow.onnx", with_conv_weight(dims=[1 << 40, 1 << 40]),
                  "conv.weight dims 2^40 x 2^40: element count overflows int64"))
    cases.append(("tensor_dims_overflow_bytes.onnx", with_conv_weight(dims=[1 << 31, 1 << 31]),
                  "conv.weight dims 2^31 x 2^31: elements fit int64 but bytes (x4) do not"))
    cases.append(("initializer_negative_dim.onnx", with_conv_weight(dims=[-5, 3, 3, 3]),
                  "conv.weight has a negative dim (-5)"))
    cases.append(("raw_data_short.onnx", with_conv_weight(raw_data=w_bytes[:100]),
                  "conv.weight dims 4x3x3x3 need 432 bytes, raw_data holds 100"))
    cases.append(("raw_data_long.onnx", with_conv_weight(raw_data=w_bytes + b"\0" * 16),
                  "conv.weight dims 4x3x3x3 need 432 bytes, raw_data holds 448"))
    cases.append(("initializer_unknown_dtype_999.onnx", with_conv_weight(data_type=999),
                  "conv.weight has data_type 999 (no such TensorProto.DataType)"))
    cases.append(("initializer_dtype_undefined.onnx", with_conv_weight(data_type=0),
                  "conv.weight has data_type 0 (UNDEFINED)"))

    m = with_conv_weight(dims=[4, 3, 9])
    cases.append(("conv_weight_rank3.onnx", m, "Conv weight has rank 3 (4x3x9) for a 4-D input"))

    rng = fresh_rng()
    w_g = numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "conv.weight")
    cases.append(("conv_group_not_dividing.onnx",
                  tiny_model(fresh_rng(), conv_w=w_g, conv_attrs={"group": 2}),
                  "Conv group=2 does not divide the 3 input channels"))

    def nodes_replacing(idx, node):
        m = base_model()
        nodes = list(m.graph.node)
        nodes[idx] = node
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        return m

    cases.append(("dangling_input.onnx",
                  nodes_replacing(1, helper.make_node("Relu", ["does_not_exist"], ["r"], name="relu")),
                  "node 'relu' consumes 'does_not_exist', which no node, input or initializer provides"))

    m = base_model()
    n = list(m.graph.node)
    cyc = [n[0],
           helper.make_node("Add", ["c", "b_out"], ["a_out"], name="A"),
           helper.make_node("Relu", ["a_out"], ["b_out"], name="B"),
           helper.make_node("GlobalAveragePool", ["b_out"], ["g"], name="gap"),
           n[3], n[4]]
    del m.graph.node[:]
    m.graph.node.extend(cyc)
    cases.append(("cycle.onnx", m, "node A (Add) consumes B's output, B (Relu) consumes A's: a cycle"))

    m = base_model()
    m.graph.node.insert(2, helper.make_node("Sigmoid", ["c"], ["r"], name="relu_twin"))
    cases.append(("duplicate_output.onnx", m, "two nodes ('relu' and 'relu_twin') both produce 'r'"))

    m = base_model()
    m.graph.output.append(helper.make_tensor_value_info("ghost", TensorProto.FLOAT, [1, 2]))
    cases.append(("output_not_produced.onnx", m, "graph output 'ghost' is produced by no node"))

    m = base_model()
    m.graph.node.append(helper.make_node("Relu", ["y"], ["y"], name="self_loop"))
    cases.append(("self_loop.onnx", m, "node 'self_loop' consumes its own output 'y' (and redefines it)"))

    n_bytes = len(w_bytes)
    cases.append(("external_data_escape.onnx",
                  with_conv_weight(external=[("location", "../escape.bin"), ("offset", 0), ("length", n_bytes)]),
                  "conv.weight external data location '../escape.bin' leaves the model's directory"))
    cases.append(("external_data_absolute.onnx",
                  with_conv_weight(external=[("location", "/etc/passwd"), ("offset", 0), ("length", n_bytes)]),
                  "conv.weight external data location is the absolute path '/etc/passwd'"))
    cases.append(("external_data_offset_past_eof.onnx",
                  with_conv_weight(external=[("location", "valid_tiny_external.bin"),
                                             ("offset", 4096), ("length", n_bytes)]),
                  "conv.weight external data offset 4096 is past the end of the %d-byte "
                  "valid_tiny_external.bin" % n_bytes))
    cases.append(("external_data_length_past_eof.onnx",
                  with_conv_weight(external=[("location", "valid_tiny_external.bin"),
                                             ("offset", 0), ("length", 100000)]),
                  "conv.weight external data length 100000 runs past the end of valid_tiny_external.bin"))
    cases.append(("external_data_missing_file.onnx",
                  with_conv_weight(external=[("location", "no_such_file.bin"), ("offset", 0),
                                             ("length", n_bytes)]),
                  "conv.weight external data file 'no_such_file.bin' does not exist"))

    cases.append(("opset_import_missing.onnx", tiny_model(fresh_rng(), opset=None),
                  "ModelProto has no opset_import at all"))

    m = base_model()
    del m.graph.node[:]
    cases.append(("no_nodes_with_output.onnx", m,
                  "graph has no nodes but declares output 'y' (nothing produces it)"))
    return cases


# --------------------------------------------------------------------------
# verification (Python-side layers that reject each file)
# --------------------------------------------------------------------------

def rejected_by(path):
    """Which of protobuf / onnx.checker / onnxruntime reject the file."""
    import onnx
    import onnxruntime as ort
    from google.protobuf.message import DecodeError

    with open(path, "rb") as f:
        data = f.read()
    if not data:
        return ["empty"]
    m = onnx.ModelProto()
    try:
        m.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return ["protobuf"]
    who = []
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception:  # noqa: BLE001 - any checker complaint counts
        who.append("onnx.checker")
    try:
        so = ort.SessionOptions()
        so.log_severity_level = 4
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001
        who.append("onnxruntime")
        return who
    try:  # some errors (bad Conv weight shapes) only show when running
        import numpy as np
        sess.run(None, {"x": np.ones((1, 3, 8, 8), np.float32)})
    except Exception:  # noqa: BLE001
        who.append("onnxruntime run")
    return who


def check_valid(path):
    import numpy as np
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(path, full_check=True)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": np.ones((1, 3, 8, 8), np.float32)})[0]
    assert y.shape == (1, 2) and np.isfinite(y).all(), y
    return y


# --------------------------------------------------------------------------

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    default_base = os.path.join(os.path.dirname(here), "examples", "squeezenet1_1.onnx")
    p = argparse.ArgumentParser(
        description="Write a deterministic corpus of malformed ONNX files (plus manifest.tsv "
                    "and README.txt) for nndiff's bad-input tests.")
    p.add_argument("--out", required=True, help="output directory (created if missing)")
    p.add_argument("--base", default=default_base,
                   help="a real, valid ONNX model to cut a few small bad files from "
                        "(default: examples/squeezenet1_1.onnx)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip checking each file against protobuf/onnx.checker/onnxruntime")
    args = p.parse_args(argv)

    try:
        import numpy  # noqa: F401
        import onnx
        from onnx import numpy_helper  # noqa: F401
        if not args.no_verify:
            import onnxruntime  # noqa: F401
    except ImportError as e:
        print("make_malformed_corpus: error: %s\n  run tools/setup_venv.sh and use .venv/bin/python" % e,
              file=sys.stderr)
        return 2
    try:
        with open(args.base, "rb") as f:
            base_bytes = f.read()
        onnx.ModelProto().ParseFromString(base_bytes)
    except Exception as e:  # noqa: BLE001
        print("make_malformed_corpus: error: cannot use --base %s: %s" % (args.base, e), file=sys.stderr)
        return 2

    out = args.out
    os.makedirs(out, exist_ok=True)
    if not args.no_verify:
        onnxruntime.set_default_logger_severity(4)  # its errors are expected here

    def write(name, data):
        path = os.path.join(out, name)
        assert os.path.dirname(os.path.abspath(path)) == os.path.abspath(out)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # The valid models.
    valid = base_model().SerializeToString()
    write("valid_tiny.onnx", valid)
    w = next(t for t in base_model().graph.initializer if t.name == "conv.weight")
    write("valid_tiny_external.bin", w.raw_data)
    ext = with_conv_weight(external=[("location", "valid_tiny_external.bin"), ("offset", 0),
                                     ("length", len(w.raw_data))])
    write("valid_tiny_external.onnx", ext.SerializeToString())
    valids = [("valid_tiny.onnx", "tiny valid model (Conv->Relu->GAP->Flatten->Gemm, opset 13)"),
              ("valid_tiny_external.onnx", "valid_tiny.onnx with conv.weight stored in "
                                           "valid_tiny_external.bin (offset 0, length %d)"
               % len(w.raw_data))]

    cases = [(n, d, desc) for n, d, desc in byte_cases(valid, base_bytes)]
    cases += [(n, m.SerializeToString(), desc) for n, m, desc in graph_cases()]
    names = [c[0] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"

    rows, failures = [], []
    for name, data, desc in cases:
        path = write(name, data)
        who = [] if args.no_verify else rejected_by(path)
        if not args.no_verify and not who:
            failures.append(name)
        rows.append((name, desc, who))

    if not args.no_verify:
        for name, _ in valids:
            try:
                check_valid(os.path.join(out, name))
            except Exception as e:  # noqa: BLE001
                failures.append("%s (should be valid: %s)" % (name, e))

    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("file\texpected_exit_code\tdescription\n")
        for name, desc, _ in rows:
            f.write("%s\t%d\t%s\n" % (name, EXPECTED_EXIT, desc))

    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write("Malformed ONNX corpus for nndiff's bad-input tests.\n"
                "Generated by tools/make_malformed_corpus.py (deterministic, seed %d;\n"
                "onnx %s). Do not edit by hand: rerun the script.\n\n"
                "nndiff must reject every file below with exit code %d, without crashing,\n"
                "hanging or reading anything outside this directory. manifest.tsv has the\n"
                "same list in machine-readable form.\n\n"
                "Valid files (must load fine):\n" % (SEED, onnx.__version__, EXPECTED_EXIT))
        for name, desc in valids:
            f.write("  %-40s %s\n" % (name, desc))
        f.write("  %-40s %s\n\n" % ("valid_tiny_external.bin", "raw weights for valid_tiny_external.onnx"))
        f.write("Malformed files (expected exit %d). [rejected by: ...] = the Python-side\n"
                "layer(s) that reject the file: protobuf parsing, onnx.checker (full_check),\n"
                "onnxruntime session creation or a run on a 1x3x8x8 input of ones.\n"
                "Run nndiff on the files in place: the external-data cases name files\n"
                "relative to this directory.\n" % EXPECTED_EXIT)
        for name, desc, who in rows:
            f.write("  %-40s %s%s\n" % (name, desc,
                                        "  [rejected by: %s]" % ", ".join(who) if who else ""))

    print("wrote %d malformed files + %d valid ones to %s" % (len(rows), len(valids), out))
    if failures:
        print("make_malformed_corpus: error: not rejected as expected: %s" % ", ".join(failures),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

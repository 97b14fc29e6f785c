#!/usr/bin/env python3
"""Writes a corpus of malformed .tflite files for nndiff's bad-input tests.

DIR/valid_tiny.tflite is a small valid model written by tools/tflite_write.py
(CONV_2D with fused RELU -> MEAN -> FULLY_CONNECTED, its dense weights
stored after the FlatBuffer by offset and size as the converter does for
big models). Every other file corrupts exactly one structure of it:
truncations, the identifier, the root offset, vtables (outside the file,
unaligned, too small, overlapping their table, listing fields outside the
table), references (to themselves, out of the file, wrapping around to an
ancestor as a cycle would), huge vector and string lengths, buffers
outside the file, tensor and operator indices out of range, data of the
wrong size, bad types and options. nndiff must reject each with exit 2
and one line (tests/check_malformed.sh). DIR/manifest.tsv lists them.

When TensorFlow is importable (the .venv-tf venv), the valid model is also
run by the TFLite interpreter to show the writer makes real TFLite files.

Usage: make_malformed_tflite.py --out DIR
"""
import argparse
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tflite_write as fw  # noqa: E402

ADD, CONV_2D, FULLY_CONNECTED, MEAN = 0, 3, 9, 40
OPT_CONV2D, OPT_FC, OPT_REDUCER = 1, 8, 27


def floats(n, seed):
    rng = random.Random(seed)
    return b"".join(struct.pack("<f", rng.uniform(-1, 1)) for _ in range(n))


def tiny():
    """The valid model and the objects whose positions the cases need."""
    conv_w, conv_b = floats(3 * 3 * 3 * 2, 1), floats(3, 2)
    fc_w, fc_b = floats(2 * 3, 3), floats(2, 4)
    axes = struct.pack("<2i", 1, 2)
    bufs = [fw.buffer(), fw.buffer(conv_w), fw.buffer(conv_b), fw.buffer(axes),
            fw.buffer(offset=1, size=1), fw.buffer(fc_b)]
    tensors = [
        fw.tensor("image", [1, 4, 4, 2]),
        fw.tensor("conv/w", [3, 3, 3, 2], buffer=1),
        fw.tensor("conv/b", [3], buffer=2),
        fw.tensor("conv", [1, 4, 4, 3]),
        fw.tensor("mean/axes", [2], ttype=2, buffer=3),
        fw.tensor("mean", [1, 3]),
        fw.tensor("fc/w", [2, 3], buffer=4),
        fw.tensor("fc/b", [2], buffer=5),
        fw.tensor("logits", [1, 2]),
    ]
    conv_opts = fw.Table().set(0, "u8", 0).set(1, "i32", 1).set(2, "i32", 1).set(3, "u8", 1)
    ops = [
        fw.operator(0, [0, 1, 2], [3], OPT_CONV2D, conv_opts),
        fw.operator(1, [3, 4], [5], OPT_REDUCER, fw.Table().set(0, "u8", 0)),
        fw.operator(2, [5, 6, 7], [8], OPT_FC, fw.Table().set(0, "u8", 0)),
    ]
    codes = [fw.opcode(CONV_2D), fw.opcode(MEAN), fw.opcode(FULLY_CONNECTED)]
    root, sg = fw.model(codes, tensors, [0], [8], ops, bufs)
    w = fw.Writer()
    buf = w.finish(root)
    fb_end = len(buf)
    while len(buf) % 16:
        buf.append(0)
    off = len(buf)
    buf += fc_w
    struct.pack_into("<Q", buf, bufs[4].field_pos[1], off)
    struct.pack_into("<Q", buf, bufs[4].field_pos[2], len(fc_w))
    parts = {"root": root, "sg": sg, "tensors": tensors, "ops": ops, "bufs": bufs,
             "codes": codes, "conv_opts": conv_opts, "fb_end": fb_end, "ext": off}
    return bytes(buf), parts


def patch_many(valid, edits):
    b = bytearray(valid)
    for fmt, at, value in edits:
        struct.pack_into(fmt, b, at, *(value if isinstance(value, tuple) else (value,)))
    return bytes(b)


def cases(valid, p):
    """(name, bytes, description) for every malformed file."""
    root, sg, tensors, ops, bufs = p["root"], p["sg"], p["tensors"], p["ops"], p["bufs"]

    def patch(fmt, at, value):
        b = bytearray(valid)
        struct.pack_into(fmt, b, at, value)
        return bytes(b)

    def vec_pos(table, fid):  # position of a vector a field references
        at = table.field_pos[fid]
        return at + struct.unpack_from("<I", valid, at)[0]

    out = [
        ("empty.tflite", b"", "empty file"),
        ("trunc_3.tflite", valid[:3], "3 bytes"),
        ("trunc_header.tflite", valid[:8], "header only"),
        ("trunc_half.tflite", valid[:len(valid) // 2], "cut in the middle of the FlatBuffer"),
        ("trunc_fb_end.tflite", valid[:p["fb_end"] - 1], "last byte of the FlatBuffer missing"),
        ("trunc_ext_buffer.tflite", valid[:p["ext"] + 4],
         "buffer stored after the FlatBuffer cut short"),
        ("bad_ident.tflite", valid[:4] + b"TFL2" + valid[8:], "file identifier TFL2"),
        ("root_past_end.tflite", patch("<I", 0, 0xFFFFFFF0), "root offset past the end"),
        ("root_in_header.tflite", patch("<I", 0, 4), "root offset into the header"),
        ("root_unaligned.tflite", patch("<I", 0, root.pos + 1), "root table not 4-byte aligned"),
        ("vtable_outside.tflite", patch("<i", root.pos, -0x7FFFFFF0), "vtable past the end"),
        ("vtable_before_file.tflite", patch("<i", root.pos, 0x7FFFFFF0),
         "vtable before the start of the file"),
        ("vtable_unaligned.tflite", patch("<i", root.pos, root.pos - root.vt + 1),
         "vtable at an odd offset"),
        ("vtable_overlaps_table.tflite", patch("<i", sg.pos, 0),
         "vtable at its own table (overlapping)"),
        ("vtable_inside_table.tflite",
         patch_many(valid, [("<i", sg.pos, -4),
                                                                ("<HH", sg.pos + 4, (4, 8))]),
         "vtable inside its own table"),
        ("vtable_tiny.tflite", patch("<H", root.vt, 2), "vtable size 2"),
        ("vtable_odd_size.tflite", patch("<H", root.vt, 7), "vtable size odd"),
        ("vtable_huge.tflite", patch("<H", root.vt, 0xFFFE), "vtable size past the end"),
        ("table_huge.tflite", patch("<H", sg.vt + 2, 0xFFFC), "table size past the end"),
        ("field_outside_table.tflite", patch("<H", sg.vt + 4, 0x200),
         "vtable lists a field beyond its table"),
        ("shared_vtable_wrong.tflite", patch("<i", tensors[1].pos, tensors[1].pos - root.vt),
         "tensor table using the model's vtable (fields land elsewhere)"),
        ("ref_self.tflite", patch("<I", root.field_pos[2], 0), "subgraphs reference to itself"),
        ("ref_outside.tflite", patch("<I", root.field_pos[2], 0x7FFFFFF0),
         "subgraphs reference past the end"),
        ("ref_cycle.tflite", patch("<I", sg.field_pos[0], (root.pos - sg.field_pos[0]) & 0xFFFFFFFF),
         "tensors reference wrapping around to the model table (a cycle)"),
        ("ref_cycle_op.tflite",
         patch("<I", vec_pos(sg, 3) + 4, (sg.pos - (vec_pos(sg, 3) + 4)) & 0xFFFFFFFF),
         "operator reference wrapping back to its subgraph"),
        ("huge_tensors.tflite", patch("<I", vec_pos(sg, 0), 0x7FFFFFFF), "2^31 tensors"),
        ("huge_shape.tflite", patch("<I", vec_pos(tensors[0], 0), 0xFFFFFFFF),
         "tensor shape of 2^32-1 dims"),
        ("huge_name.tflite", patch("<I", vec_pos(tensors[0], 3), 0x40000000),
         "tensor name of 1 GiB"),
        ("huge_buffer_data.tflite", patch("<I", vec_pos(bufs[1], 0), 0x7FFFFFFF),
         "buffer data length 2^31"),
        ("name_not_nul.tflite", patch("<B", vec_pos(tensors[0], 3) + 4 + len("image"), 0x41),
         "string not NUL-terminated"),
        ("ext_buffer_outside.tflite", patch("<Q", bufs[4].field_pos[1], len(valid) - 8),
         "buffer offset+size past the end"),
        ("ext_buffer_overflow.tflite", patch("<Q", bufs[4].field_pos[1], 2 ** 64 - 8),
         "buffer offset near 2^64 (offset+size wraps)"),
        ("buffer_index_range.tflite", patch("<I", tensors[1].field_pos[2], 99),
         "tensor names buffer 99"),
        ("tensor_index_range.tflite", patch("<i", vec_pos(ops[0], 1) + 4, 1000),
         "operator input names tensor 1000"),
        ("tensor_index_negative.tflite", patch("<i", vec_pos(ops[0], 2) + 4, -5),
         "operator output names tensor -5"),
        ("opcode_range.tflite", patch("<I", ops[1].field_pos[0], 7), "operator code index 7"),
        ("input_index_range.tflite", patch("<i", vec_pos(sg, 1) + 4, 77),
         "subgraph input names tensor 77"),
        ("weights_short.tflite", patch("<i", vec_pos(tensors[1], 0) + 4, 4),
         "filter shape needs more bytes than its buffer holds"),
        ("bad_type.tflite", patch("<B", tensors[0].field_pos[1], 200), "tensor type 200"),
        ("complex_type.tflite", patch("<B", tensors[0].field_pos[1], 8), "complex64 tensor"),
        ("negative_dim.tflite", patch("<i", vec_pos(tensors[3], 0) + 8, -3), "dim of size -3"),
        ("options_wrong_type.tflite", patch("<B", ops[0].field_pos[3], 5),
         "CONV_2D with Pool2DOptions"),
        ("bad_activation.tflite", patch("<B", p["conv_opts"].field_pos[3], 9),
         "fused activation 9"),
        ("bad_padding.tflite", patch("<B", p["conv_opts"].field_pos[0], 4), "padding 4"),
        ("zero_stride.tflite", patch("<i", p["conv_opts"].field_pos[1], 0), "stride 0"),
        ("output_is_constant.tflite", patch("<i", vec_pos(ops[0], 2) + 4, 1),
         "operator writes a constant tensor"),
        ("output_twice.tflite", patch("<i", vec_pos(ops[1], 2) + 4, 3),
         "two operators write one tensor"),
        ("no_subgraph.tflite", patch("<I", vec_pos(root, 2), 0), "no subgraph"),
    ]
    return out


def interpreter_check(path):
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import numpy as np
        import tensorflow as tf
    except ImportError:
        return "TensorFlow not importable: the interpreter check was skipped"
    it = tf.lite.Interpreter(model_path=path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.ones((1, 4, 4, 2), np.float32))
    it.invoke()
    y = it.get_tensor(it.get_output_details()[0]["index"])
    return "the TFLite interpreter runs it: %s" % np.array2string(y.ravel(), precision=4)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true",
                    help="run valid_tiny.tflite in the TFLite interpreter when TF is importable")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    valid, parts = tiny()
    with open(os.path.join(args.out, "valid_tiny.tflite"), "wb") as f:
        f.write(valid)
    rows = cases(valid, parts)
    names = set()
    with open(os.path.join(args.out, "manifest.tsv"), "w") as man:
        man.write("file\texpected_exit_code\tdescription\n")
        for name, data, desc in rows:
            assert name not in names, name
            assert data != valid, name
            names.add(name)
            with open(os.path.join(args.out, name), "wb") as f:
                f.write(data)
            man.write("%s\t2\t%s\n" % (name, desc))
    print("wrote %d malformed files and valid_tiny.tflite into %s" % (len(rows), args.out))
    if args.check:
        print(interpreter_check(os.path.join(args.out, "valid_tiny.tflite")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A minimal FlatBuffer writer for hand-made TFLite files (tests and fuzz
seeds only; real fixtures come from the TFLiteConverter).

Written from the FlatBuffers wire format: a table is an int32 soffset to its
vtable (here always just before it), then its fields; a vtable is uint16
[vtable bytes, table bytes, field offsets]; tables, vectors and strings are
referenced by uint32 offsets relative to the referencing field, always
forward. The writer lays objects out parent first, depth first, and records
where each one landed (`Table.pos`, `Table.vt`, `Table.field_pos[id]`,
`Vec.pos`) so that tests can corrupt exactly one structure.

Field ids follow schema.fbs (tensorflow/compiler/mlir/lite/schema).
"""
import struct

SCALARS = {"u8": "<B", "i8": "<b", "i32": "<i", "u32": "<I", "u64": "<Q", "i64": "<q",
           "f32": "<f", "u16": "<H"}


class Vec:
    """A vector of scalars (kind), of tables (kind 'table'), or a string
    (kind 'str', items bytes)."""

    def __init__(self, kind, items):
        self.kind, self.items, self.pos = kind, items, None


class Table:
    def __init__(self, **fields):
        # fields: id -> (kind, value); kind a scalar kind, 'table' or 'vec'
        self.fields = {}
        self.pos = self.vt = None
        self.field_pos = {}

    def set(self, fid, kind, value):
        self.fields[fid] = (kind, value)
        return self


def _size(kind):
    return struct.calcsize(SCALARS[kind]) if kind in SCALARS else 4


class Writer:
    def __init__(self, ident=b"TFL3"):
        self.buf = bytearray(8)
        self.buf[4:8] = ident

    def align(self, n):
        while len(self.buf) % n:
            self.buf.append(0)

    def table(self, t):
        items = sorted(t.fields.items(), key=lambda kv: -_size(kv[1][0]))
        offs, off = {}, 4
        for fid, (kind, _) in items:
            sz = _size(kind)
            while off % sz:
                off += 1
            offs[fid] = off
            off += sz
        tsize = off
        while tsize % 4:
            tsize += 1
        nfields = max(t.fields) + 1 if t.fields else 0
        vt = [4 + 2 * nfields, tsize] + [offs.get(i, 0) for i in range(nfields)]
        vt_bytes = struct.pack("<%dH" % len(vt), *vt)
        # the table must start 8-aligned when it holds 8-byte fields
        big = any(_size(k) == 8 for k, _ in t.fields.values())
        a = 8 if big else 4
        self.align(2)
        while (len(self.buf) + len(vt_bytes)) % a:
            self.buf += b"\0\0"
        t.vt = len(self.buf)
        self.buf += vt_bytes
        t.pos = len(self.buf)
        self.buf += bytes(tsize)
        struct.pack_into("<i", self.buf, t.pos, t.pos - t.vt)
        pending = []
        for fid, (kind, value) in t.fields.items():
            at = t.pos + offs[fid]
            t.field_pos[fid] = at
            if kind in SCALARS:
                struct.pack_into(SCALARS[kind], self.buf, at, value)
            else:
                pending.append((at, value))
        for at, child in pending:
            struct.pack_into("<I", self.buf, at, self.obj(child) - at)
        return t.pos

    def obj(self, o):
        return self.table(o) if isinstance(o, Table) else self.vec(o)

    def vec(self, v):
        if v.kind == "str":
            self.align(4)
            v.pos = len(self.buf)
            self.buf += struct.pack("<I", len(v.items)) + v.items + b"\0"
            return v.pos
        if v.kind == "table":
            self.align(4)
            v.pos = len(self.buf)
            self.buf += struct.pack("<I", len(v.items)) + bytes(4 * len(v.items))
            for i, child in enumerate(v.items):
                at = v.pos + 4 + 4 * i
                struct.pack_into("<I", self.buf, at, self.obj(child) - at)
            return v.pos
        sz = _size(v.kind)
        self.align(4)
        while (len(self.buf) + 4) % max(sz, 4):
            self.buf += b"\0\0\0\0"
        v.pos = len(self.buf)
        self.buf += struct.pack("<I", len(v.items))
        for x in v.items:
            self.buf += struct.pack(SCALARS[v.kind], x)
        return v.pos

    def finish(self, root):
        assert len(self.buf) == 8
        self.buf[0:4] = struct.pack("<I", self.table(root))
        return self.buf


def string(s):
    return Vec("str", s.encode() if isinstance(s, str) else s)


def tensor(name, shape, ttype=0, buffer=0, quant=None):
    t = Table().set(0, "vec", Vec("i32", list(shape))).set(1, "u8", ttype) \
        .set(2, "u32", buffer).set(3, "vec", string(name))
    if quant is not None:
        t.set(4, "table", quant)
    return t


def operator(opcode, inputs, outputs, opt_type=0, options=None):
    t = Table().set(0, "u32", opcode).set(1, "vec", Vec("i32", inputs)) \
        .set(2, "vec", Vec("i32", outputs))
    if options is not None:
        t.set(3, "u8", opt_type).set(4, "table", options)
    return t


def opcode(code):
    return Table().set(0, "i8", min(code, 127)).set(2, "i32", 1).set(3, "i32", code)


def buffer(data=None, offset=None, size=None):
    t = Table()
    if data is not None:
        t.set(0, "vec", Vec("u8", list(data)))
    if offset is not None:
        t.set(1, "u64", offset).set(2, "u64", size)
    return t


def model(codes, tensors, inputs, outputs, ops, buffers, description="nndiff test"):
    sg = Table().set(0, "vec", Vec("table", tensors)).set(1, "vec", Vec("i32", inputs)) \
        .set(2, "vec", Vec("i32", outputs)).set(3, "vec", Vec("table", ops)) \
        .set(4, "vec", string("main"))
    return Table().set(0, "u32", 3).set(1, "vec", Vec("table", codes)) \
        .set(2, "vec", Vec("table", [sg])).set(3, "vec", string(description)) \
        .set(4, "vec", Vec("table", buffers)), sg

#!/usr/bin/env python3
"""Writes an ONNX model (opset 17) of a Swin classifier read from a safetensors file, for the ONNX Runtime
CPU peer. Python 3 standard library only: no PyTorch, no onnx package, no numpy.

    python3 swin_to_onnx.py WEIGHTS.safetensors OUT.onnx [--size HxW] [--batch B]

WEIGHTS is a Swin classification checkpoint in the Microsoft layout, as SparseViT-J writes it
(`sparsevit demo --save-weights`) and loads it: patch_embed.proj/norm, layers.i.blocks.j.{norm1, attn.qkv,
attn.proj, attn.relative_position_bias_table, norm2, mlp.fc1, mlp.fc2}, layers.i.downsample.{norm,
reduction} (channels concatenated in (0,0), (1,0), (0,1), (1,1) token order), norm, head; F32, F16 or
BF16. The architecture comes from the shapes (as our loader infers it); layer_norm_eps and img_size from
__metadata__ when present.

The graph computes the same function as SparseViT-J's dense classifier and is laid out as an exporter
would lay out timm's Swin: a 4x4/4 Conv patch embedding, LayerNormalization, tokens kept as [B, H, W, C],
window partition by Reshape/Transpose, cyclic shift by Slice+Concat, relative position bias gathered into
a constant [heads, N, N], the shift mask a constant [nW, 1, N, N] (-100 across regions), MatMul+Add
linears with pre-transposed weights, Softmax, exact GELU through Erf, patch merging by Reshape/Transpose,
mean pool and a Gemm head. Input "images" [B, 3, H, W] float32, output "logits" [B, classes]; B, H and W
are fixed when the model is written.

Our semantics where the Microsoft code has none: an image side that is not a patch multiple is zero-padded
at the bottom/right; a stage no larger than the window uses one window of min(h, w) and no shift (the
Microsoft rule); a stage that is not a window multiple is zero-padded after norm1 (the detection backbone's
rule), and a clamped window reads the centre of the bias table.

The protobuf is encoded here (varints and length-delimited fields, field numbers of onnx.proto).
"""
import argparse
import json
import math
import struct
import sys
from array import array

OPSET = 17
IR_VERSION = 8  # ONNX 1.12, the first release with opset 17

# TensorProto.DataType
FLOAT, INT64 = 1, 7
# AttributeProto.AttributeType
A_FLOAT, A_INT, A_STRING, A_INTS = 1, 2, 3, 7


class ConvertError(Exception):
    pass


# ------------------------------------------------------------------------------------------- protobuf

def varint(n):
    if n < 0:
        n += 1 << 64  # int64 fields: two's complement, ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def f_int(field, n):
    return tag(field, 0) + varint(n)


def f_len(field, payload):
    return tag(field, 2) + varint(len(payload)) + payload


def f_str(field, s):
    return f_len(field, s.encode("utf-8"))


def f_float(field, x):
    return tag(field, 5) + struct.pack("<f", x)


def tensor_proto(name, dtype, dims, raw):
    # TensorProto: dims 1, data_type 2, name 8, raw_data 9
    return b"".join([f_int(1, d) for d in dims] + [f_int(2, dtype), f_str(8, name), f_len(9, raw)])


def attribute_proto(name, value):
    # AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20
    if isinstance(value, bool) or isinstance(value, int):
        body = f_int(3, int(value)) + f_int(20, A_INT)
    elif isinstance(value, float):
        body = f_float(2, value) + f_int(20, A_FLOAT)
    elif isinstance(value, str):
        body = f_len(4, value.encode("utf-8")) + f_int(20, A_STRING)
    elif isinstance(value, (list, tuple)):
        body = b"".join(f_int(8, int(v)) for v in value) + f_int(20, A_INTS)
    else:
        raise TypeError("attribute %s: unsupported value %r" % (name, value))
    return f_str(1, name) + body


def node_proto(op_type, inputs, outputs, name, attrs):
    # NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
    parts = [f_str(1, i) for i in inputs] + [f_str(2, o) for o in outputs]
    parts += [f_str(3, name), f_str(4, op_type)]
    parts += [f_len(5, attribute_proto(k, v)) for k, v in attrs.items()]
    return b"".join(parts)


def value_info(name, elem_type, dims):
    # ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1; TypeProto.Tensor: elem_type 1, shape 2;
    # TensorShapeProto: dim 1; Dimension: dim_value 1
    shape = b"".join(f_len(1, f_int(1, d)) for d in dims)
    tensor_type = f_int(1, elem_type) + f_len(2, shape)
    return f_str(1, name) + f_len(2, f_len(1, tensor_type))


# ------------------------------------------------------------------------------------------- graph

class Graph:
    def __init__(self):
        self.nodes = []
        self.inits = []
        self.names = set()
        self.consts = {}
        self.count = 0

    def _fresh(self, hint):
        self.count += 1
        return "%s_%d" % (hint, self.count)

    def init(self, name, dims, data, dtype=FLOAT):
        """An initializer from an array('f') / array('q') (or raw little-endian bytes)."""
        if name in self.names:
            raise ValueError("duplicate initializer " + name)
        self.names.add(name)
        raw = data if isinstance(data, (bytes, bytearray)) else data.tobytes()
        size = 4 if dtype == FLOAT else 8
        if len(raw) != math.prod(dims) * size:
            raise ValueError("initializer %s: %d bytes for dims %s" % (name, len(raw), dims))
        self.inits.append(tensor_proto(name, dtype, dims, bytes(raw)))
        return name

    def ints(self, values):
        """A constant 1-D int64 tensor (shared between nodes)."""
        key = ("i",) + tuple(values)
        if key not in self.consts:
            self.consts[key] = self.init(self._fresh("const_i64"), [len(values)], array("q", values), INT64)
        return self.consts[key]

    def scalar_int(self, value):
        key = ("s", value)
        if key not in self.consts:
            self.consts[key] = self.init(self._fresh("const_idx"), [], array("q", [value]), INT64)
        return self.consts[key]

    def scalar(self, value):
        key = ("f", value)
        if key not in self.consts:
            self.consts[key] = self.init(self._fresh("const_f32"), [], array("f", [value]))
        return self.consts[key]

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self._fresh(hint or op_type.lower())
        self.nodes.append(node_proto(op_type, inputs, [out], out + "_node", attrs))
        return out

    def model(self, input_dims, output_dims):
        graph = b"".join(
            [f_len(1, n) for n in self.nodes]
            + [f_str(2, "swin")]
            + [f_len(5, t) for t in self.inits]
            + [f_len(11, value_info("images", FLOAT, input_dims))]
            + [f_len(12, value_info("logits", FLOAT, output_dims))])
        opset = f_str(1, "") + f_int(2, OPSET)
        # ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
        return f_int(1, IR_VERSION) + f_str(2, "sparsevit-j swin_to_onnx.py") + f_str(3, "1") + f_len(7, graph) \
            + f_len(8, opset)


# ------------------------------------------------------------------------------------------- weights

def read_safetensors(path):
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ConvertError("%s: cannot read (%s)" % (path, e.strerror or e))
    if len(blob) < 8:
        raise ConvertError("%s: file is %d bytes, too short for a safetensors header" % (path, len(blob)))
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ConvertError("%s: header length %d does not fit in the file (%d bytes)" % (path, n, len(blob)))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ConvertError("%s: header is not valid JSON (%s)" % (path, e))
    if not isinstance(header, dict):
        raise ConvertError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (lo, hi) = info["dtype"], [int(d) for d in info["shape"]], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConvertError("%s: tensor '%s': malformed header entry %r" % (path, name, info))
        if dtype not in ("F32", "F16", "BF16"):
            if is_derived(name):
                continue
            raise ConvertError("%s: tensor '%s': unsupported dtype %s (F32, F16 and BF16 are supported)"
                               % (path, name, dtype))
        if not 0 <= lo <= hi <= len(data):
            raise ConvertError("%s: tensor '%s': data offsets [%d, %d) extend past the end of the data section"
                               " (%d bytes)" % (path, name, lo, hi, len(data)))
        size = 4 if dtype == "F32" else 2
        if hi - lo != math.prod(shape) * size:
            raise ConvertError("%s: tensor '%s': data offsets [%d, %d) hold %d bytes but %s %s needs %d"
                               % (path, name, lo, hi, hi - lo, dtype, shape, math.prod(shape) * size))
        tensors[name] = (dtype, shape, data[lo:hi])
    return tensors, meta


def is_derived(name):
    return name.endswith(("relative_position_index", "attn_mask", "num_batches_tracked"))


def to_f32(dtype, raw):
    """array('f') from little-endian F32 / F16 / BF16 bytes."""
    a = array("f")
    if dtype == "F32":
        a.frombytes(raw)
    elif dtype == "F16":
        a.extend(struct.unpack("<%de" % (len(raw) // 2), raw))
    else:  # BF16: the high half of a float32
        b = bytearray(2 * len(raw))
        b[2::4] = raw[0::2]
        b[3::4] = raw[1::2]
        a.frombytes(bytes(b))
    return a


class Weights:
    def __init__(self, path, tensors):
        self.path = path
        self.t = tensors
        self.used = set()

    def shape(self, name):
        return self.t[name][1] if name in self.t else None

    def get(self, name, shape):
        if name not in self.t:
            raise ConvertError("%s: missing tensor '%s'" % (self.path, name))
        dtype, got, raw = self.t[name]
        if list(got) != list(shape):
            raise ConvertError("%s: %s is %s, expected %s" % (self.path, name, got, list(shape)))
        self.used.add(name)
        return to_f32(dtype, raw)

    def transposed(self, name, rows, cols):
        """A [rows, cols] weight as its [cols, rows] transpose (for x @ W^T as MatMul(x, W^T))."""
        w = self.get(name, [rows, cols])
        t = array("f")
        for j in range(cols):
            t.extend(w[j::cols])
        return t


def infer_config(path, w, meta):
    """The architecture from the shapes, as SparseViT-J's loader infers it."""
    names = set(w.t)
    if "patch_embed.proj.weight" not in names:
        first = sorted(names)[:5]
        hint = ""
        if any(n.startswith(("stages.", "backbone.")) or "w_msa" in n for n in names):
            hint = " (an mmdet/SparseViT checkpoint: only Swin classifiers in the Microsoft layout are supported)"
        raise ConvertError("%s: no patch_embed.proj.weight; this is not a Swin checkpoint in the Microsoft layout"
                           " (first keys: %s)%s" % (path, first, hint))
    if "head.weight" not in names:
        hint = " (timm names the head head.fc; save it under head.weight)" if "head.fc.weight" in names else ""
        raise ConvertError("%s: no head.weight: only Swin classifiers are supported, not backbones%s" % (path, hint))
    pe = w.shape("patch_embed.proj.weight")
    if len(pe) != 4 or pe[2] != pe[3]:
        raise ConvertError("%s: patch_embed.proj.weight is %s; expected [C, in_chans, patch, patch]" % (path, pe))
    embed, in_chans, patch = pe[0], pe[1], pe[2]
    depths, heads = [], []
    s = 0
    while any(n.startswith("layers.%d.blocks." % s) for n in names):
        d = 0
        while any(n.startswith("layers.%d.blocks.%d." % (s, d)) for n in names):
            d += 1
        depths.append(d)
        table = w.shape("layers.%d.blocks.0.attn.relative_position_bias_table" % s)
        if table is None:
            raise ConvertError("%s: missing tensor 'layers.%d.blocks.0.attn.relative_position_bias_table'" % (path, s))
        heads.append(table[1])
        s += 1
    if not depths:
        raise ConvertError("%s: no blocks found (expected keys like layers.0.blocks.0.norm1.weight)" % path)
    side = int(round(math.sqrt(w.shape("layers.0.blocks.0.attn.relative_position_bias_table")[0])))
    window = (side + 1) // 2
    fc1 = w.shape("layers.0.blocks.0.mlp.fc1.weight")
    if fc1 is None:
        raise ConvertError("%s: missing tensor 'layers.0.blocks.0.mlp.fc1.weight'" % path)
    mlp = fc1[0] // embed
    classes = w.shape("head.weight")[0]
    fmt = str(meta.get("format", "")).strip().lower()
    if fmt in ("swin-backbone", "sparsevit-mmdet"):
        raise ConvertError("%s: __metadata__ format is %s; only Swin classifiers are supported" % (path, fmt))
    eps = float(meta.get("layer_norm_eps", 1e-5))
    img = int(float(meta.get("img_size", 384 if window == 12 else 224)))
    return dict(embed=embed, in_chans=in_chans, patch=patch, depths=depths, heads=heads, window=window, mlp=mlp,
                classes=classes, eps=eps, img=img)


# ------------------------------------------------------------------------------------------- model

def build(w, cfg, batch, height, width):
    g = Graph()
    b = batch
    eps = cfg["eps"]
    p = cfg["patch"]
    c = cfg["embed"]

    def layer_norm(x, prefix, dim):
        gamma = g.init(prefix + ".weight", [dim], w.get(prefix + ".weight", [dim]))
        beta = g.init(prefix + ".bias", [dim], w.get(prefix + ".bias", [dim]))
        return g.op("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)

    def linear(x, prefix, n_in, n_out, bias=True):
        wt = g.init(prefix + ".weight", [n_in, n_out], w.transposed(prefix + ".weight", n_out, n_in))
        y = g.op("MatMul", [x, wt])
        if bias:
            y = g.op("Add", [y, g.init(prefix + ".bias", [n_out], w.get(prefix + ".bias", [n_out]))])
        return y

    def slice_(x, axis, lo, hi):
        return g.op("Slice", [x, g.ints([lo]), g.ints([hi]), g.ints([axis])])

    def roll(x, shift, sizes):
        """torch.roll(x, (shift, shift), dims=(1, 2)): out[i] = x[(i - shift) mod size] on axes 1 and 2."""
        for axis, size in zip((1, 2), sizes):
            k = shift % size
            x = g.op("Concat", [slice_(x, axis, size - k, size), slice_(x, axis, 0, size - k)], axis=axis)
        return x

    # patch embedding: [B, 3, H, W] -> [B, h, w, C]
    x = "images"
    h, wd = -(-height // p), -(-width // p)
    if h * p != height or wd * p != width:
        x = g.op("Pad", [x, g.ints([0, 0, 0, 0, 0, 0, h * p - height, wd * p - width])], mode="constant")
    pw = g.init("patch_embed.proj.weight", [c, cfg["in_chans"], p, p],
                w.get("patch_embed.proj.weight", [c, cfg["in_chans"], p, p]))
    pb = g.init("patch_embed.proj.bias", [c], w.get("patch_embed.proj.bias", [c]))
    x = g.op("Conv", [x, pw, pb], kernel_shape=[p, p], strides=[p, p])
    x = g.op("Transpose", [x], perm=[0, 2, 3, 1])
    x = layer_norm(x, "patch_embed.norm", c)

    tw = 2 * cfg["window"] - 1
    for s, depth in enumerate(cfg["depths"]):
        dim = c << s
        heads = cfg["heads"][s]
        if dim % heads:
            raise ConvertError("%s: stage %d: width %d does not divide by %d heads" % (w.path, s, dim, heads))
        hd = dim // heads
        hidden = dim * cfg["mlp"]
        # the window grid: the Microsoft classifier uses one window of min(h, w) and no shift on small stages
        ws, shift = cfg["window"], cfg["window"] // 2
        if min(h, wd) <= ws:
            ws, shift = min(h, wd), 0
        hp, wp = -(-h // ws) * ws, -(-wd // ws) * ws
        nwh, nww = hp // ws, wp // ws
        nw, n = nwh * nww, ws * ws
        for j in range(depth):
            pre = "layers.%d.blocks.%d." % (s, j)
            sh = shift if j % 2 == 1 else 0
            # relative position bias [heads, N, N], gathered here from the table (window ws inside a
            # table made for the model's window: a clamped window reads the table's centre)
            table = w.get(pre + "attn.relative_position_bias_table", [tw * tw, heads])
            bw = cfg["window"]
            bias = array("f", bytes(4 * heads * n * n))
            for q in range(n):
                for k in range(n):
                    row = (q // ws - k // ws + bw - 1) * tw + (q % ws - k % ws + bw - 1)
                    for hh in range(heads):
                        bias[(hh * n + q) * n + k] = table[row * heads + hh]
            shortcut = x
            t = layer_norm(x, pre + "norm1", dim)
            if hp != h or wp != wd:
                t = g.op("Pad", [t, g.ints([0, 0, 0, 0, 0, hp - h, wp - wd, 0])], mode="constant")
            if sh:
                t = roll(t, -sh, (hp, wp))
            t = g.op("Reshape", [t, g.ints([b, nwh, ws, nww, ws, dim])])
            t = g.op("Transpose", [t], perm=[0, 1, 3, 2, 4, 5])
            t = g.op("Reshape", [t, g.ints([b * nw, n, dim])])
            qkv = linear(t, pre + "attn.qkv", dim, 3 * dim)
            qkv = g.op("Reshape", [qkv, g.ints([b * nw, n, 3, heads, hd])])
            qkv = g.op("Transpose", [qkv], perm=[2, 0, 3, 1, 4])  # [3, B*nW, heads, N, d]
            q_ = g.op("Gather", [qkv, g.scalar_int(0)], axis=0)
            k_ = g.op("Gather", [qkv, g.scalar_int(1)], axis=0)
            v_ = g.op("Gather", [qkv, g.scalar_int(2)], axis=0)
            q_ = g.op("Mul", [q_, g.scalar(1.0 / math.sqrt(hd))])
            a = g.op("MatMul", [q_, g.op("Transpose", [k_], perm=[0, 1, 3, 2])])
            a = g.op("Add", [a, g.init(pre + "attn.relative_position_bias", [heads, n, n], bias)])
            if sh:
                a = g.op("Reshape", [a, g.ints([b, nw, heads, n, n])])
                a = g.op("Add", [a, g.init(pre + "attn.mask", [nw, 1, n, n], shift_mask(hp, wp, ws, sh))])
                a = g.op("Reshape", [a, g.ints([b * nw, heads, n, n])])
            a = g.op("Softmax", [a], axis=-1)
            o = g.op("MatMul", [a, v_])
            o = g.op("Transpose", [o], perm=[0, 2, 1, 3])
            o = g.op("Reshape", [o, g.ints([b * nw, n, dim])])
            o = linear(o, pre + "attn.proj", dim, dim)
            o = g.op("Reshape", [o, g.ints([b, nwh, nww, ws, ws, dim])])
            o = g.op("Transpose", [o], perm=[0, 1, 3, 2, 4, 5])
            o = g.op("Reshape", [o, g.ints([b, hp, wp, dim])])
            if sh:
                o = roll(o, sh, (hp, wp))
            if hp != h:
                o = slice_(o, 1, 0, h)
            if wp != wd:
                o = slice_(o, 2, 0, wd)
            x = g.op("Add", [shortcut, o])
            t = layer_norm(x, pre + "norm2", dim)
            t = linear(t, pre + "mlp.fc1", dim, hidden)
            # exact GELU: x * 0.5 * (1 + erf(x / sqrt(2)))
            e = g.op("Erf", [g.op("Div", [t, g.scalar(math.sqrt(2.0))])])
            t = g.op("Mul", [g.op("Mul", [t, g.op("Add", [e, g.scalar(1.0)])]), g.scalar(0.5)])
            t = linear(t, pre + "mlp.fc2", hidden, dim)
            x = g.op("Add", [x, t])
        if s < len(cfg["depths"]) - 1:
            # patch merging: pad to even, [B, h2, 2, w2, 2, C] -> [B, h2, w2, dx, dy, C]: the concat order
            # (0,0), (1,0), (0,1), (1,1) of (dy, dx) -> 4C -> LayerNorm -> Linear(4C, 2C) without bias
            pre = "layers.%d.downsample." % s
            h2, w2 = -(-h // 2), -(-wd // 2)
            if h2 * 2 != h or w2 * 2 != wd:
                x = g.op("Pad", [x, g.ints([0, 0, 0, 0, 0, 2 * h2 - h, 2 * w2 - wd, 0])], mode="constant")
            x = g.op("Reshape", [x, g.ints([b, h2, 2, w2, 2, dim])])
            x = g.op("Transpose", [x], perm=[0, 1, 3, 4, 2, 5])
            x = g.op("Reshape", [x, g.ints([b, h2, w2, 4 * dim])])
            x = layer_norm(x, pre + "norm", 4 * dim)
            x = linear(x, pre + "reduction", 4 * dim, 2 * dim, bias=False)
            h, wd = h2, w2

    # head: LayerNorm, mean over tokens, Linear
    cf = c << (len(cfg["depths"]) - 1)
    x = layer_norm(x, "norm", cf)
    x = g.op("ReduceMean", [x], axes=[1, 2], keepdims=0)
    hw_ = g.init("head.weight", [cfg["classes"], cf], w.get("head.weight", [cfg["classes"], cf]))
    hb = g.init("head.bias", [cfg["classes"]], w.get("head.bias", [cfg["classes"]]))
    out = g.op("Gemm", [x, hw_, hb], transB=1)
    g.nodes.append(node_proto("Identity", [out], ["logits"], "logits_node", {}))
    unused = sorted(set(n for n in w.t if not is_derived(n)) - w.used)
    if unused:
        raise ConvertError("%s: %d unexpected tensors for %s (%s)" % (w.path, len(unused), describe(cfg),
                                                                       ", ".join(unused[:10])))
    return g.model([b, cfg["in_chans"], height, width], [b, cfg["classes"]])


def shift_mask(hp, wp, ws, shift):
    """[nW, 1, N, N]: 0 within a region of the rolled padded map, -100 across regions."""
    def band(i, size):
        return 0 if i < size - ws else (1 if i < size - shift else 2)

    nww = wp // ws
    nw = (hp // ws) * nww
    n = ws * ws
    m = array("f", bytes(4 * nw * n * n))
    for win in range(nw):
        r0, c0 = (win // nww) * ws, (win % nww) * ws
        region = [band(r0 + t // ws, hp) * 3 + band(c0 + t % ws, wp) for t in range(n)]
        base = win * n * n
        for q in range(n):
            for k in range(n):
                if region[q] != region[k]:
                    m[base + q * n + k] = -100.0
    return m


def expected_names(cfg):
    names = ["patch_embed.proj.weight", "patch_embed.proj.bias", "patch_embed.norm.weight", "patch_embed.norm.bias"]
    for s, depth in enumerate(cfg["depths"]):
        for j in range(depth):
            pre = "layers.%d.blocks.%d." % (s, j)
            for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
                names += [pre + part + ".weight", pre + part + ".bias"]
            names.append(pre + "attn.relative_position_bias_table")
        if s < len(cfg["depths"]) - 1:
            pre = "layers.%d.downsample." % s
            names += [pre + "norm.weight", pre + "norm.bias", pre + "reduction.weight"]
    return names + ["norm.weight", "norm.bias", "head.weight", "head.bias"]


def describe(cfg):
    return "Swin C=%d depths=%s heads=%s window=%d classifier(%d)" % (
        cfg["embed"], cfg["depths"], cfg["heads"], cfg["window"], cfg["classes"])


def main(argv=None):
    ap = argparse.ArgumentParser(description="Swin classifier (safetensors) to ONNX, stdlib only.")
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--size", help="input HxW (default: img_size of the metadata, else 224, 384 for window 12)")
    ap.add_argument("--batch", type=int, default=1, help="fixed batch size (default 1)")
    a = ap.parse_args(argv)
    try:
        if sys.byteorder != "little":
            raise ConvertError("this script writes little-endian tensors and needs a little-endian machine")
        if a.batch <= 0:
            raise ConvertError("--batch must be positive, got %d" % a.batch)
        tensors, meta = read_safetensors(a.weights)
        w = Weights(a.weights, tensors)
        cfg = infer_config(a.weights, w, meta)
        missing = [n for n in expected_names(cfg) if n not in tensors]
        if missing:
            raise ConvertError("%s: weights do not match %s: %d missing keys (%s)" % (
                a.weights, describe(cfg), len(missing), ", ".join(missing[:20])
                + (", ... and %d more" % (len(missing) - 20) if len(missing) > 20 else "")))
        if a.size:
            try:
                height, width = (int(v) for v in a.size.lower().split("x"))
                if height <= 0 or width <= 0:
                    raise ValueError
            except ValueError:
                raise ConvertError("--size '%s' is not HxW with positive integers (e.g. 224x224)" % a.size)
        else:
            height = width = cfg["img"]
        model = build(w, cfg, a.batch, height, width)
        with open(a.out, "wb") as f:
            f.write(model)
    except ConvertError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:
        print("error: %s: %s" % (a.out, e.strerror or e), file=sys.stderr)
        return 1
    print("wrote %s: %s, input [%d, %d, %d, %d], %.1f MB" % (a.out, describe(cfg), a.batch, cfg["in_chans"],
                                                              height, width, len(model) / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())

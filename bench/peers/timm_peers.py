#!/usr/bin/env python3
"""Peers for the SparseViT-J benchmark, run on the GPU machine (PyTorch + timm installed there).

Rows use the same fields as `sparsevit bench --json` plus "impl" (and "compile_s" for compiled models):
  timm-eager / timm-compile      timm's Swin (classifier at 224; features_only backbone at 672x672, 256x704,
                                 1024x2048: timm's backbone has no per-stage output norms, ours has four)
  pytorch-sparsevit-eager        SparseViT-style pruning in PyTorch eager: per stage the windows are scored once
                                 (L2 over the window of the per-token mean |x|), sorted once per grid parity, and
                                 each block gathers its kept windows, runs LN/attention/MLP on them and scatters
                                 them back, as the official implementation does (output norms, patch merging in
                                 nn.Unfold's channel order, every odd block on the shifted grid).
Latency: CUDA events around each forward, after warm-up; p50/p90/p99 over --iters passes, each pass waited for.
Weights are random (timm's init); only timing matters. GMACs are left 0: the report takes ours for the same case.
The SparseViT baseline computes what the official implementation computes: --check-reference DIR runs it in float64
with the weights and inputs of shared/fixtures/sparsevit-reference (made with the official code) and compares the
outputs and every kept list (peers-meta.json, reference_check). --device cpu rehearses the script without a GPU.

Cases run in priority order (the targets' cases first). Every case is tried on its own (a failure is logged as
FAILED and the next case runs), rows are written to --out after every case, and no case starts when fewer
than its expected seconds are left before --deadline-s (logged as SKIPPED), so a time limit keeps what was done.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

PAPER = {
    "paper-1": [[0.3, 0.3], [0, 0], [0.1, 0.1, 0.2, 0.2, 0.2, 0.2], [0, 0]],
    "paper-2": [[0.6, 0.6], [0, 0], [0.2, 0.2, 0.4, 0.4, 0.5, 0.5], [0, 0]],
    "paper-3": [[0.7, 0.7], [0, 0], [0.2, 0.2, 0.4, 0.4, 0.5, 0.5], [0, 0]],
}
DEPTHS = (2, 2, 6, 2)
TIMM = {"swin-t": "swin_tiny_patch4_window7_224", "swin-s": "swin_small_patch4_window7_224",
        "swin-b": "swin_base_patch4_window7_224"}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def ratios_of(name):
    if name == "dense":
        return [[0.0] * d for d in DEPTHS]
    if name.startswith("uniform:"):
        return [[float(name[8:])] * d for d in DEPTHS]
    return PAPER[name]


def timed(fn, iters, warmup, cuda=True):
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    ms = []
    for _ in range(iters):
        if cuda:
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            ms.append(a.elapsed_time(b))
        else:  # the CPU rehearsal (--device cpu): wall clock
            t = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - t) * 1000.0)
    ms.sort()

    def pct(p):
        pos = p / 100 * (len(ms) - 1)
        lo = int(math.floor(pos))
        hi = min(len(ms) - 1, lo + 1)
        return ms[lo] + (pos - lo) * (ms[hi] - ms[lo])

    return pct(50), pct(90), pct(99), sum(ms) / len(ms), len(ms)


def row(impl, arch, task, size, batch, precision, sparsity, stats, device, backend="cuda", **extra):
    p50, p90, p99, mean, n = stats
    r = {"impl": impl, "arch": arch, "task": task, "size": size, "batch": batch, "precision": precision,
         "backend": backend, "device": device, "sparsity": sparsity, "gmacs": 0.0, "p50_ms": round(p50, 4),
         "p90_ms": round(p90, 4), "p99_ms": round(p99, 4), "mean_ms": round(mean, 4),
         "images_per_s": round(batch * 1000.0 / p50, 2), "iters": n}
    r.update(extra)
    return r


# ----------------------------------------------------------------------------- SparseViT-style pruned Swin

class PrunedSwin(torch.nn.Module):
    """A Swin backbone whose blocks run only their kept windows (gather / compute / scatter)."""

    def __init__(self, dim=96, depths=DEPTHS, heads=(3, 6, 12, 24), window=7):
        super().__init__()
        self.window, self.depths, self.heads = window, depths, heads
        self.embed = torch.nn.Conv2d(3, dim, 4, 4)
        self.embed_norm = torch.nn.LayerNorm(dim)
        self.blocks = torch.nn.ModuleList()
        self.merges = torch.nn.ModuleList()
        self.norms = torch.nn.ModuleList()
        for s, d in enumerate(depths):
            c = dim * 2 ** s
            stage = torch.nn.ModuleList()
            for _ in range(d):
                blk = torch.nn.Module()
                blk.norm1 = torch.nn.LayerNorm(c)
                blk.qkv = torch.nn.Linear(c, 3 * c)
                blk.proj = torch.nn.Linear(c, c)
                blk.norm2 = torch.nn.LayerNorm(c)
                blk.fc1 = torch.nn.Linear(c, 4 * c)
                blk.fc2 = torch.nn.Linear(4 * c, c)
                blk.table = torch.nn.Parameter(torch.randn((2 * window - 1) ** 2, heads[s]) * 0.02)
                stage.append(blk)
            self.blocks.append(stage)
            self.norms.append(torch.nn.LayerNorm(c))
            if s < len(depths) - 1:
                m = torch.nn.Module()
                m.norm = torch.nn.LayerNorm(4 * c)
                m.reduction = torch.nn.Linear(4 * c, 2 * c, bias=False)
                self.merges.append(m)
        w = window
        coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (w - 1)
        self.register_buffer("rel_index", (rel[..., 0] * (2 * w - 1) + rel[..., 1]).flatten(), persistent=False)
        self._masks = {}

    def mask(self, hp, wp, shift, device):
        """The shifted-window mask [nW, N, N] of a padded grid (computed once per stage geometry, as Swin does)."""
        key = (hp, wp, shift, str(device))
        if key not in self._masks:
            ws = self.window
            img = torch.zeros(hp, wp, device=device)
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img[hs, wsl] = cnt
                    cnt += 1
            lab = img.view(hp // ws, ws, wp // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
            self._masks[key] = (lab[:, :, None] != lab[:, None, :]).float() * -100.0
        return self._masks[key]

    def windows(self, x, h, w, shift):
        """[B, H, W, C] -> padded, rolled, partitioned [B, nW, N, C], the mask [nW, N, N] (or None), padded size."""
        ws = self.window
        hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
        x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        mask = None
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
            mask = self.mask(hp, wp, shift, x.device)
        b, c = x.shape[0], x.shape[-1]
        t = x.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, -1, ws * ws, c)
        return t, mask, hp, wp

    def unwindows(self, t, b, h, w, hp, wp, shift, c):
        ws = self.window
        x = t.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
        if shift:
            x = torch.roll(x, (shift, shift), (1, 2))
        return x[:, :h, :w].contiguous()

    def block(self, blk, t, mask, heads):
        """One Swin block on a window tile t [B, k, N, C]; mask [B, k, N, N] or None."""
        b, k, n, c = t.shape
        y = blk.norm1(t)
        qkv = blk.qkv(y).view(b * k, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        bias = blk.table[self.rel_index].view(n, n, heads).permute(2, 0, 1)
        attn_mask = bias[None]
        if mask is not None:
            attn_mask = attn_mask + mask.reshape(b * k, 1, n, n)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask.to(qkv.dtype))
        t = t + blk.proj(o.transpose(1, 2).reshape(b, k, n, c))
        return t + blk.fc2(F.gelu(blk.fc1(blk.norm2(t))))

    def forward(self, img, ratios, trace=None):
        """The four stage outputs [B, C, H, W]; trace (a list), when given, gets (stage, block, kept [B, k]) of every
        block that ran a kept list."""
        img = F.pad(img, (0, -img.shape[3] % 4, 0, -img.shape[2] % 4))
        x = self.embed_norm(self.embed(img).permute(0, 2, 3, 1))
        outs = []
        for s, stage in enumerate(self.blocks):
            b, h, w, c = x.shape
            act = None
            lists = {}
            for j, blk in enumerate(stage):
                # as the official (mmdet) SparseViT: odd blocks always shift, even where one window covers the stage
                shift = self.window // 2 if j % 2 else 0
                t, mask, hp, wp = self.windows(x, h, w, shift)
                nw = t.shape[1]
                r = ratios[s][j]
                if act is None and r > 0:
                    act = x.abs().mean(-1, keepdim=True)  # importance once per stage, at its first pruned block
                if act is None:
                    m = None if mask is None else mask.unsqueeze(0).expand(b, -1, -1, -1)
                    t = self.block(blk, t, m, self.heads[s])
                else:
                    if j % 2 not in lists:
                        a, _, _, _ = self.windows(act, h, w, shift)
                        lists[j % 2] = a.squeeze(-1).norm(dim=-1).argsort(dim=1, descending=True, stable=True)
                    k = int(nw * (1.0 - r))
                    idx = lists[j % 2][:, :k]
                    if trace is not None:
                        trace.append((s, j, idx))
                    if k > 0:
                        ix = idx[:, :, None, None].expand(-1, -1, t.shape[2], c)
                        g = torch.gather(t, 1, ix)
                        m = None if mask is None else mask[idx]
                        g = self.block(blk, g, m, self.heads[s])
                        t = t.scatter(1, ix, g)
                x = self.unwindows(t, b, h, w, hp, wp, shift, c)
            outs.append(self.norms[s](x).permute(0, 3, 1, 2))
            if s < len(self.merges):
                x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
                # 2x2 neighbourhoods in nn.Unfold's channel-major order, as the official SparseViT's PatchMerging
                b2, h2, w2 = x.shape[0], x.shape[1] // 2, x.shape[2] // 2
                x = x.view(b2, h2, 2, w2, 2, c).permute(0, 1, 3, 5, 2, 4).reshape(b2, h2, w2, 4 * c)
                x = self.merges[s].reduction(self.merges[s].norm(x))
        return outs


# ----------------------------------------------------------------------------- check against the official code

def read_safetensors(path):
    """{name: float32 tensor} of a safetensors file (F32 only), read without the safetensors package."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if e["dtype"] != "F32":
            raise ValueError("%s: dtype %s, expected F32" % (name, e["dtype"]))
        lo, hi = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[base + lo:base + hi]), dtype=torch.float32).reshape(e["shape"])
    return out, header.get("__metadata__", {})


def read_npy(path):
    """A little-endian float32 C-order .npy file as a tensor, read without numpy."""
    import ast
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise ValueError("%s: not a .npy file" % path)
    if data[6] == 1:
        n, off = struct.unpack("<H", data[8:10])[0], 10
    else:
        n, off = struct.unpack("<I", data[8:12])[0], 12
    h = ast.literal_eval(data[off:off + n].decode("latin1"))
    if h["descr"] != "<f4" or h["fortran_order"]:
        raise ValueError("%s: %s, expected little-endian float32 in C order" % (path, h))
    return torch.frombuffer(bytearray(data[off + n:]), dtype=torch.float32).reshape(h["shape"])


def load_reference_model(weights):
    """PrunedSwin with the weights of the official SparseViT fixture (mmdet parameter names)."""
    t, meta = read_safetensors(weights)
    dim = int(meta.get("embed_dim", 32))
    depths = tuple(json.loads(meta.get("depths", "[2, 2, 4, 2]")))
    heads = tuple(json.loads(meta.get("num_heads", "[1, 2, 4, 8]")))
    window = int(meta.get("window_size", 7))
    m = PrunedSwin(dim, depths, heads, window)
    sd = {"embed.weight": "patch_embed.projection.weight", "embed.bias": "patch_embed.projection.bias",
          "embed_norm.weight": "patch_embed.norm.weight", "embed_norm.bias": "patch_embed.norm.bias"}
    blk = {"norm1": "norm1", "qkv": "attn.w_msa.qkv", "proj": "attn.w_msa.proj", "norm2": "norm2",
           "fc1": "ffn.layers.0.0", "fc2": "ffn.layers.1"}
    for s, d in enumerate(depths):
        for b in range(d):
            for ours, theirs in blk.items():
                for p in ("weight", "bias"):
                    sd["blocks.%d.%d.%s.%s" % (s, b, ours, p)] = "stages.%d.blocks.%d.%s.%s" % (s, b, theirs, p)
            sd["blocks.%d.%d.table" % (s, b)] = "stages.%d.blocks.%d.attn.w_msa.relative_position_bias_table" % (s, b)
        for p in ("weight", "bias"):
            sd["norms.%d.%s" % (s, p)] = "norm%d.%s" % (s, p)
        if s < len(depths) - 1:
            for p in ("weight", "bias"):
                sd["merges.%d.norm.%s" % (s, p)] = "stages.%d.downsample.norm.%s" % (s, p)
            sd["merges.%d.reduction.weight" % s] = "stages.%d.downsample.reduction.weight" % s
    ours = dict(m.named_parameters())
    if set(ours) != set(sd) or set(sd.values()) != set(t):
        raise ValueError("parameter names differ: ours without theirs %s, theirs unused %s"
                         % (sorted(set(ours) - set(sd))[:5], sorted(set(t) - set(sd.values()))[:5]))
    with torch.no_grad():
        for name, p in ours.items():
            src = t[sd[name]]
            if tuple(src.shape) != tuple(p.shape):
                raise ValueError("%s: shape %s, ours %s" % (sd[name], tuple(src.shape), tuple(p.shape)))
            p.copy_(src)
    return m


def check_reference(folder, tol=1e-4):
    """Runs PrunedSwin in float64 on the CPU with the weights and inputs of the official SparseViT fixture
    (shared/fixtures/sparsevit-reference) and compares the four outputs and every kept list with the ones the
    official code produced. Returns a summary dict; "ok" is true when all outputs are within tol and all kept lists
    are equal."""
    m = load_reference_model(os.path.join(folder, "sparsevit-mini.safetensors")).double().eval()
    names = sorted(f[:-len(".sparsity.json")] for f in os.listdir(folder) if f.endswith(".sparsity.json"))
    if not names:
        raise ValueError("%s: no *.sparsity.json cases" % folder)
    result = {"fixture": os.path.basename(os.path.normpath(folder)), "cases": {}, "tolerance": tol}
    ok = True
    for name in names:
        base = os.path.join(folder, name)
        with open(base + ".sparsity.json") as f:
            ratios = json.load(f)["stages"]
        with open(base + ".kept.json") as f:
            kept = json.load(f)
        trace = []
        with torch.no_grad():
            outs = m(read_npy(base + ".input.npy").double(), ratios, trace)
        diffs = [float((o - read_npy("%s.out%d.npy" % (base, i)).double()).abs().max()) for i, o in enumerate(outs)]
        want = {(st["stage"], bl["block"]): bl["kept"] for st in kept["stages"] for bl in st["blocks"] if bl["pruned"]}
        got = {(s_, j): idx.tolist() for s_, j, idx in trace}
        same = want == got
        ok = ok and same and max(diffs) <= tol
        result["cases"][name] = {"max_abs_diff": [float("%.3g" % d) for d in diffs], "kept_lists": len(want),
                                 "kept_equal": same}
    result["ok"] = ok
    return result


# ----------------------------------------------------------------------------- cases

def cases(include_compile):
    """(impl, arch, task, size, batch, precision, sparsity) in priority order: the targets' cases first."""
    out = []
    add = out.append
    all_sp = ["dense", "uniform:0.3", "uniform:0.5", "uniform:0.6", "uniform:0.8", "paper-1", "paper-2", "paper-3"]
    add(("timm-eager", "swin-t", "backbone", "672x672", 4, "fp16", "dense"))
    if include_compile:
        add(("timm-compile", "swin-t", "backbone", "672x672", 4, "fp16", "dense"))
    for sp in ["dense", "uniform:0.6", "paper-3"]:
        add(("pytorch-sparsevit-eager", "swin-t", "backbone", "672x672", 4, "fp16", sp))
    for b in (64, 1):
        add(("timm-eager", "swin-t", "classification", "224x224", b, "fp16", "dense"))
    add(("timm-eager", "swin-t", "backbone", "672x672", 4, "fp32", "dense"))
    for b in (64, 1):
        add(("timm-eager", "swin-t", "classification", "224x224", b, "fp32", "dense"))
    for sp in all_sp:
        if sp not in ("dense", "uniform:0.6", "paper-3"):
            add(("pytorch-sparsevit-eager", "swin-t", "backbone", "672x672", 4, "fp16", sp))
    if include_compile:
        for b in (64, 1):
            add(("timm-compile", "swin-t", "classification", "224x224", b, "fp16", "dense"))
    for size in ("256x704", "1024x2048"):
        add(("timm-eager", "swin-t", "backbone", size, 1, "fp16", "dense"))
        for sp in ["dense", "uniform:0.6", "paper-3"]:
            add(("pytorch-sparsevit-eager", "swin-t", "backbone", size, 1, "fp16", sp))
    for arch in ("swin-s", "swin-b"):
        add(("timm-eager", arch, "classification", "224x224", 64, "fp16", "dense"))
        add(("timm-eager", arch, "backbone", "672x672", 4, "fp16", "dense"))
    for sp in all_sp:
        add(("pytorch-sparsevit-eager", "swin-t", "backbone", "672x672", 4, "fp32", sp))
    if include_compile:
        add(("timm-compile", "swin-t", "backbone", "672x672", 4, "fp32", "dense"))
        for b in (64, 1):
            add(("timm-compile", "swin-t", "classification", "224x224", b, "fp32", "dense"))
        for arch in ("swin-s", "swin-b"):
            add(("timm-compile", arch, "classification", "224x224", 64, "fp16", "dense"))
            add(("timm-compile", arch, "backbone", "672x672", 4, "fp16", "dense"))
    for size in ("256x704", "1024x2048"):
        for b in (4, 8):
            add(("timm-eager", "swin-t", "backbone", size, b, "fp16", "dense"))
            for sp in ["dense", "uniform:0.6", "paper-3"]:
                add(("pytorch-sparsevit-eager", "swin-t", "backbone", size, b, "fp16", sp))
    return out


def case_key(impl, arch, task, size, batch, precision, sparsity):
    return (impl, arch, task, size, int(batch), precision, sparsity)


def timm_model(timm, arch, task, h, w):
    kw = {"pretrained": False}
    if task == "backbone":
        kw.update(features_only=True, img_size=(h, w))
    elif (h, w) != (224, 224):
        kw.update(img_size=(h, w))
    return timm.create_model(TIMM[arch], **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="peers.json")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--compile-mode", default="default", help="torch.compile mode (default, max-autotune, ...)")
    ap.add_argument("--deadline-s", type=float, default=0, help="start no case past this many seconds (0: none)")
    ap.add_argument("--compile-reserve-s", type=float, default=90,
                    help="seconds a torch.compile case needs at least (compilation included)")
    ap.add_argument("--only", default="", help="comma-separated impl names to run (default: all)")
    ap.add_argument("--skip-done", default="", metavar="PEERS_JSON",
                    help="a previous run's peers.json: its cases are not measured again (a later device call)")
    ap.add_argument("--cases", default="", metavar="REGEX",
                    help="run only the cases whose label (as logged, e.g. 'timm-eager swin-t backbone 672x672 b4 fp16 "
                         "dense') matches")
    ap.add_argument("--check-reference", default="", metavar="DIR",
                    help="first check the PyTorch SparseViT baseline against the official implementation's outputs "
                         "and kept windows (shared/fixtures/sparsevit-reference; float64 on the CPU, a few seconds); "
                         "the result goes into peers-meta.json as reference_check")
    ap.add_argument("--check-only", action="store_true", help="with --check-reference: only the check (exit 1 if off)")
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                    help="cpu: a rehearsal of this script without a GPU (wall-clock timing; rows say backend cpu)")
    args = ap.parse_args()
    t_start = time.time()
    import re
    import timm
    check = None
    if args.check_reference:  # first: it needs no GPU, and says so even where CUDA then fails
        t0 = time.time()
        try:
            check = check_reference(args.check_reference)
        except Exception as e:  # the check must not cost the timings
            check = {"ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:300]}
        check["seconds"] = round(time.time() - t0, 1)
        print("reference check:", json.dumps(check), file=sys.stderr, flush=True)
    on_gpu = args.device == "cuda"
    device_error = None
    if args.check_only:
        dev = "(not used: --check-only)"
    elif on_gpu:
        try:
            dev = torch.cuda.get_device_name(0)
        except Exception as e:  # written to peers-meta.json (with the check) before the script ends
            dev, device_error = "CUDA unusable", ("%s: %s" % (type(e).__name__, e))[:300]
    else:
        import platform
        dev = "CPU (%s, %d threads, PyTorch)" % (platform.processor() or platform.machine(), torch.get_num_threads())
    pattern = re.compile(args.cases) if args.cases else None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    meta = {"torch": torch.__version__, "timm": timm.__version__, "cuda": torch.version.cuda, "device": dev,
            "compile_mode": args.compile_mode, "iters": args.iters, "warmup": args.warmup,
            "note": "timm features_only backbones have no per-stage output norms; TF32 off for fp32"}
    if check is not None:
        meta["reference_check"] = check
    if device_error:
        meta["device_error"] = device_error
    meta_path = os.path.join(os.path.dirname(os.path.abspath(args.out)), "peers-meta.json")
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    print("peers:", json.dumps(meta), file=sys.stderr, flush=True)
    if args.check_only:
        sys.exit(0 if meta.get("reference_check", {}).get("ok") else 1)
    if device_error:
        print("error: CUDA is not usable from PyTorch:", device_error, file=sys.stderr)
        sys.exit(1)
    rows = []
    only = set(x for x in args.only.split(",") if x)
    longest = {}

    def save():
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rows, f, indent=1)
        os.replace(tmp, args.out)

    save()
    done = set()
    if args.skip_done:
        try:
            with open(args.skip_done) as f:
                prev = json.load(f)
            done = {case_key(r["impl"], r["arch"], r["task"], r["size"], r["batch"], r["precision"], r["sparsity"])
                    for r in (prev if isinstance(prev, list) else prev.get("rows", []))}
        except (OSError, ValueError, KeyError, TypeError) as e:
            print("note: --skip-done %s not read (%r): every case runs" % (args.skip_done, e), file=sys.stderr)
    pruned = {}
    with torch.inference_mode():
        for impl, arch, task, size, batch, prec, sp in cases(not args.no_compile):
            label = "%s %s %s %s b%d %s %s" % (impl, arch, task, size, batch, prec, sp)
            if (only and impl not in only) or (pattern and not pattern.search(label)):
                continue
            if case_key(impl, arch, task, size, batch, prec, sp) in done:
                print("DONE", label, "(in %s)" % args.skip_done, file=sys.stderr, flush=True)
                continue
            left = args.deadline_s - (time.time() - t_start) if args.deadline_s > 0 else float("inf")
            need = max(longest.get(impl, 5.0), args.compile_reserve_s if impl == "timm-compile" else 0)
            if left < need:
                print("SKIPPED", label, "(%.0f s left, needs about %.0f s)" % (left, need), file=sys.stderr, flush=True)
                continue
            h, w = (int(v) for v in size.split("x"))
            dtype = DTYPES[prec]
            t0 = time.time()
            try:
                x = torch.randn(batch, 3, h, w, device=args.device, dtype=dtype)
                extra = {}
                if impl == "pytorch-sparsevit-eager":
                    if arch != "swin-t":
                        raise ValueError("the PyTorch SparseViT baseline is Swin-T only")
                    key = prec
                    if key not in pruned:
                        pruned.clear()
                        pruned[key] = PrunedSwin().to(args.device).eval().to(dtype)
                    pm = pruned[key]
                    ratios = ratios_of(sp)
                    stats = timed(lambda: pm(x, ratios), args.iters, args.warmup, on_gpu)
                else:
                    m = timm_model(timm, arch, task, h, w).to(args.device).eval().to(dtype)
                    f = m
                    if impl == "timm-compile":
                        torch._dynamo.reset()
                        f = torch.compile(m, mode=args.compile_mode, dynamic=False)
                        tc = time.time()
                        f(x)
                        if on_gpu:
                            torch.cuda.synchronize()
                        extra["compile_s"] = round(time.time() - tc, 1)
                    stats = timed(lambda: f(x), args.iters, args.warmup, on_gpu)
                    del f, m
                rows.append(row(impl, arch, task, size, batch, prec, sp, stats, dev, args.device, **extra))
                save()
                print("ok", label, "p50 %.3f ms" % stats[0], extra or "", "(%.0f s)" % (time.time() - t0),
                      file=sys.stderr, flush=True)
            except Exception as e:  # record and go on: one failing peer must not lose the others
                print("FAILED", label, repr(e)[:300], file=sys.stderr, flush=True)
            finally:
                longest[impl] = max(longest.get(impl, 0), time.time() - t0)
                x = None
                if on_gpu:
                    torch.cuda.empty_cache()
    save()
    print("wrote", args.out, len(rows), "rows in %.0f s" % (time.time() - t_start), file=sys.stderr)


if __name__ == "__main__":
    main()

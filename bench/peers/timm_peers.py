#!/usr/bin/env python3
"""Peers for the SparseViT-J benchmark, run on the GPU machine (PyTorch + timm installed there).

Rows use the same fields as `sparsevit bench --json` plus "impl":
  timm-eager / timm-compile      timm's Swin (classifier at 224, features_only backbone at 672x672)
  pytorch-sparsevit-eager        SparseViT-style pruning in PyTorch eager: per stage the windows are scored
                                 once, sorted once, and each block gathers its kept windows (index_select),
                                 runs LN/attention/MLP on them and scatters them back (index_copy), as the
                                 official implementation does.
Latency: CUDA events around each forward, after warm-up; p50/p90/p99 over --iters passes.
Weights are random (timm's init); only timing matters here.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

PAPER = {
    "paper-1": [[0.3, 0.3], [0, 0], [0.1, 0.1, 0.2, 0.2, 0.2, 0.2], [0, 0]],
    "paper-2": [[0.6, 0.6], [0, 0], [0.2, 0.2, 0.4, 0.4, 0.5, 0.5], [0, 0]],
    "paper-3": [[0.7, 0.7], [0, 0], [0.2, 0.2, 0.4, 0.4, 0.5, 0.5], [0, 0]],
}


def timed(fn, iters, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ms = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ms.append(a.elapsed_time(b))
    ms.sort()

    def pct(p):
        pos = p / 100 * (len(ms) - 1)
        lo = int(math.floor(pos))
        hi = min(len(ms) - 1, lo + 1)
        return ms[lo] + (pos - lo) * (ms[hi] - ms[lo])

    return pct(50), pct(90), pct(99), sum(ms) / len(ms)


def row(impl, task, size, batch, precision, sparsity, stats, device):
    p50, p90, p99, mean = stats
    return {"impl": impl, "arch": "swin-t", "task": task, "size": size, "batch": batch, "precision": precision,
            "backend": "cuda", "device": device, "sparsity": sparsity, "gmacs": 0.0, "p50_ms": round(p50, 4),
            "p90_ms": round(p90, 4), "p99_ms": round(p99, 4), "mean_ms": round(mean, 4),
            "images_per_s": round(batch * 1000.0 / p50, 2), "iters": 0}


# ----------------------------------------------------------------------------- SparseViT-style pruned Swin-T

class PrunedSwin(torch.nn.Module):
    """A Swin-T backbone whose blocks run only their kept windows (gather / compute / scatter)."""

    def __init__(self, dim=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), window=7):
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

    def windows(self, x, h, w, shift):
        """[B, H, W, C] -> padded, rolled, partitioned [B, nW, N, C] and the mask [nW, N, N] (or None)."""
        ws = self.window
        hp, wp = math.ceil(h / ws) * ws, math.ceil(w / ws) * ws
        x = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
        mask = None
        if shift:
            x = torch.roll(x, (-shift, -shift), (1, 2))
            img = torch.zeros(hp, wp, device=x.device)
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img[hs, wsl] = cnt
                    cnt += 1
            lab = img.view(hp // ws, ws, wp // ws, ws).permute(0, 2, 1, 3).reshape(-1, ws * ws)
            mask = (lab[:, :, None] != lab[:, None, :]).float() * -100.0
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
        b, k, n, c = t.shape
        y = blk.norm1(t)
        qkv = blk.qkv(y).view(b * k, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        bias = blk.table[self.rel_index].view(n, n, heads).permute(2, 0, 1)
        attn_mask = bias[None]
        if mask is not None:
            attn_mask = attn_mask + mask.view(b * k, 1, n, n)
        o = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=attn_mask.to(qkv.dtype))
        t = t + blk.proj(o.transpose(1, 2).reshape(b, k, n, c))
        return t + blk.fc2(F.gelu(blk.fc1(blk.norm2(t))))

    def forward(self, img, ratios):
        x = self.embed_norm(self.embed(img).permute(0, 2, 3, 1))
        outs = []
        for s, stage in enumerate(self.blocks):
            b, h, w, c = x.shape
            act = None
            lists = {}
            for j, blk in enumerate(stage):
                shift = self.window // 2 if j % 2 else 0
                t, mask, hp, wp = self.windows(x, h, w, shift)
                nw = t.shape[1]
                r = ratios[s][j]
                if act is None and r > 0:
                    act = x.abs().mean(-1, keepdim=True)
                if act is None:
                    t = self.block(blk, t, None if mask is None else mask.repeat(b, 1, 1), self.heads[s])
                else:
                    if j % 2 not in lists:
                        a, _, _, _ = self.windows(act, h, w, shift)
                        lists[j % 2] = a.squeeze(-1).norm(dim=-1).argsort(dim=1, descending=True, stable=True)
                    k = int(nw * (1.0 - r))
                    if k > 0:
                        idx = lists[j % 2][:, :k]
                        g = torch.gather(t, 1, idx[:, :, None, None].expand(-1, -1, t.shape[2], c))
                        m = None if mask is None else mask[idx]
                        g = self.block(blk, g, m, self.heads[s])
                        t = t.scatter(1, idx[:, :, None, None].expand(-1, -1, t.shape[2], c), g)
                x = self.unwindows(t, b, h, w, hp, wp, shift, c)
            outs.append(self.norms[s](x).permute(0, 3, 1, 2))
            if s < len(self.merges):
                x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
                x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
                x = self.merges[s].reduction(self.merges[s].norm(x))
        return outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="peers.json")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    import timm
    dev = torch.cuda.get_device_name(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    rows = []

    def attempt(label, fn):
        try:
            rows.extend(fn())
            print("ok", label, file=sys.stderr)
        except Exception as e:  # record and go on: one failing peer must not lose the others
            print("FAILED", label, repr(e), file=sys.stderr)

    with torch.inference_mode():
        for prec, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
            for compiled in ((False, True) if not args.no_compile else (False,)):
                impl = "timm-compile" if compiled else "timm-eager"

                def cls_rows(dtype=dtype, compiled=compiled, impl=impl, prec=prec):
                    m = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).cuda().eval().to(dtype)
                    f = torch.compile(m) if compiled else m
                    out = []
                    for b in (1, 64):
                        x = torch.randn(b, 3, 224, 224, device="cuda", dtype=dtype)
                        out.append(row(impl, "classification", "224x224", b, prec, "dense",
                                       timed(lambda: f(x), args.iters, args.warmup), dev))
                    return out

                def bb_rows(dtype=dtype, compiled=compiled, impl=impl, prec=prec):
                    m = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, features_only=True,
                                          img_size=(672, 672)).cuda().eval().to(dtype)
                    f = torch.compile(m) if compiled else m
                    x = torch.randn(4, 3, 672, 672, device="cuda", dtype=dtype)
                    return [row(impl, "backbone", "672x672", 4, prec, "dense",
                                timed(lambda: f(x), args.iters, args.warmup), dev)]

                attempt(impl + " cls " + prec, cls_rows)
                attempt(impl + " backbone " + prec, bb_rows)
            pm = PrunedSwin().cuda().eval().to(dtype)
            x = torch.randn(4, 3, 672, 672, device="cuda", dtype=dtype)
            for name, ratios in [("dense", [[0] * d for d in (2, 2, 6, 2)])] + \
                    [("uniform:%s" % u, [[float(u)] * d for d in (2, 2, 6, 2)]) for u in ("0.3", "0.5", "0.6", "0.8")] + \
                    list(PAPER.items()):
                attempt("pytorch-sparsevit " + name + " " + prec, lambda ratios=ratios, name=name, prec=prec: [
                    row("pytorch-sparsevit-eager", "backbone", "672x672", 4, prec, name,
                        timed(lambda: pm(x, ratios), args.iters, args.warmup), dev)])
    json.dump(rows, open(args.out, "w"), indent=1)
    print("wrote", args.out, len(rows), "rows", file=sys.stderr)


if __name__ == "__main__":
    main()

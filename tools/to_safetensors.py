#!/usr/bin/env python3
"""Converts a PyTorch checkpoint (torch.save: .pth, .pt, .bin) of a Swin model to safetensors for SparseViT-J.

    python3 tools/to_safetensors.py IN.pth OUT.safetensors [--key model]

Needs torch only (no numpy, no safetensors package: the file is written by this script). The state dict is found at
--key, else at the first of "model", "state_dict", "model_state", "module" that holds one, else the file's top
level (the official Swin releases keep it under "model", mmdet/SparseViT checkpoints under "state_dict").
Names are kept as they are: SparseViT-J reads the Microsoft, Swin detection, mmdet/SparseViT, timm and Hugging Face
transformers names, behind any prefix such as "backbone." or "module.". Float tensors are written as F32 (F16 and
BF16 stay as they are); other tensors (integer buffers such as relative_position_index, counters) are left out.
"""
import argparse
import json
import struct
import sys

import torch

KEYS = ("model", "state_dict", "model_state", "module")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def find_state_dict(obj, key):
    if key:
        if not isinstance(obj, dict) or key not in obj:
            sys.exit("error: no key %r at the top of the checkpoint (keys: %s)"
                     % (key, list(obj)[:10] if isinstance(obj, dict) else type(obj).__name__))
        return obj[key]
    if isinstance(obj, dict):
        for k in KEYS:
            if isinstance(obj.get(k), dict) and any(torch.is_tensor(v) for v in obj[k].values()):
                return obj[k]
        if any(torch.is_tensor(v) for v in obj.values()):
            return obj
    if hasattr(obj, "state_dict"):
        return obj.state_dict()
    sys.exit("error: no state dict found (top-level type %s%s); name it with --key"
             % (type(obj).__name__, ", keys: %s" % list(obj)[:10] if isinstance(obj, dict) else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--key", default="", help="where the state dict is in the checkpoint (default: found)")
    ap.add_argument("--trust", action="store_true",
                    help="load with weights_only=False (runs the pickle's code: only for files you trust), for"
                         " checkpoints that store more than tensors, e.g. numpy values in mmcv's meta")
    args = ap.parse_args()
    try:
        obj = torch.load(args.input, map_location="cpu", weights_only=not args.trust)
    except Exception as e:  # e.g. a checkpoint that pickles more than tensors and containers
        sys.exit("error: %s: cannot be read by torch.load(weights_only=%s): %s%s" % (
            args.input, not args.trust, str(e).splitlines()[0][:300],
            "" if args.trust else "\n(if you trust the file, --trust loads it with weights_only=False)"))
    sd = find_state_dict(obj, args.key)
    header, blobs, offset, skipped = {}, [], 0, []
    for name, t in sd.items():
        if not torch.is_tensor(t) or not t.is_floating_point():
            skipped.append(name)
            continue
        if t.dtype not in DTYPES:
            t = t.to(torch.float32)
        shape = list(t.shape)
        t = t.detach().cpu().reshape(-1).clone()    # its own storage, exactly its elements (0-d tensors too)
        data = bytes(t.untyped_storage()) if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if not header:
        sys.exit("error: %s: the state dict holds no floating-point tensors" % args.input)
    header["__metadata__"] = {"format": "pt", "converted_from": args.input.rsplit("/", 1)[-1]}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(args.output, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print("wrote %s: %d tensors, %.1f MB%s" % (args.output, len(header) - 1, offset / 1e6,
          "; left out %d non-float entries (e.g. %s)" % (len(skipped), skipped[0]) if skipped else ""))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes a tiny golden set from timm's own Swin (java/src/test/resources/timm/): a checkpoint under timm's names
(head.fc, patch merging at the start of the next stage), an input and timm's logits, so that the test suite checks
that such a checkpoint loads and computes what timm computes. Needs torch, timm and safetensors.

    python3 bench/peers/make_timm_fixture.py [OUTDIR]

The model: timm's SwinTransformer with embed_dim 16, depths (2, 2), heads (1, 2), window 4, 10 classes, at 64x128
(stage grids 16x32 and 8x16: regular and shifted windows on a non-square grid). Every grid is a multiple of the
window and larger than it in both dimensions: there timm computes what the Microsoft implementation computes
(elsewhere timm 1.0 pads after the cyclic shift and picks window and shift per dimension). Weights: timm's initialisation (seed 0), with the relative position bias tables and the
LayerNorm parameters (and the head) redrawn larger so that a wrong bias index, norm or merge order changes the logits visibly.
"""
import json
import os
import sys

import torch
import timm
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer

from fixture_common import redraw, write_npy


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("java", "src", "test", "resources", "timm")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    size = (64, 128)
    m = SwinTransformer(img_size=size, patch_size=4, in_chans=3, num_classes=10, embed_dim=16, depths=(2, 2),
                        num_heads=(1, 2), window_size=4, mlp_ratio=4.0).eval()
    g = torch.Generator().manual_seed(1)
    redraw(m, g, "head.fc.weight")
    sd = {k: v.contiguous() for k, v in m.state_dict().items()}
    save_file(sd, os.path.join(out, "timm-mini.safetensors"), metadata={"format": "pt"})
    x = torch.randn(2, 3, *size, generator=g)
    with torch.no_grad():
        y = m(x)
    write_npy(os.path.join(out, "timm-mini.input.npy"), x)
    write_npy(os.path.join(out, "timm-mini.logits.npy"), y)
    info = {"torch": torch.__version__, "timm": timm.__version__, "input": list(x.shape), "logits": list(y.shape),
            "keys": len(sd), "max_abs_logit": float(y.abs().max())}
    with open(os.path.join(out, "timm-mini.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Exports timm's Swin-T classifier (random weights, seed 0) to ONNX for the ONNX Runtime CPU peer.

    python3 export_onnx.py OUT.onnx [HxW] [batch]
"""
import sys

import torch
import timm


def main():
    out = sys.argv[1]
    h, w = (int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "224x224").split("x"))
    b = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.manual_seed(0)
    m = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, img_size=(h, w)).eval()
    x = torch.randn(b, 3, h, w)
    with torch.no_grad():
        torch.onnx.export(m, x, out, input_names=["images"], output_names=["logits"], opset_version=17,
                          do_constant_folding=True, dynamo=False)
    print("wrote", out)


if __name__ == "__main__":
    main()

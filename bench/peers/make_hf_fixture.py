#!/usr/bin/env python3
"""Writes a tiny golden set from Hugging Face transformers' Swin (java/src/test/resources/hf/), so that the test
suite checks that its checkpoints load and compute what transformers computes. Needs torch, transformers (5.x) and
safetensors.

    python3 bench/peers/make_hf_fixture.py [OUTDIR]

Files:
  hf-cls.safetensors      SwinForImageClassification as save_pretrained writes it: the names of the checkpoints on
                          the Hub (attention.self.query/key/value, attention.output.dense, intermediate.dense,
                          output.dense, attention.self.relative_position_bias_table)
  hf-cls-v5.safetensors   the same weights under transformers 5's names (attention.q_proj/k_proj/v_proj/o_proj,
                          mlp.fc1/fc2, attention.relative_position_bias.relative_position_bias_table)
  hf-cls.{input,logits}.npy
  hf-bb.safetensors       SwinBackbone with every stage as output, as save_pretrained writes it (embeddings.* and
                          encoder.* at the top, hidden_states_norms.stage1..2, the unused swin.layernorm)
  hf-bb.input.npy, hf-bb.out0.npy, hf-bb.out1.npy
Models: embed_dim 8, depths (2, 2), heads (1, 2), window 4, at 52x76: stage grids 13x19 (padded to window
multiples) and 7x10 (after merging an odd grid), so padding, shifted windows and odd merging are all exercised. Each
grid stays larger than the window: where it is not, transformers 5.18 cannot run (its bias table keeps the
configured window while the window shrinks). Weights: transformers' initialisation (seed 0), with the relative
position bias tables, the LayerNorm parameters and the head redrawn larger so that a wrong mapping shows.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import SwinBackbone, SwinConfig, SwinForImageClassification

from fixture_common import redraw, write_npy

def saved(model, path):
    """The model.safetensors save_pretrained writes (the Hub's names), checked to be in the Hub's spelling."""
    import shutil
    import tempfile
    from safetensors import safe_open
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        shutil.copyfile(os.path.join(d, "model.safetensors"), path)
    with safe_open(path, "pt") as f:
        keys = list(f.keys())
    if any(".attention.q_proj." in k for k in keys) or not any(".attention.self.query." in k for k in keys):
        raise SystemExit("save_pretrained no longer writes the Hub's names: " + keys[5])


def state(model):
    return {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("relative_position_index")}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("java", "src", "test", "resources", "hf")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    size = (52, 76)
    common = dict(image_size=64, embed_dim=8, depths=[2, 2], num_heads=[1, 2], window_size=4)
    cls = SwinForImageClassification(SwinConfig(num_labels=10, **common)).eval()
    redraw(cls, g, "classifier.weight")
    sd = state(cls)
    saved(cls, os.path.join(out, "hf-cls.safetensors"))
    save_file(sd, os.path.join(out, "hf-cls-v5.safetensors"), metadata={"format": "pt"})
    x = torch.randn(1, 3, *size, generator=g)
    with torch.no_grad():
        logits = cls(x).logits
    write_npy(os.path.join(out, "hf-cls.input.npy"), x)
    write_npy(os.path.join(out, "hf-cls.logits.npy"), logits)

    bb = SwinBackbone(SwinConfig(out_features=["stage1", "stage2"], **common)).eval()
    redraw(bb, g, "classifier.weight")
    saved(bb, os.path.join(out, "hf-bb.safetensors"))
    xb = torch.randn(1, 3, *size, generator=g)
    with torch.no_grad():
        maps = bb(xb).feature_maps
    write_npy(os.path.join(out, "hf-bb.input.npy"), xb)
    for i, fm in enumerate(maps):
        write_npy(os.path.join(out, "hf-bb.out%d.npy" % i), fm)
    info = {"torch": torch.__version__, "transformers": transformers.__version__, "input": list(x.shape),
            "logits_max_abs": float(logits.abs().max()), "backbone_outputs": [list(m.shape) for m in maps]}
    with open(os.path.join(out, "hf.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


if __name__ == "__main__":
    main()

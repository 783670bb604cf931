"""What make_timm_fixture.py and make_hf_fixture.py share: .npy writing and the redrawn weights."""
import torch


def write_npy(path, t):
    """A float32 C-order .npy file (version 1.0 header)."""
    t = t.detach().to(torch.float32).contiguous()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join("%d, " % d for d in t.shape)
    header = header + " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1"))
        f.write(t.numpy().tobytes())


def redraw(model, g, head):
    """Relative position bias tables, LayerNorm parameters and the head's weight (named `head`) drawn larger than
    the libraries' initialisation, so that a wrong bias index, norm, merge order or head mapping shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("relative_position_bias_table"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif "norm" in name and name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name == head:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)

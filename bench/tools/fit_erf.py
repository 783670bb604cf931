#!/usr/bin/env python3
"""Fits the rational approximation of erf used by the CPU backend's GELU (java/.../backend/cpu/Erf.java).

erf(z) ~= z P(s) / Q(s), s = z^2 / 16, z in [0, 4]; P of degree 6, Q of degree 5 with Q(0) = 1. Linearised least
squares (z P - f Q = f, unknowns P's and Q's coefficients) on 40,001 points, reweighted towards the minimax (Lawson
steps, and 1 / |Q| of the previous step, Loeffler's correction); the iterate with the smallest maximum error and no
zero of Q on [0, 1] is kept. Prints the coefficients and the errors in double and in float evaluation.

    python3 bench/tools/fit_erf.py      # needs numpy
"""
from math import erf

import numpy as np


def fit(dp, dq, iters=40):
    xs = np.linspace(0, 4, 40001)
    f = np.array([erf(x) for x in xs])
    s = xs * xs / 16
    w = np.ones_like(xs)
    best = None
    for _ in range(iters):
        a = np.hstack([np.stack([xs * s ** i for i in range(dp + 1)], 1),
                       np.stack([-f * s ** j for j in range(1, dq + 1)], 1)])
        sol, *_ = np.linalg.lstsq(a * w[:, None], f * w, rcond=None)
        p = sol[:dp + 1]
        q = np.concatenate([[1.0], sol[dp + 1:]])
        qv = np.polyval(q[::-1], s)
        r = xs * np.polyval(p[::-1], s) / qv - f
        e = np.abs(r).max()
        if qv.min() > 0 and (best is None or e < best[2]):
            best = (p, q, e)
        w = w * (np.abs(r) + 1e-12) ** 0.5
        w = w / w.sum() * len(w)
        w = w / np.abs(qv)
    p, q, e = best
    x32 = xs.astype(np.float32)
    s32 = x32 * x32 * np.float32(1 / 16)
    pv = np.zeros_like(x32)
    for c in p[::-1]:
        pv = pv * s32 + np.float32(c)
    qv = np.zeros_like(x32)
    for c in q[::-1]:
        qv = qv * s32 + np.float32(c)
    e32 = np.abs((x32 * pv / qv).astype(np.float64) - f).max()
    return p, q, e, e32


if __name__ == "__main__":
    p, q, e, e32 = fit(6, 5)
    print("max |error|: %.2e in double, %.2e evaluated in float" % (e, e32))
    print("P:", ", ".join(repr(float(v)) for v in p))
    print("Q:", ", ".join(repr(float(v)) for v in q))

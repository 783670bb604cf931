/*
 * SparseViT-J CPU kernels: the plain C header the Java binding (org.sparsevit.backend.cpu.CpuNative) wraps.
 * The CPU backend's hot loops in native code, where plain Java and OpenBLAS were measured slower (the
 * linear layers' GEMMs with their epilogues, and window attention); everything else stays in Java.
 *
 * Conventions
 *  - Every function returns 0 on success or SVJ_CPU_EINVAL (-1) when an argument check fails; nothing prints
 *    or aborts. Callers check arguments first, so -1 means a caller bug.
 *  - The kernels need AVX2 and FMA; svj_cpu_supported() says whether this CPU has them. Called without them,
 *    the compute entries return SVJ_CPU_EUNSUPPORTED (-2) and touch nothing.
 *  - All tensors are float32, dense and row-major. Nothing here starts threads or allocates beyond a call's own
 *    scratch: the Java side cuts the work into pieces (row or column ranges, item ranges) and runs one call per
 *    thread. Inside a call denormals are flushed to zero; the caller's floating-point mode is restored.
 */
#ifndef SPARSEVIT_CPU_H
#define SPARSEVIT_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

#define SVJ_CPU_EINVAL (-1)
#define SVJ_CPU_EUNSUPPORTED (-2)

/* 1 when this CPU (and its OS) runs AVX2 and FMA code, else 0. */
int svj_cpu_supported(void);

/* Width of the weight panels: column pieces of svj_cpu_linear start on multiples of it. */
int svj_cpu_panel_width(void);

/* Floats that svj_cpu_pack_weights writes for an [n, k] weight (n rounded up to whole panels). */
long long svj_cpu_packed_floats(int n, int k);

/*
 * Repacks a linear layer's weight w [n, k] (PyTorch's layout: out = x w^T) into panels of
 * svj_cpu_panel_width() output columns (zero-padded to a whole panel), cut into blocks of 256 along k: block
 * after block, and inside a block panel after panel, each k-major. `packed` holds svj_cpu_packed_floats(n, k)
 * floats and is 32-byte aligned.
 */
int svj_cpu_pack_weights(const float* w, int n, int k, float* packed);

/*
 * out[r, c] = act(x[r, :] . w[c, :] + bias[c] + (accumulate ? out[r, c] : 0)) for r in [row0, row1) and c in
 * [col0, col1), where act is exact GELU when gelu != 0 (erf by the rational function of Erf.java, within
 * 4.1e-7) and the identity otherwise. x is [m, k] with m >= row1, out is [m, n], packed comes from
 * svj_cpu_pack_weights(w, n, k), bias is NULL or n floats. col0 is a multiple of the panel width; col1 is
 * one too or n. Accumulation order over k: blocks of 256, each summed in order (so results are the same
 * whatever the row and column pieces are).
 */
int svj_cpu_linear(const float* x, int k, const float* packed, int n, const float* bias, float* out,
                   int accumulate, int gelu, int row0, int row1, int col0, int col1);

/*
 * Window attention over items [item0, item1) of windows x heads (item = window * heads + head), as the CPU
 * backend's Java path: for each query row, scores = scale (q . k) + bias[head][q][key] + mask, softmax over
 * the n keys, times v. qkv is [windows, n, 3 c] (q, k, v each [heads, d] per token), out is [windows, n, c]
 * with c = heads d, d a multiple of 8. bias is [heads, n, n]. regions is NULL (no mask) or [windows, n]
 * region ids: keys of another region than the query get `masked` added (SparseViT and Swin use -100).
 */
int svj_cpu_window_attention(const float* qkv, float* out, int n, int heads, int d, float scale,
                             const float* bias, const int* regions, float masked, int item0, int item1);

/*
 * LayerNorm of rows [row0, row1) of x [m, c] into out (may be x): mean and variance over the row in double (two
 * passes), then (x - mean) / sqrt(var + eps) * gamma + beta in float, as the Java path. c a multiple of 8.
 */
int svj_cpu_layer_norm(const float* x, const float* gamma, const float* beta, float eps, int c, float* out,
                       int row0, int row1);

#ifdef __cplusplus
}
#endif

#endif

package org.sparsevit.backend;

import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The operations a (pruned) Swin needs, on one kind of device. Implementations: {@code CpuBackend}
 * (the reference; plain Java plus OpenBLAS) and {@code CudaBackend}. The model code is written against
 * this interface only.
 *
 * <p>Conventions: tensors are row-major; a token map [B, H, W, C] is the same memory as [B, H*W, C];
 * "x [..., C]" means any leading shape, flattened to rows. Every op writes into a caller-provided
 * output, so a backend can plan its memory once. Index lists ({@code order}) are I32 tensors
 * [B, nW] holding each image's windows in kept order; an op given {@code order} and {@code k} works on
 * the first k entries of every row (a prefix slice, never copied); {@code order == null} means all
 * windows in natural order (then k must equal nW). Ops validate shapes and throw
 * IllegalArgumentException naming the op and the offending tensor.
 */
public interface Backend extends AutoCloseable {

    /** Short name: "cpu" or "cuda". */
    String name();

    /** The device in words, e.g. "CPU, 2 threads, OpenBLAS 0.3.31" or the GPU's name. */
    String device();

    /** Whether tensors of this dtype can be created (F32 and I32 everywhere; F16/BF16 where supported). */
    boolean supports(DType dtype);

    /**
     * The floating dtype a model stores its weights and activations in on this session: F32, or F16/BF16
     * when the session was created for that precision. Math inside every op is float32 either way; only
     * what is stored between ops is rounded. Importance maps and window scores stay F32.
     */
    default DType storage() {
        return DType.F32;
    }

    /** The precision this session was created for (FP32 unless asked otherwise). */
    default Precision precision() {
        return Precision.FP32;
    }

    // ---------------------------------------------------------------- memory

    /** An uninitialised tensor. */
    Tensor empty(DType dtype, int... shape);

    /** A zero-filled tensor. */
    Tensor zeros(DType dtype, int... shape);

    /** Copies host values into a new F32 tensor of the same shape. */
    Tensor upload(HostTensor host);

    /** Copies host values into a new tensor of the given storage dtype (rounded to nearest even). */
    Tensor upload(HostTensor host, DType storage);

    /** A new I32 tensor. */
    Tensor uploadInts(int[] values, int... shape);

    /**
     * 8-bit frames to a model input: a new tensor [B, 3, H, W] of the given floating storage dtype, RGB channel
     * order, holding {@code (v / 255f - mean[c]) / std[c]} per value ({@link Frames#normalize}), F16/BF16
     * rounded to nearest even. Bitwise what {@code upload(frames.toHostTensor(), storage)} gives, but a backend
     * may normalise on the device: CUDA copies the bytes (a quarter of the float32 data) and runs one kernel.
     * The default does exactly that upload.
     *
     * @throws IllegalArgumentException for a null {@code frames}, or an I32 or unsupported {@code storage}
     */
    default Tensor uploadFrames(Frames frames, DType storage) {
        if (frames == null) {
            throw new IllegalArgumentException("uploadFrames: frames must not be null");
        }
        if (storage == null || storage == DType.I32) {
            throw new IllegalArgumentException("uploadFrames: storage must be F32, F16 or BF16, got " + storage);
        }
        return upload(frames.toHostTensor(), storage);
    }

    /** Copies a tensor back to the host as float32 (F16/BF16 widened exactly). Waits for pending work. */
    HostTensor download(Tensor t);

    /** Copies an I32 tensor back. */
    int[] downloadInts(Tensor t);

    /** Copies src into dst (same element count and dtype). */
    void copy(Tensor src, Tensor dst);

    /** Waits until all queued work is done (a no-op on the CPU). */
    default void synchronize() {
    }

    // ---------------------------------------------------------------- dense math

    /**
     * out = x W^T + bias: x [..., K], w [N, K] (PyTorch Linear layout; [N, K1, K2, ...] is read as [N, K]),
     * bias [N] or null, out [..., N].
     * The GEMM of this library; rows = product of the leading dimensions.
     */
    void linear(Tensor x, Tensor w, Tensor bias, Tensor out);

    /** LayerNorm over the last dimension C: x [..., C], gamma/beta [C], out [..., C] (out may be x). */
    void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out);

    /** In place exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))). */
    void gelu(Tensor x);

    /** In place a += b (same shape). */
    void add(Tensor a, Tensor b);

    /**
     * Residual add then LayerNorm: a += b, out = LayerNorm(a). A backend may fuse the two passes (CUDA does);
     * the default runs {@link #add} and {@link #layerNorm}.
     */
    default void addLayerNorm(Tensor a, Tensor b, Tensor gamma, Tensor beta, float eps, Tensor out) {
        add(a, b);
        layerNorm(a, gamma, beta, eps, out);
    }

    /**
     * residual += x W^T + bias: a linear layer whose output is added to the residual stream in the same
     * pass (the GEMM accumulates into it), so no separate output tensor or add is needed. Same shape rules
     * as {@link #linear}, with {@code residual} in the place of the output.
     */
    default void linearResidual(Tensor x, Tensor w, Tensor bias, Tensor residual) {
        try (Tensor t = empty(residual.dtype(), residual.shape())) {
            linear(x, w, bias, t);
            add(residual, t);
        }
    }

    /** out = GELU(x W^T + bias); a backend may fuse bias and GELU into one pass (CUDA does). */
    default void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        linear(x, w, bias, out);
        gelu(out);
    }

    /**
     * The second half of a Swin block, in place: x += fc2(GELU(fc1(LayerNorm(x)))), with x [..., C], gamma and beta
     * [C], w1 [H, C], b1 [H], w2 [C, H], b2 [C] (biases may be null). {@code scratch} [..., C] is a buffer of the
     * caller's that the op may overwrite. A backend may run it as one kernel that keeps the [..., H] hidden activation
     * on chip (CUDA does, for F16/BF16 and C up to 256: see {@link #mlpResidualFused}); the default runs
     * {@link #layerNorm} into scratch, {@link #linearGelu} into a temporary and {@link #linearResidual} into x.
     */
    default void mlpResidual(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor w1, Tensor b1, Tensor w2,
                             Tensor b2, Tensor scratch) {
        layerNorm(x, gamma, beta, eps, scratch);
        int[] hidden = x.shape().clone();
        hidden[hidden.length - 1] = w1.dim(0);
        try (Tensor h = empty(x.dtype(), hidden)) {
            linearGelu(scratch, w1, b1, h);
            linearResidual(h, w2, b2, x);
        }
    }

    /**
     * Whether {@link #mlpResidual} runs as one fused op for an x of this dtype with these rows (the product of its
     * leading dimensions) and C channels, and a hidden width H (false: the default's three ops). The
     * {@link ProfilingBackend} times a fused call as one op and the steps of the default apart.
     */
    default boolean mlpResidualFused(DType dtype, long rows, int channels, int hidden) {
        return false;
    }

    // ---------------------------------------------------------------- Swin structure

    /**
     * 4x4 (patch x patch, stride patch) patch embedding: img [B, Cin, H, W] (zero-padded on the
     * bottom/right to patch multiples), w [C, Cin, p, p], bias [C], out [B, ceil(H/p) * ceil(W/p), C].
     */
    void patchEmbed(Tensor img, Tensor w, Tensor bias, int patch, Tensor out);

    /**
     * Patch merging gather: x [B, H, W, C] (zero-padded to even size) to out [B, ceil(H/2) * ceil(W/2), 4C]
     * in the given channel order.
     */
    void patchMerge(Tensor x, int height, int width, MergeOrder order, Tensor out);

    /** Mean over tokens: x [B, L, C], out [B, C]. */
    void meanPool(Tensor x, Tensor out);

    /** Layout change for outputs: x [B, H*W, C] to out [B, C, H, W]. */
    void toChannelsFirst(Tensor x, int height, int width, Tensor out);

    // ---------------------------------------------------------------- windows (dense and pruned)

    /**
     * Gathers windows from a token map: x [B, H*W, C] to out [B, k, N, C], window j of image b being
     * order[b, j] (or j when order is null), padding positions zero, shift folded into the indexing
     * (see {@link WindowGrid#sourceToken}).
     */
    void gatherWindows(Tensor x, WindowGrid grid, Tensor order, int k, Tensor out);

    /** The inverse of {@link #gatherWindows}: writes the non-padding tokens of tile [B, k, N, C] into x. */
    void scatterWindows(Tensor tile, WindowGrid grid, Tensor order, int k, Tensor x);

    /** Sets the padding tokens of tile [B, k, N, C] to zero (Swin pads after norm1). */
    void zeroPadding(Tensor tile, WindowGrid grid, Tensor order, int k);

    /**
     * A block's entry: tile = {@link #gatherWindows gather}(x), out = LayerNorm(tile), and with
     * {@code zeroPadded} the padding tokens of out set to zero (Swin's padding mode; otherwise they hold
     * LayerNorm(0) = beta, as SparseViT's). CUDA does it in one pass. The {@link ProfilingBackend} keeps the
     * steps apart so that the gather's cost shows in its breakdown.
     */
    default void gatherLayerNorm(Tensor x, WindowGrid grid, Tensor order, int k, Tensor gamma, Tensor beta, float eps,
                                 boolean zeroPadded, Tensor tile, Tensor out) {
        gatherWindows(x, grid, order, k, tile);
        layerNorm(tile, gamma, beta, eps, out);
        if (zeroPadded) {
            zeroPadding(out, grid, order, k);
        }
    }

    /**
     * Moves a dense block's output to the next block's windows without the token map: {@code from} [B, nW, N, C]
     * holds every window of {@code fromGrid} in natural order (a block's tile, not scattered), {@code tile}
     * [B, nW', N, C] receives every window of {@code grid} (the same map and window size, another shift) in natural
     * order, padding tokens zero. Bitwise what {@code scatterWindows(from, fromGrid, null, nW, x)} followed by
     * {@code gatherWindows(x, grid, null, nW', tile)} give (for any x: every token of x is overwritten), in one
     * pass instead of two over the map. The default does exactly that through a temporary map; the CPU and CUDA
     * backends move the rows directly.
     */
    default void rewindowWindows(Tensor from, WindowGrid fromGrid, WindowGrid grid, Tensor tile) {
        fromGrid.checkRewindow(grid, from.shape(), "rewindowWindows");
        try (Tensor map = empty(from.dtype(), from.dim(0), grid.height() * grid.width(), from.dim(3))) {
            scatterWindows(from, fromGrid, null, fromGrid.numWindows(), map);
            gatherWindows(map, grid, null, grid.numWindows(), tile);
        }
    }

    /**
     * Window multi-head self-attention core: qkv [B, k, N, 3C] (all q channels, then k, then v; heads are
     * consecutive groups of C/heads), bias table [(2 * grid.biasWindow - 1)^2, heads], out [B, k, N, C]:
     * softmax(q k^T / sqrt(C/heads) + bias + mask) v per head, heads concatenated. The shift mask (-100
     * across regions) is derived from the grid and each window's number, never stored.
     */
    void windowAttention(Tensor qkv, Tensor biasTable, int heads, WindowGrid grid, Tensor order, int k,
                         Tensor out);

    // ---------------------------------------------------------------- SparseViT importance

    /** Per-token mean over channels of |x|: x [B, L, C], out [B, L]. */
    void tokenImportance(Tensor x, Tensor out);

    /** Per-window L2 norm of the (padded, rolled) importance map: a [B, H*W], out [B, nW]. */
    void windowScores(Tensor a, WindowGrid grid, Tensor out);

    /**
     * Per image, window numbers by descending score, ties to the lower window number:
     * scores [B, nW] F32, order [B, nW] I32.
     */
    void sortWindows(Tensor scores, Tensor order);

    /**
     * Captures the launches {@code work} enqueues so they can be replayed as one unit, or returns null where
     * the backend cannot (the CPU). The work must not synchronise or copy to the host, and should have run
     * once before so that every buffer it needs is already pooled.
     */
    default Captured capture(java.util.function.Supplier<java.util.List<Tensor>> work) {
        return null;
    }

    /**
     * Runs {@code work} with this session to itself: on a backend whose session is one stream (CUDA) the whole
     * work of one caller (a forward pass with its uploads, capture or replay and downloads) must not interleave
     * with another thread's, or a capture would record the other thread's launches and a replay would share its
     * buffers. The model's entry points ({@code SwinModel.forward}, {@code CompiledForward.run}) run in here,
     * so threads sharing one model wait for each other instead of computing garbage (for parallel passes, give
     * each thread a session: {@code SwinModel.session}). Reentrant. The default, for backends whose ops may run
     * on several threads at once (the CPU), runs the work at once.
     */
    default <T> T exclusive(java.util.function.Supplier<T> work) {
        return work.get();
    }

    /** Whether {@link #capture} can capture (CUDA); models then replay whole forward passes as graphs. */
    default boolean capturesGraphs() {
        return false;
    }

    /**
     * Opens a workspace scope: the tensors allocated on this thread until it closes are planned once per
     * {@code key} and, from the second run of that key on, handed out from one slab without allocating (see
     * {@link WorkspaceArena} for the rules: the key must determine the sequence of allocations, e.g. model,
     * batch, input size, sparsity and precision; tensors still open when the scope closes come from the pool).
     * The default, for backends without an arena, does nothing.
     */
    default Workspace workspace(Object key) {
        return Workspace.NONE;
    }

    /** This session's memory counters ({@link MemoryStats#NONE} where the backend keeps none). */
    default MemoryStats memoryStats() {
        return MemoryStats.NONE;
    }

    @Override
    void close();
}

package org.sparsevit.backend;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;

import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * A backend decorator that times every op, one at a time: on the CUDA backend with CUDA events around the
 * op on the session's stream (the device time of its kernels, plus launch latency, since the stream is idle
 * when the op starts), elsewhere wall-clock time up to a synchronisation after the op. Used for the per-op
 * breakdown of the benchmarks; not for the headline latency, which runs undecorated (and on a GPU as one
 * graph replay).
 */
public final class ProfilingBackend implements Backend {
    private final Backend inner;
    private final Map<String, long[]> stats = new TreeMap<>();
    private long gemmRows;
    private volatile boolean enabled = true;

    private final boolean events;

    public ProfilingBackend(Backend inner) {
        this.inner = inner;
        this.events = "cuda".equals(inner.name());
    }

    public Backend inner() {
        return inner;
    }

    /** When disabled the decorator only delegates (no timing, no synchronisation). */
    public void setEnabled(boolean on) {
        this.enabled = on;
    }

    /** op name to {calls, total nanoseconds}. */
    public synchronized Map<String, long[]> stats() {
        Map<String, long[]> copy = new TreeMap<>();
        stats.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    public synchronized void reset() {
        stats.clear();
        gemmRows = 0;
    }

    /** Rows passed to {@link #linear} since the last reset (the GEMM work, for a fixed weight shape). */
    public synchronized long gemmRows() {
        return gemmRows;
    }

    /** A table of ops by total time. */
    public synchronized String table() {
        long total = stats.values().stream().mapToLong(v -> v[1]).sum();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-18s %8s %12s %7s%n", "op", "calls", "total ms", "share"));
        stats.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1])).forEach(e ->
                sb.append(String.format(Locale.ROOT, "%-18s %8d %12.3f %6.1f%%%n", e.getKey(), e.getValue()[0],
                        e.getValue()[1] / 1e6, total == 0 ? 0 : 100.0 * e.getValue()[1] / total)));
        return sb.toString();
    }

    private void timed(String op, Runnable r) {
        if (!enabled) {
            r.run();
            return;
        }
        if (events) {
            inner.synchronize();
            record(op, Math.round(CudaTimer.timeMs(inner, r) * 1e6));
            return;
        }
        long t = System.nanoTime();
        r.run();
        inner.synchronize();
        record(op, System.nanoTime() - t);
    }

    private <T> T timed(String op, Supplier<T> s) {
        if (!enabled) {
            return s.get();
        }
        if (events) {
            inner.synchronize();
            Object[] v = new Object[1];
            record(op, Math.round(CudaTimer.timeMs(inner, () -> v[0] = s.get()) * 1e6));
            @SuppressWarnings("unchecked")
            T t = (T) v[0];
            return t;
        }
        long t = System.nanoTime();
        T v = s.get();
        inner.synchronize();
        record(op, System.nanoTime() - t);
        return v;
    }

    /** How ops are timed: "CUDA events" or "wall clock + synchronize". */
    public String timing() {
        return events ? "CUDA events per op" : "wall clock per op, synchronised";
    }

    private synchronized void record(String op, long ns) {
        long[] v = stats.computeIfAbsent(op, k -> new long[2]);
        v[0]++;
        v[1] += ns;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public String device() {
        return inner.device();
    }

    @Override
    public Precision precision() {
        return inner.precision();
    }

    @Override
    public boolean supports(DType dtype) {
        return inner.supports(dtype);
    }

    @Override
    public DType storage() {
        return inner.storage();
    }

    @Override
    public Tensor empty(DType dtype, int... shape) {
        return inner.empty(dtype, shape);
    }

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        return inner.zeros(dtype, shape);
    }

    @Override
    public Tensor upload(HostTensor host) {
        return timed("upload", () -> inner.upload(host));
    }

    @Override
    public Tensor upload(HostTensor host, DType storage) {
        return timed("upload", () -> inner.upload(host, storage));
    }

    @Override
    public Tensor uploadFrames(Frames frames, DType storage) {
        return timed("uploadFrames", () -> inner.uploadFrames(frames, storage));
    }

    @Override
    public Tensor uploadInts(int[] values, int... shape) {
        return inner.uploadInts(values, shape);
    }

    @Override
    public HostTensor download(Tensor t) {
        return timed("download", () -> inner.download(t));
    }

    @Override
    public int[] downloadInts(Tensor t) {
        return inner.downloadInts(t);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        timed("copy", () -> inner.copy(src, dst));
    }

    @Override
    public void synchronize() {
        inner.synchronize();
    }

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        synchronized (this) {
            gemmRows += x.numel() / Math.max(1, w.dim(1));
        }
        timed("linear", () -> inner.linear(x, w, bias, out));
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        timed("layerNorm", () -> inner.layerNorm(x, gamma, beta, eps, out));
    }

    @Override
    public void gelu(Tensor x) {
        timed("gelu", () -> inner.gelu(x));
    }

    @Override
    public void addLayerNorm(Tensor a, Tensor b, Tensor gamma, Tensor beta, float eps, Tensor out) {
        timed("addLayerNorm", () -> inner.addLayerNorm(a, b, gamma, beta, eps, out));
    }

    @Override
    public void linearResidual(Tensor x, Tensor w, Tensor bias, Tensor residual) {
        synchronized (this) {
            gemmRows += x.numel() / Math.max(1, w.dim(1));
        }
        timed("linearResidual", () -> inner.linearResidual(x, w, bias, residual));
    }

    @Override
    public void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        synchronized (this) {
            gemmRows += x.numel() / Math.max(1, w.dim(1));
        }
        timed("linearGelu", () -> inner.linearGelu(x, w, bias, out));
    }

    /** A fused call is one op, "mlpResidual"; otherwise its steps are timed apart (layerNorm, linearGelu, ...). */
    @Override
    public void mlpResidual(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor w1, Tensor b1, Tensor w2,
                            Tensor b2, Tensor scratch) {
        int c = x.rank() == 0 ? 0 : x.dim(x.rank() - 1);
        if (c == 0 || w1.rank() == 0 || !inner.mlpResidualFused(x.dtype(), x.numel() / c, c, w1.dim(0))) {
            Backend.super.mlpResidual(x, gamma, beta, eps, w1, b1, w2, b2, scratch);
            return;
        }
        synchronized (this) {
            gemmRows += 2 * (x.numel() / c);   // fc1 and fc2
        }
        timed("mlpResidual", () -> inner.mlpResidual(x, gamma, beta, eps, w1, b1, w2, b2, scratch));
    }

    @Override
    public boolean mlpResidualFused(DType dtype, long rows, int channels, int hidden) {
        return inner.mlpResidualFused(dtype, rows, channels, hidden);
    }

    @Override
    public void add(Tensor a, Tensor b) {
        timed("add", () -> inner.add(a, b));
    }

    @Override
    public void patchEmbed(Tensor img, Tensor w, Tensor bias, int patch, Tensor out) {
        timed("patchEmbed", () -> inner.patchEmbed(img, w, bias, patch, out));
    }

    @Override
    public void patchMerge(Tensor x, int height, int width, MergeOrder order, Tensor out) {
        timed("patchMerge", () -> inner.patchMerge(x, height, width, order, out));
    }

    @Override
    public void meanPool(Tensor x, Tensor out) {
        timed("meanPool", () -> inner.meanPool(x, out));
    }

    @Override
    public void toChannelsFirst(Tensor x, int height, int width, Tensor out) {
        timed("toChannelsFirst", () -> inner.toChannelsFirst(x, height, width, out));
    }

    @Override
    public void gatherWindows(Tensor x, WindowGrid grid, Tensor order, int k, Tensor out) {
        timed("gatherWindows", () -> inner.gatherWindows(x, grid, order, k, out));
    }

    @Override
    public void scatterWindows(Tensor tile, WindowGrid grid, Tensor order, int k, Tensor x) {
        timed("scatterWindows", () -> inner.scatterWindows(tile, grid, order, k, x));
    }

    @Override
    public void rewindowWindows(Tensor from, WindowGrid fromGrid, WindowGrid grid, Tensor tile) {
        timed("rewindowWindows", () -> inner.rewindowWindows(from, fromGrid, grid, tile));
    }

    @Override
    public void zeroPadding(Tensor tile, WindowGrid grid, Tensor order, int k) {
        timed("zeroPadding", () -> inner.zeroPadding(tile, grid, order, k));
    }

    @Override
    public void windowAttention(Tensor qkv, Tensor biasTable, int heads, WindowGrid grid, Tensor order, int k,
                                Tensor out) {
        timed("windowAttention", () -> inner.windowAttention(qkv, biasTable, heads, grid, order, k, out));
    }

    @Override
    public void tokenImportance(Tensor x, Tensor out) {
        timed("tokenImportance", () -> inner.tokenImportance(x, out));
    }

    @Override
    public void windowScores(Tensor a, WindowGrid grid, Tensor out) {
        timed("windowScores", () -> inner.windowScores(a, grid, out));
    }

    @Override
    public void sortWindows(Tensor scores, Tensor order) {
        timed("sortWindows", () -> inner.sortWindows(scores, order));
    }

    @Override
    public boolean capturesGraphs() {
        return !enabled && inner.capturesGraphs(); // while profiling, passes stay eager so every op is timed
    }

    @Override
    public Captured capture(java.util.function.Supplier<java.util.List<Tensor>> work) {
        boolean was = enabled;
        enabled = false; // a captured pass must not synchronise
        try {
            return inner.capture(work);
        } finally {
            enabled = was;
        }
    }

    @Override
    public <T> T exclusive(java.util.function.Supplier<T> work) {
        return inner.exclusive(work);
    }

    @Override
    public Workspace workspace(Object key) {
        return inner.workspace(key);
    }

    @Override
    public MemoryStats memoryStats() {
        return inner.memoryStats();
    }

    @Override
    public void close() {
        inner.close();
    }
}

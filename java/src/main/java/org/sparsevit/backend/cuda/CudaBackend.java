package org.sparsevit.backend.cuda;

import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;
import org.sparsevit.tensor.Tensor;

/**
 * The CUDA backend: our kernels (cuda/, through {@link CudaNative}) for everything but GEMMs, cuBLAS (through
 * the JavaCPP presets) for the GEMMs. One instance is one session: it owns a stream, a cuBLAS handle and a
 * size-bucketed pool of device memory, so a steady-state forward pass allocates nothing and enqueues a
 * fixed sequence of launches with no host synchronisation (only downloads synchronise). Use one instance
 * per thread.
 */
public final class CudaBackend implements Backend {
    private static volatile String cachedReason;
    private static volatile boolean probed;

    private static final long CUBLAS_WORKSPACE = 32L << 20;

    private final long stream;
    private final long workspace;
    private final cublasContext handle;
    private final Precision precision;
    private final String deviceName;
    private final Map<Integer, ArrayDeque<Long>> pool = new HashMap<>();
    private long pooledBytes;
    private boolean closed;
    /** While a graph is being captured: blocks released during capture stay with the graph. */
    private List<long[]> captureHeld;

    /** Wraps a raw device address for the presets' pointer-typed parameters. */
    private static final class Address extends Pointer {
        Address(long a) {
            address = a;
        }
    }

    /**
     * Why the CUDA backend cannot be used here, or null when it can. Never throws; the result is cached.
     */
    public static String unavailableReason() {
        if (!probed) {
            synchronized (CudaBackend.class) {
                if (!probed) {
                    cachedReason = probe();
                    probed = true;
                }
            }
        }
        return cachedReason;
    }

    private static String probe() {
        try {
            Throwable err = CudaNative.loadError();
            if (err != null) {
                return "native library not available (built without nvcc, or it failed to load: " + err.getMessage() + ")";
            }
            int[] n = new int[1];
            int rc = CudaNative.svj_device_count(n);
            if (rc == 35 || rc == 34) {
                return "no NVIDIA driver (libcuda.so.1 is missing or older than the CUDA 13 runtime: " + errorString(rc) + ")";
            }
            if (rc == 100) {
                return "no CUDA device (" + errorString(rc) + ")";
            }
            if (rc != 0) {
                return "no usable NVIDIA driver or device (" + errorString(rc) + ")";
            }
            if (n[0] == 0) {
                return "no CUDA device";
            }
            try {
                Loader.load(cublas.class);
            } catch (Throwable t) {
                return "cuBLAS could not be loaded (libcublas.so.13 from the CUDA 13 libraries is needed): " + t.getMessage();
            }
            return null;
        } catch (Throwable t) {
            return "CUDA initialisation failed: " + t;
        }
    }

    static String errorString(int rc) {
        try {
            return CudaNative.svj_error_string(rc).getString() + " (code " + rc + ")";
        } catch (Throwable t) {
            return "error code " + rc;
        }
    }

    private static void check(int rc, String op) {
        if (rc != 0) {
            throw new SparseVitException("CUDA " + op + " failed: " + errorString(rc));
        }
    }

    public CudaBackend() {
        this(Precision.FP32);
    }

    /** A session on device 0 with the given GEMM precision (FP32 or TF32). */
    public CudaBackend(Precision precision) {
        String why = unavailableReason();
        if (why != null) {
            throw new SparseVitException("CUDA backend unavailable: " + why);
        }
        if (precision != Precision.FP32 && precision != Precision.TF32) {
            throw new SparseVitException("CUDA backend: precision " + precision + " is not implemented yet (FP32 and TF32 are)");
        }
        this.precision = precision;
        check(CudaNative.svj_set_device(0), "cudaSetDevice");
        byte[] name = new byte[256];
        check(CudaNative.svj_device_name(0, name, name.length), "cudaGetDeviceProperties");
        int len = 0;
        while (len < name.length && name[len] != 0) {
            len++;
        }
        this.deviceName = new String(name, 0, len, StandardCharsets.UTF_8);
        long[] s = new long[1];
        check(CudaNative.svj_stream_create(s), "cudaStreamCreate");
        this.stream = s[0];
        this.handle = new cublasContext();
        checkBlas(cublas.cublasCreate_v2(handle), "cublasCreate");
        checkBlas(cublas.cublasSetStream_v2(handle, new CUstream_st(new Address(stream))), "cublasSetStream");
        checkBlas(cublas.cublasSetMathMode(handle, precision == Precision.TF32 ? cublas.CUBLAS_TF32_TENSOR_OP_MATH
                : cublas.CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
        // a workspace of our own, so cuBLAS never allocates (required inside CUDA-graph capture)
        long[] ws = new long[1];
        check(CudaNative.svj_malloc(ws, CUBLAS_WORKSPACE), "cuBLAS workspace");
        this.workspace = ws[0];
        checkBlas(cublas.cublasSetWorkspace_v2(handle, new Address(workspace), CUBLAS_WORKSPACE), "cublasSetWorkspace");
    }

    private static void checkBlas(int rc, String op) {
        if (rc != 0) {
            throw new SparseVitException("cuBLAS " + op + " failed with status " + rc);
        }
    }

    public Precision precision() {
        return precision;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public String device() {
        return deviceName;
    }

    /** Driver and runtime versions, e.g. "driver 13000, runtime 13000". */
    public static String versions() {
        int[] d = new int[1];
        int[] r = new int[1];
        CudaNative.svj_driver_version(d);
        CudaNative.svj_runtime_version(r);
        return "driver " + d[0] + ", runtime " + r[0];
    }

    @Override
    public boolean supports(DType dtype) {
        return dtype == DType.F32 || dtype == DType.I32;
    }

    // ------------------------------------------------------------------------------------- memory

    private static int bucket(long bytes) {
        return Math.max(8, 64 - Long.numberOfLeadingZeros(Math.max(1, bytes - 1)));
    }

    synchronized long acquire(long bytes, int bucket) {
        ArrayDeque<Long> q = pool.get(bucket);
        if (q != null && !q.isEmpty()) {
            pooledBytes -= 1L << bucket;
            return q.pop();
        }
        long[] p = new long[1];
        int rc = CudaNative.svj_malloc(p, 1L << bucket);
        if (rc != 0) {
            // give pooled memory back and retry once
            trim();
            rc = CudaNative.svj_malloc(p, 1L << bucket);
        }
        if (rc != 0) {
            throw new SparseVitException("CUDA out of memory allocating " + bytes + " bytes: " + errorString(rc));
        }
        return p[0];
    }

    synchronized void release(long address, int bucket) {
        if (closed) {
            CudaNative.svj_free(address);
            return;
        }
        if (captureHeld != null) {
            // the captured graph keeps using this memory on every replay: it must not be handed out again
            captureHeld.add(new long[]{address, bucket});
            return;
        }
        pool.computeIfAbsent(bucket, k -> new ArrayDeque<>()).push(address);
        pooledBytes += 1L << bucket;
    }

    private synchronized void trim() {
        CudaNative.svj_stream_synchronize(stream);
        for (ArrayDeque<Long> q : pool.values()) {
            for (long a : q) {
                CudaNative.svj_free(a);
            }
        }
        pool.clear();
        pooledBytes = 0;
    }

    @Override
    public Tensor empty(DType dtype, int... shape) {
        if (!supports(dtype)) {
            throw new IllegalArgumentException("CUDA backend: " + dtype + " tensors are not supported yet");
        }
        long bytes = Math.max(4, Shapes.numel(shape) * dtype.bytes());
        int b = bucket(bytes);
        return new CudaTensor(this, acquire(bytes, b), b, dtype, shape);
    }

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        CudaTensor t = (CudaTensor) empty(dtype, shape);
        check(CudaNative.svj_memset(t.ptr(), 0, t.bytes(), stream), "memset");
        return t;
    }

    @Override
    public Tensor upload(HostTensor host) {
        CudaTensor t = (CudaTensor) empty(DType.F32, host.shape());
        check(CudaNative.svj_memcpy_h2d(t.ptr(), host.data(), t.bytes(), stream), "upload");
        // the host array may be reused by the caller: make the copy complete before returning
        synchronize();
        return t;
    }

    @Override
    public Tensor upload(HostTensor host, DType storage) {
        if (storage != DType.F32) {
            throw new IllegalArgumentException("CUDA backend: " + storage + " storage is not implemented yet");
        }
        return upload(host);
    }

    @Override
    public Tensor uploadInts(int[] values, int... shape) {
        if (Shapes.numel(shape) != values.length) {
            throw new IllegalArgumentException("uploadInts: " + values.length + " values for shape " + Arrays.toString(shape));
        }
        CudaTensor t = (CudaTensor) empty(DType.I32, shape);
        check(CudaNative.svj_memcpy_h2d(t.ptr(), values, t.bytes(), stream), "upload");
        synchronize();
        return t;
    }

    @Override
    public HostTensor download(Tensor t) {
        CudaTensor c = cuda(t, "download");
        float[] out = new float[Math.toIntExact(c.numel())];
        check(CudaNative.svj_memcpy_d2h(out, c.ptr(), c.bytes(), stream), "download");
        return new HostTensor(out, c.shape());
    }

    @Override
    public int[] downloadInts(Tensor t) {
        CudaTensor c = cuda(t, "downloadInts");
        int[] out = new int[Math.toIntExact(c.numel())];
        check(CudaNative.svj_memcpy_d2h(out, c.ptr(), c.bytes(), stream), "download");
        return out;
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CudaTensor s = cuda(src, "copy");
        CudaTensor d = cuda(dst, "copy");
        if (s.numel() != d.numel() || s.dtype() != d.dtype()) {
            throw new IllegalArgumentException("copy: " + s + " into " + d);
        }
        check(CudaNative.svj_memcpy_d2d(d.ptr(), s.ptr(), s.bytes(), stream), "copy");
    }

    @Override
    public void synchronize() {
        check(CudaNative.svj_stream_synchronize(stream), "stream synchronize");
    }

    private CudaTensor cuda(Tensor t, String op) {
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException(op + ": tensor " + t + " does not belong to the CUDA backend");
    }

    private long ptr(Tensor t, String op) {
        return t == null ? 0 : cuda(t, op).ptr();
    }

    // ------------------------------------------------------------------------------------- math

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        CudaTensor xt = cuda(x, "linear");
        CudaTensor wt = cuda(w, "linear");
        CudaTensor ot = cuda(out, "linear");
        if (wt.rank() < 2) {
            throw new IllegalArgumentException("linear: weight must be [N, K], got " + Arrays.toString(wt.shape()));
        }
        int n = wt.dim(0);
        int k = (int) (wt.numel() / n); // [N, K...] flattened, e.g. a [C, Cin, p, p] convolution weight
        if (xt.dim(-1) != k || ot.dim(-1) != n || xt.numel() / k != ot.numel() / n) {
            throw new IllegalArgumentException("linear: input " + Arrays.toString(xt.shape()) + ", weight "
                    + Arrays.toString(wt.shape()) + " and output " + Arrays.toString(ot.shape()) + " do not match");
        }
        long m = xt.numel() / k;
        if (m == 0) {
            return;
        }
        try (FloatPointer alpha = new FloatPointer(1f); FloatPointer beta = new FloatPointer(0f)) {
            // row-major out[M, N] = x[M, K] w[N, K]^T is column-major out^T = w^T(op T) * x^T
            checkBlas(cublas.cublasSgemm_v2(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, (int) m, k, alpha,
                    new FloatPointer(new Address(wt.ptr())), k, new FloatPointer(new Address(xt.ptr())), k, beta,
                    new FloatPointer(new Address(ot.ptr())), n), "sgemm");
        }
        if (bias != null) {
            check(CudaNative.svj_bias_add(ot.ptr(), ptr(bias, "linear"), m, n, stream), "bias add");
        }
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        CudaTensor xt = cuda(x, "layerNorm");
        int c = xt.dim(-1);
        if (out.numel() != xt.numel() || gamma.numel() != c || beta.numel() != c) {
            throw new IllegalArgumentException("layerNorm: shapes " + Arrays.toString(xt.shape()) + " / "
                    + Arrays.toString(out.shape()) + " / gamma " + gamma.numel() + " do not match");
        }
        check(CudaNative.svj_layer_norm(xt.ptr(), ptr(gamma, "layerNorm"), ptr(beta, "layerNorm"), ptr(out, "layerNorm"),
                xt.numel() / c, c, eps, stream), "layerNorm");
    }

    @Override
    public void addLayerNorm(Tensor a, Tensor b, Tensor gamma, Tensor beta, float eps, Tensor out) {
        int c = a.dim(-1);
        if (b.numel() != a.numel() || out.numel() != a.numel() || gamma.numel() != c || beta.numel() != c || out == a) {
            throw new IllegalArgumentException("addLayerNorm: shapes " + Arrays.toString(a.shape()) + ", "
                    + Arrays.toString(b.shape()) + ", " + Arrays.toString(out.shape()) + " do not match (out must differ from a)");
        }
        check(CudaNative.svj_add_layer_norm(ptr(a, "addLayerNorm"), ptr(b, "addLayerNorm"), ptr(gamma, "addLayerNorm"),
                ptr(beta, "addLayerNorm"), ptr(out, "addLayerNorm"), a.numel() / c, c, eps, stream), "addLayerNorm");
    }

    @Override
    public void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (bias == null) {
            linear(x, w, null, out);
            gelu(out);
            return;
        }
        linear(x, w, null, out);
        int n = out.dim(-1);
        check(CudaNative.svj_bias_gelu(ptr(out, "linearGelu"), ptr(bias, "linearGelu"), out.numel() / n, n, stream),
                "bias + GELU");
    }

    @Override
    public void gelu(Tensor x) {
        check(CudaNative.svj_gelu(ptr(x, "gelu"), x.numel(), stream), "gelu");
    }

    @Override
    public void add(Tensor a, Tensor b) {
        if (a.numel() != b.numel()) {
            throw new IllegalArgumentException("add: shapes " + Arrays.toString(a.shape()) + " and "
                    + Arrays.toString(b.shape()) + " differ");
        }
        check(CudaNative.svj_add(ptr(a, "add"), ptr(b, "add"), a.numel(), stream), "add");
    }

    // ------------------------------------------------------------------------------------- structure

    @Override
    public void patchEmbed(Tensor img, Tensor w, Tensor bias, int patch, Tensor out) {
        CudaTensor it = cuda(img, "patchEmbed");
        CudaTensor wt = cuda(w, "patchEmbed");
        if (it.rank() != 4 || wt.rank() != 4 || wt.dim(1) != it.dim(1) || wt.dim(2) != patch || wt.dim(3) != patch) {
            throw new IllegalArgumentException("patchEmbed: image " + Arrays.toString(it.shape()) + " and weight "
                    + Arrays.toString(wt.shape()) + " do not match");
        }
        int b = it.dim(0);
        int cin = it.dim(1);
        int ho = (it.dim(2) + patch - 1) / patch;
        int wo = (it.dim(3) + patch - 1) / patch;
        int c = wt.dim(0);
        Shapes.check("patchEmbed: output", out.shape(), b, ho * wo, c);
        int kk = cin * patch * patch;
        try (Tensor cols = empty(DType.F32, b * ho * wo, kk)) {
            check(CudaNative.svj_im2col_patches(it.ptr(), ptr(cols, "patchEmbed"), b, cin, it.dim(2), it.dim(3), patch,
                    stream), "im2col");
            linear(cols, wt, bias, out); // the [C, Cin, p, p] weight is the [C, Cin * p * p] matrix
        }
    }

    @Override
    public void patchMerge(Tensor x, int height, int width, MergeOrder order, Tensor out) {
        CudaTensor xt = cuda(x, "patchMerge");
        int b = xt.dim(0);
        int c = xt.dim(-1);
        Shapes.check("patchMerge: output", out.shape(), b, ((height + 1) / 2) * ((width + 1) / 2), 4 * c);
        check(CudaNative.svj_patch_merge(xt.ptr(), ptr(out, "patchMerge"), b, height, width, c,
                order == MergeOrder.CONCAT ? 0 : 1, stream), "patchMerge");
    }

    @Override
    public void meanPool(Tensor x, Tensor out) {
        check(CudaNative.svj_mean_pool(ptr(x, "meanPool"), ptr(out, "meanPool"), x.dim(0), x.dim(1), x.dim(2), stream),
                "meanPool");
    }

    @Override
    public void toChannelsFirst(Tensor x, int height, int width, Tensor out) {
        Shapes.check("toChannelsFirst: output", out.shape(), x.dim(0), x.dim(-1), height, width);
        check(CudaNative.svj_to_channels_first(ptr(x, "toChannelsFirst"), ptr(out, "toChannelsFirst"), x.dim(0),
                height * width, x.dim(-1), stream), "toChannelsFirst");
    }

    // ------------------------------------------------------------------------------------- windows

    private void checkTile(Tensor tile, Tensor map, WindowGrid g, int k, String op) {
        if (map.rank() != 3 || map.dim(1) != g.height() * g.width()) {
            throw new IllegalArgumentException(op + ": token map must be [B, " + g.height() + "*" + g.width()
                    + ", C], got " + Arrays.toString(map.shape()));
        }
        Shapes.check(op + ": tile", tile.shape(), map.dim(0), k, g.windowTokens(), map.dim(2));
    }

    @Override
    public void gatherWindows(Tensor x, WindowGrid g, Tensor order, int k, Tensor out) {
        checkTile(out, x, g, k, "gatherWindows");
        check(CudaNative.svj_gather_windows(ptr(x, "gatherWindows"), ptr(out, "gatherWindows"), ptr(order, "gatherWindows"),
                x.dim(0), g.height(), g.width(), x.dim(2), g.window(), g.shift(), k, stream), "gatherWindows");
    }

    @Override
    public void scatterWindows(Tensor tile, WindowGrid g, Tensor order, int k, Tensor x) {
        checkTile(tile, x, g, k, "scatterWindows");
        check(CudaNative.svj_scatter_windows(ptr(tile, "scatterWindows"), ptr(x, "scatterWindows"),
                ptr(order, "scatterWindows"), x.dim(0), g.height(), g.width(), x.dim(2), g.window(), g.shift(), k,
                stream), "scatterWindows");
    }

    @Override
    public void zeroPadding(Tensor tile, WindowGrid g, Tensor order, int k) {
        check(CudaNative.svj_zero_padding(ptr(tile, "zeroPadding"), ptr(order, "zeroPadding"), tile.dim(0), g.height(),
                g.width(), tile.dim(-1), g.window(), g.shift(), k, stream), "zeroPadding");
    }

    @Override
    public void windowAttention(Tensor qkv, Tensor biasTable, int heads, WindowGrid g, Tensor order, int k,
                                Tensor out) {
        int c = out.dim(-1);
        Shapes.check("windowAttention: qkv", qkv.shape(), out.dim(0), k, g.windowTokens(), 3 * c);
        int tw = 2 * g.biasWindow() - 1;
        Shapes.check("windowAttention: bias table", biasTable.shape(), tw * tw, heads);
        check(CudaNative.svj_window_attention(ptr(qkv, "windowAttention"), ptr(biasTable, "windowAttention"),
                ptr(out, "windowAttention"), ptr(order, "windowAttention"), out.dim(0), g.height(), g.width(), c, heads,
                g.window(), g.shift(), g.biasWindow(), k, stream), "windowAttention");
    }

    // ------------------------------------------------------------------------------------- importance

    @Override
    public void tokenImportance(Tensor x, Tensor out) {
        Shapes.check("tokenImportance: output", out.shape(), x.dim(0), x.dim(1));
        check(CudaNative.svj_token_importance(ptr(x, "tokenImportance"), ptr(out, "tokenImportance"),
                (long) x.dim(0) * x.dim(1), x.dim(2), stream), "tokenImportance");
    }

    @Override
    public void windowScores(Tensor a, WindowGrid g, Tensor out) {
        Shapes.check("windowScores: output", out.shape(), a.dim(0), g.numWindows());
        check(CudaNative.svj_window_scores(ptr(a, "windowScores"), ptr(out, "windowScores"), a.dim(0), g.height(),
                g.width(), g.window(), g.shift(), stream), "windowScores");
    }

    @Override
    public void sortWindows(Tensor scores, Tensor order) {
        Shapes.check("sortWindows: order", order.shape(), scores.shape());
        check(CudaNative.svj_sort_windows(ptr(scores, "sortWindows"), ptr(order, "sortWindows"), scores.dim(0),
                scores.dim(1), 0, 0, stream), "sortWindows");
    }

    // ------------------------------------------------------------------------------------- graphs

    /**
     * A captured sequence of launches on this session's stream, replayable without host work. It owns the
     * memory its launches used (every temporary the captured work released), so replays never race with
     * other work of the session; closing the graph returns that memory to the pool.
     */
    public final class Graph implements org.sparsevit.backend.Captured {
        private long exec;
        private final List<long[]> held;
        private final List<Tensor> outputs;

        private Graph(long exec, List<long[]> held, List<Tensor> outputs) {
            this.exec = exec;
            this.held = held;
            this.outputs = outputs;
        }

        /** Enqueues the whole captured sequence (no host synchronisation). */
        @Override
        public void replay() {
            if (exec == 0) {
                throw new IllegalStateException("graph is closed");
            }
            check(CudaNative.svj_graph_launch(exec, stream), "graph launch");
        }

        /** The tensors the captured work returned; every replay rewrites them. */
        @Override
        public List<Tensor> outputs() {
            return outputs;
        }

        @Override
        public void close() {
            if (exec != 0) {
                synchronize();
                CudaNative.svj_graph_destroy(exec);
                exec = 0;
                outputs.forEach(Tensor::close);
                synchronized (CudaBackend.this) {
                    for (long[] b : held) {
                        release(b[0], (int) b[1]);
                    }
                }
            }
        }
    }

    /**
     * Captures the launches {@code work} enqueues. It must not synchronise or copy to the host, and should
     * have run once uncaptured so the pool already holds every buffer it needs (then nothing is allocated).
     */
    public Graph capture(Runnable work) {
        return capture(() -> {
            work.run();
            return List.of();
        });
    }

    /** Captures {@code work}, keeping the tensors it returns as the graph's outputs. */
    @Override
    public Graph capture(Supplier<List<Tensor>> work) {
        synchronize();
        List<long[]> held = new ArrayList<>();
        synchronized (this) {
            if (captureHeld != null) {
                throw new IllegalStateException("a capture is already in progress on this session");
            }
            captureHeld = held;
        }
        check(CudaNative.svj_graph_begin_capture(stream), "begin capture");
        long[] exec = new long[1];
        List<Tensor> outs;
        try {
            outs = work.get();
        } catch (RuntimeException e) {
            CudaNative.svj_graph_end_capture(stream, exec);
            synchronized (this) {
                captureHeld = null;
                for (long[] b : held) {
                    release(b[0], (int) b[1]);
                }
            }
            throw e;
        }
        int rc = CudaNative.svj_graph_end_capture(stream, exec);
        synchronized (this) {
            captureHeld = null;
        }
        check(rc, "end capture");
        return new Graph(exec[0], held, outs);
    }

    /** Milliseconds of device time {@code work} takes, measured with CUDA events on this stream. */
    public float timeMs(Runnable work) {
        long[] a = new long[1];
        long[] b = new long[1];
        check(CudaNative.svj_event_create(a), "event create");
        check(CudaNative.svj_event_create(b), "event create");
        try {
            check(CudaNative.svj_event_record(a[0], stream), "event record");
            work.run();
            check(CudaNative.svj_event_record(b[0], stream), "event record");
            float[] ms = new float[1];
            check(CudaNative.svj_event_elapsed_ms(a[0], b[0], ms), "event elapsed");
            return ms[0];
        } finally {
            CudaNative.svj_event_destroy(a[0]);
            CudaNative.svj_event_destroy(b[0]);
        }
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        synchronize();
        trim();
        closed = true;
        cublas.cublasDestroy_v2(handle);
        CudaNative.svj_free(workspace);
        CudaNative.svj_stream_destroy(stream);
    }
}

package org.sparsevit.backend.cpu;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.ForkJoinPool;

import org.bytedeco.openblas.global.openblas_nolapack;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.io.Half;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Shapes;
import org.sparsevit.tensor.Tensor;

/**
 * The reference backend: Java, with native AVX2/FMA kernels ({@link CpuNative}) for the linear layers, window
 * attention and LayerNorm where they run, and OpenBLAS GEMMs (through the JavaCPP presets, on off-heap memory
 * without copies) otherwise. Multithreaded over all cores with {@link CpuPool}. Stateless apart from its memory
 * pool and caches of weights derived for the kernels, so one instance may be shared by threads.
 * Never touches a CUDA class.
 */
public final class CpuBackend implements Backend {
    private static final float NEG_MASK = -100f;
    private static final int THREADS = threads();
    private static final CpuPool POOL = new CpuPool(THREADS - 1);

    private final CpuMemory memory;
    private final int threads;
    private final DType storage;
    private final Precision precision;
    /** Linear layers and window attention in the native AVX2 kernels (F32 only), else Java + OpenBLAS. */
    private final boolean nativeKernels;

    /** The FP32 reference backend. */
    public CpuBackend() {
        this(Precision.FP32);
    }

    /**
     * A CPU backend for a precision. FP32 is the reference. FP16 and BF16 <b>emulate</b> a GPU session's
     * reduced-precision storage: F16/BF16 tensors hold values rounded to that type (to nearest even) after
     * every op that computes them, while the math inside each op stays float32, as in the CUDA kernels.
     * It predicts the numerics of FP16/BF16 inference on machines without a GPU and is the CPU twin of the
     * GPU's F16/BF16 path; it is not faster than FP32. TF32 (a GEMM mode) is not emulated.
     */
    public CpuBackend(Precision precision) {
        this(precision, true);
    }

    /**
     * As {@link #CpuBackend(Precision)}; {@code allowNative} false keeps every op on the Java + OpenBLAS path
     * (which is also what runs where the native kernels are unavailable), so tests can hold the two against
     * each other.
     */
    CpuBackend(Precision precision, boolean allowNative) {
        CpuNative.checkProperty();
        this.precision = precision;
        this.storage = switch (precision) {
            case FP32 -> DType.F32;
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
            case TF32 -> throw new IllegalArgumentException("the CPU backend does not emulate TF32 GEMMs");
        };
        this.nativeKernels = allowNative && storage == DType.F32 && CpuNative.available();
        this.memory = new CpuMemory(4L << 30);
        this.threads = THREADS;
        // OpenBLAS runs single-threaded; this backend splits GEMMs over rows on its own threads. Idle
        // OpenBLAS worker threads spin for a while after each call, which on few cores starves the Java
        // threads of the ops in between (measured: GELU 10x slower with 2 OpenBLAS threads on 2 cores).
        openblas_nolapack.blas_set_num_threads(1);
    }

    CpuMemory memory() {
        return memory;
    }

    /**
     * Threads the ops run on: the calling thread plus one worker per unit of the common fork-join pool's
     * parallelism (the setting Java users know: cores - 1 by default, set with
     * -Djava.util.concurrent.ForkJoinPool.common.parallelism). Set to 0 it means no workers, although the
     * pool then reports a parallelism of 1.
     */
    static int threads() {
        String set = System.getProperty("java.util.concurrent.ForkJoinPool.common.parallelism");
        if (set != null && set.trim().equals("0")) {
            return 1;
        }
        return ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** Whether linear layers and window attention run in the native kernels (else Java + OpenBLAS). */
    public boolean nativeKernels() {
        return nativeKernels;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public String device() {
        return String.format(Locale.ROOT, "CPU, %d thread%s, %s, %s", threads, threads == 1 ? "" : "s",
                nativeKernels ? "native AVX2 kernels" : "Java kernels", openblas_nolapack.OPENBLAS_VERSION.trim());
    }

    @Override
    public boolean supports(DType dtype) {
        return dtype == DType.F32 || dtype == DType.I32 || dtype == storage;
    }

    @Override
    public DType storage() {
        return storage;
    }

    @Override
    public Precision precision() {
        return precision;
    }

    @Override
    public void close() {
        memory.clear();
    }

    /**
     * A workspace scope (see {@link org.sparsevit.backend.WorkspaceArena}): from the second run of a key on, the
     * planned tensors are slices of one direct buffer. Scopes are per thread; a backend shared by threads
     * gives a key's slab to one run at a time (the others use the pool).
     */
    @Override
    public org.sparsevit.backend.Workspace workspace(Object key) {
        return memory.arena().open(key);
    }

    /** The arena: its plans, capacity and where its notes go. */
    public org.sparsevit.backend.WorkspaceArena<java.nio.ByteBuffer> workspaces() {
        return memory.arena();
    }

    /** Direct buffers allocated, bytes in use, in slabs, peak. */
    @Override
    public org.sparsevit.backend.MemoryStats memoryStats() {
        return memory.arena().stats();
    }

    // ------------------------------------------------------------------------------------- memory

    @Override
    public Tensor empty(DType dtype, int... shape) {
        if (!supports(dtype)) {
            throw new IllegalArgumentException("CPU backend " + (storage == DType.F32 ? "computes in F32"
                    : "emulates " + storage + " storage") + "; " + dtype + " tensors are not supported");
        }
        long n = Shapes.numel(shape);
        return new CpuTensor(this, memory.acquire(Math.max(4, n * 4), dtype + Arrays.toString(shape)), dtype, shape);
    }

    @Override
    public Tensor zeros(DType dtype, int... shape) {
        CpuTensor t = (CpuTensor) empty(dtype, shape);
        long n = t.numel();
        if (dtype == DType.I32) {
            IntBuffer b = t.i();
            for (int i = 0; i < n; i++) {
                b.put(i, 0);
            }
        } else {
            fill(t.f(), 0, (int) n, 0f);
        }
        return t;
    }

    @Override
    public Tensor upload(HostTensor host) {
        CpuTensor t = (CpuTensor) empty(DType.F32, host.shape());
        t.f().put(0, host.data());
        return t;
    }

    @Override
    public Tensor upload(HostTensor host, DType dtype) {
        if (dtype == DType.I32) {
            throw new IllegalArgumentException("upload: use uploadInts for I32 tensors");
        }
        CpuTensor t = (CpuTensor) empty(dtype, host.shape());
        t.f().put(0, host.data());
        stored(t);
        return t;
    }

    /**
     * The CPU twin of the GPU's frame normalisation: each value is {@link Frames#normalize} of its byte (looked up
     * in a table of the 3 x 256 possible results, so bitwise that expression), written straight into the tensor;
     * F16/BF16 then rounded as every op's output is.
     */
    @Override
    public Tensor uploadFrames(Frames frames, DType dtype) {
        if (frames == null) {
            throw new IllegalArgumentException("uploadFrames: frames must not be null");
        }
        if (dtype == null || dtype == DType.I32) {
            throw new IllegalArgumentException("uploadFrames: storage must be F32, F16 or BF16, got " + dtype);
        }
        CpuTensor t = (CpuTensor) empty(dtype, frames.tensorShape());
        float[] table = new float[3 * 256];
        for (int c = 0; c < 3; c++) {
            for (int v = 0; v < 256; v++) {
                table[c * 256 + v] = frames.normalize(v, c);
            }
        }
        java.nio.ByteBuffer px = frames.pixels();
        Frames.ChannelOrder order = frames.channelOrder();
        FloatBuffer f = t.f();
        int h = frames.height();
        int w = frames.width();
        // one (image, channel, row) per item: each writes one contiguous row of the NCHW output
        parallel(frames.batch() * 3 * h, 64, (lo, hi) -> {
            float[] row = new float[w];
            for (int item = lo; item < hi; item++) {
                int y = item % h;
                int c = item / h % 3;
                int b = item / h / 3;
                int src = ((b * h + y) * w) * 3 + order.offsetOf(c);
                for (int x = 0; x < w; x++) {
                    row[x] = table[c * 256 + (px.get(src + 3 * x) & 0xff)];
                }
                f.put(item * w, row, 0, w);
            }
        });
        stored(t);
        return t;
    }

    @Override
    public Tensor uploadInts(int[] values, int... shape) {
        if (Shapes.numel(shape) != values.length) {
            throw new IllegalArgumentException("uploadInts: " + values.length + " values for shape " + Arrays.toString(shape));
        }
        CpuTensor t = (CpuTensor) empty(DType.I32, shape);
        t.i().put(0, values);
        return t;
    }

    @Override
    public HostTensor download(Tensor t) {
        CpuTensor c = cpu(t, "download");
        float[] out = new float[Math.toIntExact(c.numel())];
        c.f().get(0, out);
        return new HostTensor(out, c.shape());
    }

    @Override
    public int[] downloadInts(Tensor t) {
        CpuTensor c = cpu(t, "downloadInts");
        int[] out = new int[Math.toIntExact(c.numel())];
        c.i().get(0, out);
        return out;
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CpuTensor s = cpu(src, "copy");
        CpuTensor d = out(dst, "copy");
        if (s.numel() != d.numel() || s.dtype() != d.dtype()) {
            throw new IllegalArgumentException("copy: " + s + " into " + d);
        }
        if (s.dtype() == DType.I32) {
            d.i().put(0, s.i(), 0, (int) s.numel());
        } else {
            d.f().put(0, s.f(), 0, (int) s.numel());
        }
    }

    private CpuTensor cpu(Tensor t, String op) {
        if (t instanceof CpuTensor c) {
            // tensors of another CpuBackend instance are fine too (model sessions): it is all host memory
            return c;
        }
        throw new IllegalArgumentException(op + ": tensor " + (t == null ? "null" : t.toString())
                + " does not belong to the CPU backend");
    }

    /** An op's output (or in-place operand): as {@link #cpu}, and marks the tensor written. */
    private CpuTensor out(Tensor t, String op) {
        CpuTensor c = cpu(t, op);
        c.written();
        return c;
    }

    // ------------------------------------------------------------------------------------- helpers

    /** Rounds an F16/BF16 tensor's values to its type in place (what storing them on a GPU does); F32: no-op. */
    private static void stored(CpuTensor t) {
        DType d = t.dtype();
        if (d != DType.F16 && d != DType.BF16) {
            return;
        }
        FloatBuffer f = t.f();
        int n = Math.toIntExact(t.numel());
        int block = 8192;
        parallel((n + block - 1) / block, 4, (lo, hi) -> {
            float[] buf = new float[block];
            for (int blk = lo; blk < hi; blk++) {
                int off = blk * block;
                int len = Math.min(block, n - off);
                f.get(off, buf, 0, len);
                for (int i = 0; i < len; i++) {
                    buf[i] = d == DType.F16 ? Half.toFloat(Half.fromFloat(buf[i]))
                            : Half.bf16ToFloat(Half.floatToBf16(buf[i]));
                }
                f.put(off, buf, 0, len);
            }
        });
    }

    /** All floating tensors of an op share one dtype (as on the GPU); null entries are skipped. */
    private static void sameType(String op, Tensor first, Tensor... rest) {
        if (first.dtype() == DType.I32) {
            throw new IllegalArgumentException(op + ": " + first + " must be a floating tensor");
        }
        for (Tensor t : rest) {
            if (t != null && t.dtype() != first.dtype()) {
                throw new IllegalArgumentException(op + ": " + t + " must have the dtype of " + first);
            }
        }
    }

    private static void fill(FloatBuffer b, int from, int n, float v) {
        for (int i = 0; i < n; i++) {
            b.put(from + i, v);
        }
    }

    /** Runs body(chunkStart, chunkEnd) over [0, n) in parallel chunks of about {@code grain} items. */
    private static void parallel(int n, int grain, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.max(1, Math.min(n / Math.max(1, grain), 4 * THREADS));
        if (chunks == 1) {
            body.run(0, n);
            return;
        }
        POOL.run(chunks, c -> {
            int lo = (int) ((long) n * c / chunks);
            int hi = (int) ((long) n * (c + 1) / chunks);
            body.run(lo, hi);
        });
    }

    @FunctionalInterface
    private interface RangeBody {
        void run(int lo, int hi);
    }

    private static int rows(CpuTensor t, int lastDim, String op, String name) {
        if (t.rank() == 0 || t.dim(-1) != lastDim) {
            throw new IllegalArgumentException(op + ": " + name + " " + Arrays.toString(t.shape())
                    + " must have last dimension " + lastDim);
        }
        return (int) (t.numel() / lastDim);
    }

    private static void sgemm(boolean transB, int m, int n, int k, float alpha, FloatBuffer a, int aOff, int lda,
                              FloatBuffer b, int bOff, int ldb, float beta, FloatBuffer c, int cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        openblas_nolapack.cblas_sgemm(openblas_nolapack.CblasRowMajor, openblas_nolapack.CblasNoTrans,
                transB ? openblas_nolapack.CblasTrans : openblas_nolapack.CblasNoTrans, m, n, k, alpha,
                a.duplicate().position(aOff), lda, b.duplicate().position(bOff), ldb, beta,
                c.duplicate().position(cOff), ldc);
    }

    // ------------------------------------------------------------------------------------- dense math

    @Override
    public void linear(Tensor x, Tensor w, Tensor bias, Tensor out) {
        gemm("linear", x, w, bias, out, 0f, false);
    }

    @Override
    public void linearResidual(Tensor x, Tensor w, Tensor bias, Tensor residual) {
        if (x == residual) {
            throw new IllegalArgumentException("linearResidual: the input cannot be the residual it accumulates into");
        }
        gemm("linearResidual", x, w, bias, residual, 1f, false);
    }

    @Override
    public void linearGelu(Tensor x, Tensor w, Tensor bias, Tensor out) {
        if (storage != DType.F32) {
            // the reduced-precision twin rounds the GEMM's output before GELU, as the GPU's unfused path stores it
            // (its fused fc1 kernel, sparsevit.fusedGelu, rounds once, after the GELU: they differ by that rounding of
            // the pre-activation, well within the F16/BF16 tolerance)
            Backend.super.linearGelu(x, w, bias, out);
            return;
        }
        gemm("linearGelu", x, w, bias, out, 0f, true);
    }

    /** GEMMs smaller than this many multiply-adds run on the calling thread alone. */
    private static final long PARALLEL_MACS = 1L << 20;

    /**
     * out = x w^T + bias + beta * out (beta 0 or 1), then GELU if asked. With the native kernels: the weight is
     * packed once (cached with the tensor) and bias, residual and GELU are applied in the GEMM's registers
     * before the single store. Otherwise one OpenBLAS call per thread: each call packs the weight again, so
     * cutting a GEMM into more pieces than threads only costs. Either way rows are split where
     * each thread gets at least 192 of them, columns otherwise (the late stages at small batch: 49 or 196
     * tokens against wide weights). Bias and GELU run on each piece's output right after its GEMM, on the same
     * thread, in one pass written so that the JIT vectorises it.
     */
    private void gemm(String op, Tensor x, Tensor w, Tensor bias, Tensor out, float beta, boolean gelu) {
        CpuTensor xt = cpu(x, op);
        CpuTensor wt = cpu(w, op);
        CpuTensor ot = out(out, op);
        if (out == x || out == w) {
            throw new IllegalArgumentException(op + ": the output cannot be the " + (out == x ? "input" : "weight")
                    + " (a GEMM does not run in place)");
        }
        if (wt.rank() < 2 || wt.dim(0) == 0) {
            throw new IllegalArgumentException(op + ": weight must be [N, K] with N > 0, got "
                    + Arrays.toString(wt.shape()));
        }
        int n = wt.dim(0);
        int k = (int) (wt.numel() / n); // [N, K...] flattened, e.g. a [C, Cin, p, p] convolution weight
        int m = rows(xt, k, op, "input");
        if (rows(ot, n, op, "output") != m) {
            throw new IllegalArgumentException(op + ": output " + Arrays.toString(ot.shape()) + " does not match input "
                    + Arrays.toString(xt.shape()) + " and weight " + Arrays.toString(wt.shape()));
        }
        if (bias != null && cpu(bias, op).numel() != n) {
            throw new IllegalArgumentException(op + ": bias " + Arrays.toString(bias.shape()) + " must have " + n + " values");
        }
        sameType(op, xt, wt, ot, bias);
        FloatBuffer o = ot.f();
        if (m == 0) {
            return;
        }
        FloatBuffer xf = xt.f();
        int pieces = (long) m * n * k < PARALLEL_MACS ? 1 : threads;
        // rows where each thread gets 192 of them (measured at 2 threads: Swin-T's 196-token GEMMs run 7% faster
        // split over columns, its 784- and 3136-token ones faster over rows); column pieces are at least 32
        // columns wide before rounding to 16
        boolean byRows = m >= 192 * pieces || n < 32 * pieces;
        if (nativeKernels) {
            FloatBuffer packed = wt.packedWeights(n, k);
            FloatBuffer bf = bias == null ? null : ((CpuTensor) bias).f();
            parallelPieces(pieces, piece -> {
                int[] r = piece(m, n, pieces, piece, byRows);
                CpuNative.check(CpuNative.svj_cpu_linear(xf, k, packed, n, bf, o, beta != 0 ? 1 : 0, gelu ? 1 : 0,
                        r[0], r[1], r[2], r[3]), "linear");
            });
            return;
        }
        FloatBuffer wf = wt.f();
        float[] bv = new float[n];
        if (bias != null) {
            ((CpuTensor) bias).f().get(0, bv);
        }
        boolean epilogue = bias != null || gelu;
        parallelPieces(pieces, piece -> {
            int[] r = piece(m, n, pieces, piece, byRows);
            int r0 = r[0];
            int r1 = r[1];
            int c0 = r[2];
            int c1 = r[3];
            sgemm(true, r1 - r0, c1 - c0, k, 1f, xf, r0 * k, k, wf, c0 * k, k, beta, o, r0 * n + c0, n);
            if (epilogue) {
                int len = c1 - c0;
                float[] row = new float[len];
                float[] bs = Arrays.copyOfRange(bv, c0, c1);
                for (int i = r0; i < r1; i++) {
                    o.get(i * n + c0, row);
                    if (gelu) {
                        Erf.biasGelu(row, bs, len);
                    } else {
                        for (int j = 0; j < len; j++) {
                            row[j] += bs[j];
                        }
                    }
                    o.put(i * n + c0, row);
                }
            }
        });
        stored(ot);
    }

    /**
     * A GEMM piece's {row0, row1, col0, col1}: whole rows, or whole columns on 16-column boundaries (whole SIMD
     * vectors of OpenBLAS's packed panels, and the native kernels' panel width).
     */
    private static int[] piece(int m, int n, int pieces, int piece, boolean byRows) {
        if (byRows) {
            return new int[] {(int) ((long) m * piece / pieces), (int) ((long) m * (piece + 1) / pieces), 0, n};
        }
        int c0 = n * piece / pieces / 16 * 16;
        int c1 = piece == pieces - 1 ? n : n * (piece + 1) / pieces / 16 * 16;
        return new int[] {0, m, c0, c1};
    }

    /** A direct buffer of {@code values} 4-byte values in native order (native kernels' scratch). */
    private static java.nio.ByteBuffer direct(int values) {
        return java.nio.ByteBuffer.allocateDirect(values * 4).order(java.nio.ByteOrder.nativeOrder());
    }

    /** Runs body(piece) for piece in [0, pieces), one piece per thread (the caller takes one). */
    private static void parallelPieces(int pieces, java.util.function.IntConsumer body) {
        if (pieces <= 1) {
            body.accept(0);
            return;
        }
        POOL.run(pieces, body);
    }

    @Override
    public void layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        CpuTensor xt = cpu(x, "layerNorm");
        CpuTensor ot = out(out, "layerNorm");
        int c = xt.dim(-1);
        int m = rows(xt, c, "layerNorm", "input");
        if (ot.numel() != xt.numel() || ot.dim(-1) != c) {
            throw new IllegalArgumentException("layerNorm: output " + Arrays.toString(ot.shape()) + " must match input "
                    + Arrays.toString(xt.shape()));
        }
        CpuTensor gt = cpu(gamma, "layerNorm");
        CpuTensor bt = cpu(beta, "layerNorm");
        if (gt.numel() != c || bt.numel() != c) {
            throw new IllegalArgumentException("layerNorm: gamma and beta must have " + c + " values (the input's last"
                    + " dimension), got " + gt.numel() + " and " + bt.numel());
        }
        sameType("layerNorm", xt, gamma, beta, ot);
        float[] g = new float[c];
        float[] b = new float[c];
        gt.f().get(0, g);
        bt.f().get(0, b);
        if (!(eps >= 0f) || Float.isInfinite(eps)) {
            throw new IllegalArgumentException("layerNorm: eps must be a finite value >= 0, got " + eps);
        }
        FloatBuffer in = xt.f();
        FloatBuffer o = ot.f();
        if (nativeKernels && c % 8 == 0) {
            FloatBuffer gf = cpu(gamma, "layerNorm").f();
            FloatBuffer bf = cpu(beta, "layerNorm").f();
            // pieces of at least 64K values: a row of Swin-T takes tens of nanoseconds here, less than waking a thread
            parallel(m, Math.max(32, (1 << 16) / c), (lo, hi) -> CpuNative.check(
                    CpuNative.svj_cpu_layer_norm(in, gf, bf, eps, c, o, lo, hi), "layer_norm"));
            return;
        }
        parallel(m, 32, (lo, hi) -> {
            float[] row = new float[c];
            for (int r = lo; r < hi; r++) {
                in.get(r * c, row);
                normalizeRow(row, g, b, eps);
                o.put(r * c, row);
            }
        });
        stored(ot);
    }

    /** LayerNorm of one row in place; mean and variance in double (biased variance, as PyTorch). */
    static void normalizeRow(float[] row, float[] g, float[] b, float eps) {
        int c = row.length;
        // sums in double, in four independent chains (one chain waits on the adder's latency every element)
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int j4 = c & ~3;
        for (int j = 0; j < j4; j += 4) {
            s0 += row[j];
            s1 += row[j + 1];
            s2 += row[j + 2];
            s3 += row[j + 3];
        }
        for (int j = j4; j < c; j++) {
            s0 += row[j];
        }
        double mean = (s0 + s1 + s2 + s3) / c;
        double v0 = 0;
        double v1 = 0;
        double v2 = 0;
        double v3 = 0;
        for (int j = 0; j < j4; j += 4) {
            double d0 = row[j] - mean;
            double d1 = row[j + 1] - mean;
            double d2 = row[j + 2] - mean;
            double d3 = row[j + 3] - mean;
            v0 += d0 * d0;
            v1 += d1 * d1;
            v2 += d2 * d2;
            v3 += d3 * d3;
        }
        for (int j = j4; j < c; j++) {
            double d = row[j] - mean;
            v0 += d * d;
        }
        double v = v0 + v1 + v2 + v3;
        float inv = (float) (1.0 / Math.sqrt(v / c + eps));
        float mf = (float) mean;
        for (int j = 0; j < c; j++) {
            row[j] = (row[j] - mf) * inv * g[j] + b[j];
        }
    }

    @Override
    public void gelu(Tensor x) {
        CpuTensor xt = out(x, "gelu");
        FloatBuffer f = xt.f();
        int n = Math.toIntExact(xt.numel());
        int block = 4096;
        parallel((n + block - 1) / block, 4, (lo, hi) -> {
            float[] buf = new float[block];
            for (int blk = lo; blk < hi; blk++) {
                int off = blk * block;
                int len = Math.min(block, n - off);
                f.get(off, buf, 0, len);
                Erf.gelu(buf, len);
                f.put(off, buf, 0, len);
            }
        });
        stored(xt);
    }

    /** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)), erf from {@link Erf}. */
    static float gelu(float x) {
        return Erf.gelu(x);
    }

    @Override
    public void add(Tensor a, Tensor b) {
        CpuTensor at = out(a, "add");
        CpuTensor bt = cpu(b, "add");
        if (at.numel() != bt.numel()) {
            throw new IllegalArgumentException("add: shapes " + Arrays.toString(at.shape()) + " and "
                    + Arrays.toString(bt.shape()) + " differ");
        }
        sameType("add", at, bt);
        FloatBuffer fa = at.f();
        FloatBuffer fb = bt.f();
        int n = Math.toIntExact(at.numel());
        int block = 8192;
        parallel((n + block - 1) / block, 4, (lo, hi) -> {
            float[] x = new float[block];
            float[] y = new float[block];
            for (int blk = lo; blk < hi; blk++) {
                int off = blk * block;
                int len = Math.min(block, n - off);
                fa.get(off, x, 0, len);
                fb.get(off, y, 0, len);
                for (int i = 0; i < len; i++) {
                    x[i] += y[i];
                }
                fa.put(off, x, 0, len);
            }
        });
        stored(at);
    }

    // ------------------------------------------------------------------------------------- Swin structure

    @Override
    public void patchEmbed(Tensor img, Tensor w, Tensor bias, int patch, Tensor out) {
        CpuTensor it = cpu(img, "patchEmbed");
        CpuTensor wt = cpu(w, "patchEmbed");
        if (it.rank() != 4 || wt.rank() != 4 || wt.dim(1) != it.dim(1) || wt.dim(2) != patch || wt.dim(3) != patch) {
            throw new IllegalArgumentException("patchEmbed: image " + Arrays.toString(it.shape()) + " and weight "
                    + Arrays.toString(wt.shape()) + " do not match (expected [B, Cin, H, W] and [C, Cin, "
                    + patch + ", " + patch + "])");
        }
        int b = it.dim(0);
        int cin = it.dim(1);
        int h = it.dim(2);
        int wd = it.dim(3);
        int ho = (h + patch - 1) / patch;
        int wo = (wd + patch - 1) / patch;
        int c = wt.dim(0);
        Shapes.check("patchEmbed: output", out.shape(), b, ho * wo, c);
        int kk = cin * patch * patch;
        try (CpuTensor cols = (CpuTensor) empty(it.dtype(), b * ho * wo, kk)) {
            FloatBuffer src = it.f();
            FloatBuffer dst = cols.f();
            parallel(b * ho, 4, (lo, hi) -> {
                float[] row = new float[kk];
                for (int bi = lo; bi < hi; bi++) {
                    int bb = bi / ho;
                    int oy = bi % ho;
                    for (int ox = 0; ox < wo; ox++) {
                        int q = 0;
                        for (int ci = 0; ci < cin; ci++) {
                            for (int py = 0; py < patch; py++) {
                                int y = oy * patch + py;
                                for (int px = 0; px < patch; px++) {
                                    int xx = ox * patch + px;
                                    row[q++] = y < h && xx < wd ? src.get(((bb * cin + ci) * h + y) * wd + xx) : 0f;
                                }
                            }
                        }
                        dst.put((bi * wo + ox) * kk, row);
                    }
                }
            });
            linear(cols, wt, bias, out); // the [C, Cin, p, p] weight is the [C, Cin * p * p] matrix
        }
    }

    @Override
    public void patchMerge(Tensor x, int height, int width, MergeOrder order, Tensor out) {
        CpuTensor xt = cpu(x, "patchMerge");
        int b = xt.dim(0);
        int c = xt.dim(-1);
        if (xt.numel() != (long) b * height * width * c) {
            throw new IllegalArgumentException("patchMerge: input " + Arrays.toString(xt.shape()) + " is not [B, "
                    + height + "*" + width + ", C]");
        }
        int h2 = (height + 1) / 2;
        int w2 = (width + 1) / 2;
        Shapes.check("patchMerge: output", out.shape(), b, h2 * w2, 4 * c);
        sameType("patchMerge", xt, out);
        FloatBuffer src = xt.f();
        FloatBuffer dst = out(out, "patchMerge").f();
        parallel(b * h2, 2, (lo, hi) -> {
            float[] tok = new float[c];
            float[] vec = new float[4 * c];
            for (int bi = lo; bi < hi; bi++) {
                int bb = bi / h2;
                int i = bi % h2;
                for (int j = 0; j < w2; j++) {
                    for (int t = 0; t < 4; t++) {
                        // CONCAT order (0,0), (1,0), (0,1), (1,1): row offset first
                        int dy = t & 1;
                        int dx = t >> 1;
                        int y = 2 * i + dy;
                        int xx = 2 * j + dx;
                        if (y < height && xx < width) {
                            src.get(((bb * height + y) * width + xx) * c, tok);
                        } else {
                            Arrays.fill(tok, 0f);
                        }
                        if (order == MergeOrder.CONCAT) {
                            System.arraycopy(tok, 0, vec, t * c, c);
                        } else {
                            int p = dy * 2 + dx;
                            for (int ch = 0; ch < c; ch++) {
                                vec[ch * 4 + p] = tok[ch];
                            }
                        }
                    }
                    dst.put((bi * w2 + j) * 4 * c, vec);
                }
            }
        });
    }

    @Override
    public void meanPool(Tensor x, Tensor out) {
        CpuTensor xt = cpu(x, "meanPool");
        if (xt.rank() != 3) {
            throw new IllegalArgumentException("meanPool: input must be [B, L, C], got " + Arrays.toString(xt.shape()));
        }
        int b = xt.dim(0);
        int l = xt.dim(1);
        int c = xt.dim(2);
        Shapes.check("meanPool: output", out.shape(), b, c);
        sameType("meanPool", xt, out);
        FloatBuffer src = xt.f();
        FloatBuffer dst = out(out, "meanPool").f();
        float[] row = new float[c];
        for (int bb = 0; bb < b; bb++) {
            double[] acc = new double[c];
            for (int t = 0; t < l; t++) {
                src.get((bb * l + t) * c, row);
                for (int j = 0; j < c; j++) {
                    acc[j] += row[j];
                }
            }
            for (int j = 0; j < c; j++) {
                dst.put(bb * c + j, (float) (acc[j] / l));
            }
        }
        stored((CpuTensor) out);
    }

    @Override
    public void toChannelsFirst(Tensor x, int height, int width, Tensor out) {
        CpuTensor xt = cpu(x, "toChannelsFirst");
        int b = xt.dim(0);
        int c = xt.dim(-1);
        int l = height * width;
        if (xt.numel() != (long) b * l * c) {
            throw new IllegalArgumentException("toChannelsFirst: input " + Arrays.toString(xt.shape()) + " is not [B, "
                    + height + "*" + width + ", C]");
        }
        Shapes.check("toChannelsFirst: output", out.shape(), b, c, height, width);
        sameType("toChannelsFirst", xt, out);
        FloatBuffer src = xt.f();
        FloatBuffer dst = out(out, "toChannelsFirst").f();
        parallel(b * c, 8, (lo, hi) -> {
            float[] plane = new float[l];
            for (int bc = lo; bc < hi; bc++) {
                int bb = bc / c;
                int ch = bc % c;
                int base = bb * l * c + ch;
                for (int t = 0; t < l; t++) {
                    plane[t] = src.get(base + t * c);
                }
                dst.put(bc * l, plane);
            }
        });
    }

    // ------------------------------------------------------------------------------------- windows

    private int[] orderRows(Tensor order, int b, WindowGrid g, int k, String op) {
        int nW = g.numWindows();
        if (k < 0 || k > nW) {
            throw new IllegalArgumentException(op + ": k = " + k + " outside [0, " + nW + "]");
        }
        if (order == null) {
            if (k != nW) {
                throw new IllegalArgumentException(op + ": without an order list k must be nW = " + nW + ", got " + k);
            }
            return null;
        }
        CpuTensor o = cpu(order, op);
        if (o.dtype() != DType.I32 || o.numel() != (long) b * nW) {
            throw new IllegalArgumentException(op + ": order must be I32 [" + b + ", " + nW + "], got " + o.dtype()
                    + Arrays.toString(o.shape()));
        }
        int[] ids = new int[b * nW];
        o.i().get(0, ids);
        for (int v : ids) {
            if (v < 0 || v >= nW) {
                throw new IllegalArgumentException(op + ": window number " + v + " outside [0, " + nW + ")");
            }
        }
        return ids;
    }

    private static int window(int[] ids, int nW, int b, int j) {
        return ids == null ? j : ids[b * nW + j];
    }

    private void checkTile(CpuTensor tile, int b, int k, WindowGrid g, int c, String op) {
        Shapes.check(op + ": tile", tile.shape(), b, k, g.windowTokens(), c);
    }

    private static int checkMap(CpuTensor x, WindowGrid g, String op) {
        if (x.rank() != 3 || x.dim(1) != g.height() * g.width()) {
            throw new IllegalArgumentException(op + ": token map must be [B, " + g.height() + "*" + g.width()
                    + ", C], got " + Arrays.toString(x.shape()));
        }
        return x.dim(2);
    }

    @Override
    public void gatherWindows(Tensor x, WindowGrid grid, Tensor order, int k, Tensor out) {
        CpuTensor xt = cpu(x, "gatherWindows");
        int c = checkMap(xt, grid, "gatherWindows");
        int b = xt.dim(0);
        int[] ids = orderRows(order, b, grid, k, "gatherWindows");
        CpuTensor ot = out(out, "gatherWindows");
        checkTile(ot, b, k, grid, c, "gatherWindows");
        sameType("gatherWindows", xt, ot);
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        int l = grid.height() * grid.width();
        FloatBuffer src = xt.f();
        FloatBuffer dst = ot.f();
        parallel(b * k, 1, (lo, hi) -> {
            for (int bj = lo; bj < hi; bj++) {
                int bb = bj / k;
                int w = window(ids, nW, bb, bj % k);
                for (int t = 0; t < n; t++) {
                    int s = grid.sourceToken(w, t);
                    int d = (bj * n + t) * c;
                    if (s >= 0) {
                        dst.put(d, src, (bb * l + s) * c, c);
                    } else {
                        fill(dst, d, c, 0f);
                    }
                }
            }
        });
    }

    @Override
    public void rewindowWindows(Tensor from, WindowGrid fromGrid, WindowGrid grid, Tensor tile) {
        String op = "rewindowWindows";
        CpuTensor ft = cpu(from, op);
        CpuTensor ot = out(tile, op);
        fromGrid.checkRewindow(grid, ft.shape(), op);
        int b = ft.dim(0);
        int c = ft.dim(3);
        checkTile(ot, b, grid.numWindows(), grid, c, op);
        sameType(op, ft, ot);
        if (from == tile) {
            throw new IllegalArgumentException(op + ": the tile cannot be the tile it is made from");
        }
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        int fromRows = fromGrid.numWindows() * n;
        FloatBuffer src = ft.f();
        FloatBuffer dst = ot.f();
        parallel(b * nW, 1, (lo, hi) -> {
            for (int bw = lo; bw < hi; bw++) {
                int bb = bw / nW;
                int w = bw % nW;
                for (int t = 0; t < n; t++) {
                    int s = grid.sourceToken(w, t);
                    int d = (bw * n + t) * c;
                    if (s >= 0) {
                        dst.put(d, src, (bb * fromRows + fromGrid.tileRow(s)) * c, c);
                    } else {
                        fill(dst, d, c, 0f);
                    }
                }
            }
        });
    }

    @Override
    public void scatterWindows(Tensor tile, WindowGrid grid, Tensor order, int k, Tensor x) {
        CpuTensor xt = out(x, "scatterWindows");
        int c = checkMap(xt, grid, "scatterWindows");
        int b = xt.dim(0);
        int[] ids = orderRows(order, b, grid, k, "scatterWindows");
        CpuTensor tt = cpu(tile, "scatterWindows");
        checkTile(tt, b, k, grid, c, "scatterWindows");
        sameType("scatterWindows", xt, tt);
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        int l = grid.height() * grid.width();
        FloatBuffer src = tt.f();
        FloatBuffer dst = xt.f();
        parallel(b * k, 1, (lo, hi) -> {
            for (int bj = lo; bj < hi; bj++) {
                int bb = bj / k;
                int w = window(ids, nW, bb, bj % k);
                for (int t = 0; t < n; t++) {
                    int s = grid.sourceToken(w, t);
                    if (s >= 0) {
                        dst.put((bb * l + s) * c, src, (bj * n + t) * c, c);
                    }
                }
            }
        });
    }

    @Override
    public void zeroPadding(Tensor tile, WindowGrid grid, Tensor order, int k) {
        CpuTensor tt = out(tile, "zeroPadding");
        int b = tt.dim(0);
        int c = tt.dim(-1);
        checkTile(tt, b, k, grid, c, "zeroPadding");
        if (!grid.padded()) {
            return;
        }
        int[] ids = orderRows(order, b, grid, k, "zeroPadding");
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        FloatBuffer dst = tt.f();
        parallel(b * k, 4, (lo, hi) -> {
            for (int bj = lo; bj < hi; bj++) {
                int w = window(ids, nW, bj / k, bj % k);
                for (int t = 0; t < n; t++) {
                    if (grid.sourceToken(w, t) < 0) {
                        fill(dst, (bj * n + t) * c, c, 0f);
                    }
                }
            }
        });
    }

    @Override
    public void windowAttention(Tensor qkv, Tensor biasTable, int heads, WindowGrid grid, Tensor order, int k,
                                Tensor out) {
        CpuTensor qt = cpu(qkv, "windowAttention");
        CpuTensor ot = out(out, "windowAttention");
        sameType("windowAttention", qt, biasTable, ot);
        int b = qt.dim(0);
        int c3 = qt.dim(-1);
        if (c3 % 3 != 0 || (c3 / 3) % heads != 0) {
            throw new IllegalArgumentException("windowAttention: qkv width " + c3 + " is not 3 * heads * headDim (heads "
                    + heads + ")");
        }
        int c = c3 / 3;
        checkTile(qt, b, k, grid, c3, "windowAttention");
        checkTile(ot, b, k, grid, c, "windowAttention");
        int tw = 2 * grid.biasWindow() - 1;
        Shapes.check("windowAttention: bias table", biasTable.shape(), tw * tw, heads);
        int[] ids = orderRows(order, b, grid, k, "windowAttention");
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        int d = c / heads;
        float scale = (float) (1.0 / Math.sqrt(d));
        CpuTensor tt = cpu(biasTable, "windowAttention");
        FloatBuffer in = qt.f();
        FloatBuffer o = ot.f();
        if (nativeKernels && d % 8 == 0) {
            // the table expanded to [heads, N, N] once per table and window size (the table is a weight)
            FloatBuffer biasBuf = tt.derived("attention bias " + grid.window() + " " + grid.biasWindow() + " " + heads,
                    () -> {
                        float[][] bias = expandBias(tt, grid, heads);
                        FloatBuffer e = direct(heads * n * n).asFloatBuffer();
                        for (int h = 0; h < heads; h++) {
                            e.put(h * n * n, bias[h]);
                        }
                        return e;
                    });
            IntBuffer regions = null;
            if (grid.shifted()) {
                regions = direct(b * k * n).asIntBuffer();
                for (int bj = 0; bj < b * k; bj++) {
                    int w = window(ids, nW, bj / k, bj % k);
                    for (int t = 0; t < n; t++) {
                        regions.put(bj * n + t, grid.region(w, t));
                    }
                }
            }
            IntBuffer reg = regions;
            parallel(b * k * heads, 1, (lo, hi) -> CpuNative.check(CpuNative.svj_cpu_window_attention(in, o, n, heads,
                    d, scale, biasBuf, reg, NEG_MASK, lo, hi), "window_attention"));
            return;
        }
        float[][] bias = expandBias(tt, grid, heads);
        // one item per (window, head): the late stages have few windows but many heads
        parallel(b * k * heads, 1, (lo, hi) -> {
            FloatBuffer s = java.nio.ByteBuffer.allocateDirect(n * n * 4).order(java.nio.ByteOrder.nativeOrder())
                    .asFloatBuffer();
            float[] srow = new float[n * n];
            // the shift mask of the current window as an addend (0 or NEG_MASK per query and key), so that the
            // score loop has no branch and vectorises
            float[] mask = new float[n * n];
            int[] region = new int[n];
            int maskOf = -1;
            for (int item = lo; item < hi; item++) {
                int bj = item / heads;
                int h = item % heads;
                if (grid.shifted() && maskOf != bj) {
                    int w = window(ids, nW, bj / k, bj % k);
                    for (int t = 0; t < n; t++) {
                        region[t] = grid.region(w, t);
                    }
                    for (int q = 0; q < n; q++) {
                        for (int kk = 0; kk < n; kk++) {
                            mask[q * n + kk] = region[q] != region[kk] ? NEG_MASK : 0f;
                        }
                    }
                    maskOf = bj;
                }
                int base = bj * n * c3;
                sgemm(true, n, n, d, scale, in, base + h * d, c3, in, base + c + h * d, c3, 0f, s, 0, n);
                s.get(0, srow);
                // scores + bias + mask over the whole window at once (arrays indexed alike: the JIT vectorises it)
                float[] bh = bias[h];
                for (int i = 0; i < n * n; i++) {
                    srow[i] = srow[i] + bh[i] + mask[i];
                }
                for (int q = 0; q < n; q++) {
                    int r = q * n;
                    float max = Float.NEGATIVE_INFINITY;
                    for (int kk = 0; kk < n; kk++) {
                        max = Math.max(max, srow[r + kk]);
                    }
                    double sum = 0;
                    for (int kk = 0; kk < n; kk++) {
                        float e = FastExp.exp(srow[r + kk] - max);
                        srow[r + kk] = e;
                        sum += e;
                    }
                    float inv = (float) (1.0 / sum);
                    for (int kk = 0; kk < n; kk++) {
                        srow[r + kk] *= inv;
                    }
                }
                s.put(0, srow);
                sgemm(false, n, d, n, 1f, s, 0, n, in, base + 2 * c + h * d, c3, 0f, o, bj * n * c + h * d, c);
            }
        });
        stored(ot);
    }

    /** The relative position bias table [(2 Wb - 1)^2, heads] expanded to bias[head][query * N + key]. */
    private static float[][] expandBias(CpuTensor table, WindowGrid grid, int heads) {
        int n = grid.windowTokens();
        float[] t = new float[(int) table.numel()];
        table.f().get(0, t);
        float[][] bias = new float[heads][n * n];
        for (int q = 0; q < n; q++) {
            for (int kk = 0; kk < n; kk++) {
                int row = grid.biasRow(q, kk);
                for (int h = 0; h < heads; h++) {
                    bias[h][q * n + kk] = t[row * heads + h];
                }
            }
        }
        return bias;
    }

    // ------------------------------------------------------------------------------------- importance

    @Override
    public void tokenImportance(Tensor x, Tensor out) {
        CpuTensor xt = cpu(x, "tokenImportance");
        if (xt.rank() != 3) {
            throw new IllegalArgumentException("tokenImportance: input must be [B, L, C], got " + Arrays.toString(xt.shape()));
        }
        int b = xt.dim(0);
        int l = xt.dim(1);
        int c = xt.dim(2);
        Shapes.check("tokenImportance: output", out.shape(), b, l);
        if (out.dtype() != DType.F32) {
            throw new IllegalArgumentException("tokenImportance: output must be F32, got " + out);
        }
        FloatBuffer src = xt.f();
        FloatBuffer dst = out(out, "tokenImportance").f();
        parallel(b * l, 256, (lo, hi) -> {
            float[] row = new float[c];
            for (int t = lo; t < hi; t++) {
                src.get(t * c, row);
                double s = 0;
                for (int j = 0; j < c; j++) {
                    s += Math.abs(row[j]);
                }
                dst.put(t, (float) (s / c));
            }
        });
    }

    @Override
    public void windowScores(Tensor a, WindowGrid grid, Tensor out) {
        CpuTensor at = cpu(a, "windowScores");
        int l = grid.height() * grid.width();
        if (at.rank() != 2 || at.dim(1) != l) {
            throw new IllegalArgumentException("windowScores: importance map must be [B, " + l + "], got "
                    + Arrays.toString(at.shape()));
        }
        int b = at.dim(0);
        int nW = grid.numWindows();
        int n = grid.windowTokens();
        Shapes.check("windowScores: output", out.shape(), b, nW);
        if (at.dtype() != DType.F32 || out.dtype() != DType.F32) {
            throw new IllegalArgumentException("windowScores: importance map and output must be F32, got " + at + ", " + out);
        }
        FloatBuffer src = at.f();
        FloatBuffer dst = out(out, "windowScores").f();
        parallel(b * nW, 16, (lo, hi) -> {
            for (int bw = lo; bw < hi; bw++) {
                int bb = bw / nW;
                int w = bw % nW;
                double s = 0;
                for (int t = 0; t < n; t++) {
                    int p = grid.sourceToken(w, t);
                    if (p >= 0) {
                        double v = src.get(bb * l + p);
                        s += v * v;
                    }
                }
                dst.put(bw, (float) Math.sqrt(s));
            }
        });
    }

    @Override
    public void sortWindows(Tensor scores, Tensor order) {
        CpuTensor st = cpu(scores, "sortWindows");
        CpuTensor ot = out(order, "sortWindows");
        if (st.rank() != 2 || st.dtype() != DType.F32 || ot.dtype() != DType.I32) {
            throw new IllegalArgumentException("sortWindows: scores must be F32 [B, nW] and order I32 [B, nW]");
        }
        Shapes.check("sortWindows: order", ot.shape(), st.shape());
        int b = st.dim(0);
        int nW = st.dim(1);
        FloatBuffer s = st.f();
        IntBuffer o = ot.i();
        for (int bb = 0; bb < b; bb++) {
            float[] v = new float[nW];
            s.get(bb * nW, v);
            Integer[] idx = new Integer[nW];
            for (int i = 0; i < nW; i++) {
                idx[i] = i;
            }
            // stable sort: equal scores keep the lower window number first
            Arrays.sort(idx, (p, q) -> Float.compare(v[q], v[p]));
            for (int i = 0; i < nW; i++) {
                o.put(bb * nW + i, idx[i]);
            }
        }
    }
}

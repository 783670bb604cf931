package org.sparsevit.bench.jmh;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The window ops of a Swin block on a backend, on the tiles of a Swin-T stage-0 block at 672x672 (168x168 tokens,
 * C = 96, 3 heads, window 7, shifted grid of 576 windows), batch 1, dense (keep = 1.0) and pruned (keep = 0.4):
 * their work should scale with the kept windows. The ops that accumulate into the tile grow its values call by call
 * (no subnormals; in fp16 they may reach infinity). Ops on whole maps, whose work does not depend on keep, are in
 * {@link MapBenchmark}.
 *
 * <pre>java -jar bench/target/benchmarks.jar OpsBenchmark -p backend=cpu</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class OpsBenchmark {
    @Param({"cpu", "cuda"})
    public String backend;

    @Param({"1.0", "0.4"})
    public double keep;

    /** fp32 everywhere; fp16/bf16 store the tensors in that type (CUDA; the CPU only emulates it, slowly). */
    @Param({"fp32"})
    public String precision;

    static final int H = 168;
    static final int W = 168;
    static final int C = 96;
    static final int HEADS = 3;
    static final float EPS = 1e-5f;

    Backend be;
    WindowGrid grid;
    /** A 166x166 map (a 664-pixel image) on the same 24x24 windows, with padding tokens: the 168x168 grid has none. */
    WindowGrid paddedGrid;
    int k;
    Tensor map;
    Tensor order;
    /** The gathered windows [1, k, N, C] (the residual stream of the block). */
    Tensor tile;
    /** LayerNorm(tile): the input of qkv and fc1. */
    Tensor normed;
    /** The attention output: the input of proj. */
    Tensor attn;
    /** Output of the ops that write a fresh tile. */
    Tensor out;
    Tensor qkv;
    /** GELU(fc1(normed)) [1, k, N, 4C]: the input of fc2. */
    Tensor hidden;
    Tensor wQkv;
    Tensor bQkv;
    Tensor wProj;
    Tensor bProj;
    Tensor wFc1;
    Tensor bFc1;
    Tensor wFc2;
    Tensor bFc2;
    Tensor gamma;
    Tensor beta;
    Tensor table;

    @Setup(Level.Trial)
    public void setUp() {
        be = BenchBackends.open(backend, precision);
        DType st = be.storage();
        grid = WindowGrid.of(H, W, 7, 3);
        paddedGrid = WindowGrid.of(H - 2, W - 2, 7, 3);
        int nW = grid.numWindows();
        k = (int) (nW * keep);
        int n = grid.windowTokens();
        map = up(BenchBackends.random(1, 1, H * W, C));
        int[] ids = new int[nW];
        for (int i = 0; i < nW; i++) {
            ids[i] = (i * 7919) % nW;
        }
        order = be.uploadInts(ids, 1, nW);
        tile = be.empty(st, 1, k, n, C);
        normed = be.empty(st, 1, k, n, C);
        attn = be.empty(st, 1, k, n, C);
        out = be.empty(st, 1, k, n, C);
        qkv = up(BenchBackends.random(2, 1, k, n, 3 * C));
        hidden = be.empty(st, 1, k, n, 4 * C);
        wQkv = up(BenchBackends.random(3, 3 * C, C));
        bQkv = up(BenchBackends.random(4, 3 * C));
        wProj = up(BenchBackends.random(12, C, C));
        bProj = up(BenchBackends.random(13, C));
        wFc1 = up(BenchBackends.random(5, 4 * C, C));
        bFc1 = up(BenchBackends.random(6, 4 * C));
        wFc2 = up(BenchBackends.random(10, C, 4 * C));
        bFc2 = up(BenchBackends.random(11, C));
        gamma = up(BenchBackends.random(7, C));
        beta = up(BenchBackends.random(8, C));
        table = up(BenchBackends.random(9, 169, HEADS));
        // every input holds what the block would put there (no op reads uninitialised memory)
        be.gatherWindows(map, grid, order, k, tile);
        be.layerNorm(tile, gamma, beta, EPS, normed);
        be.windowAttention(qkv, table, HEADS, grid, order, k, attn);
        be.linearGelu(normed, wFc1, bFc1, hidden);
        be.synchronize();
    }

    private Tensor up(HostTensor h) {
        return be.upload(h, be.storage());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (be != null) {
            be.close();
        }
    }

    @Benchmark
    public void gather() {
        be.gatherWindows(map, grid, order, k, out);
        be.synchronize();
    }

    @Benchmark
    public void scatter() {
        be.scatterWindows(tile, grid, order, k, map);
        be.synchronize();
    }

    /** On {@link #paddedGrid}: on the 168x168 grid there is nothing to zero. */
    @Benchmark
    public void zeroPadding() {
        be.zeroPadding(normed, paddedGrid, order, k);
        be.synchronize();
    }

    @Benchmark
    public void layerNorm() {
        be.layerNorm(tile, gamma, beta, EPS, out);
        be.synchronize();
    }

    /** The fused block entry: gather + norm1 in one pass. */
    @Benchmark
    public void gatherLayerNorm() {
        be.gatherLayerNorm(map, grid, order, k, gamma, beta, EPS, false, out, normed);
        be.synchronize();
    }

    /** Residual add into the tile. */
    @Benchmark
    public void add() {
        be.add(tile, attn);
        be.synchronize();
    }

    /** Residual add + norm2 (fused on CUDA). */
    @Benchmark
    public void addLayerNorm() {
        be.addLayerNorm(tile, attn, gamma, beta, EPS, out);
        be.synchronize();
    }

    @Benchmark
    public void qkvLinear() {
        be.linear(normed, wQkv, bQkv, qkv);
        be.synchronize();
    }

    @Benchmark
    public void windowAttention() {
        be.windowAttention(qkv, table, HEADS, grid, order, k, out);
        be.synchronize();
    }

    /** The attention projection C to C with bias, into a fresh tile. */
    @Benchmark
    public void projLinear() {
        be.linear(attn, wProj, bProj, out);
        be.synchronize();
    }

    /** The attention projection accumulating into the residual tile, as the block runs it. */
    @Benchmark
    public void projResidual() {
        be.linearResidual(attn, wProj, bProj, tile);
        be.synchronize();
    }

    /** fc1 then GELU as two ops (the default linearGelu). */
    @Benchmark
    public void fc1Gelu() {
        be.linear(normed, wFc1, bFc1, hidden);
        be.gelu(hidden);
        be.synchronize();
    }

    /** fc1 with bias + exact GELU as the block runs it. */
    @Benchmark
    public void linearGelu() {
        be.linearGelu(normed, wFc1, bFc1, hidden);
        be.synchronize();
    }

    /**
     * GELU's input, fc1(normed) without the activation, put back into {@link #hidden} before every call: GELU in
     * place on its own output would shrink the values call by call through subnormals (slow on x86) to zero.
     */
    @State(Scope.Benchmark)
    public static class GeluInput {
        Tensor preActivation;

        @Setup(Level.Trial)
        public void setUp(OpsBenchmark s) {
            preActivation = s.be.empty(s.be.storage(), s.hidden.shape());
            s.be.linear(s.normed, s.wFc1, s.bFc1, preActivation);
        }

        @Setup(Level.Invocation)
        public void restore(OpsBenchmark s) {
            s.be.copy(preActivation, s.hidden);
            s.be.synchronize();
        }
    }

    /** Exact GELU in place on fc1's output (the 4C hidden tile); the restore before each call is not timed. */
    @Benchmark
    public void gelu(GeluInput in) {
        be.gelu(hidden);
        be.synchronize();
    }

    /** fc2 accumulating into the residual tile (bias in the epilogue on CUDA). */
    @Benchmark
    public void fc2Residual() {
        be.linearResidual(hidden, wFc2, bFc2, tile);
        be.synchronize();
    }
}

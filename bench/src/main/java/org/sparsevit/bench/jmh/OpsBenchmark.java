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
 * Every Swin op on a backend, on the tile of a Swin-T stage-0 block at 672x672, batch 1, dense
 * (keep = 1.0) and pruned (keep = 0.4): the work of every op should scale with the kept windows.
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
    @Param({"cpu"})
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

    Backend be;
    WindowGrid grid;
    int k;
    Tensor map;
    Tensor order;
    Tensor tile;
    Tensor tile2;
    Tensor qkv;
    Tensor hidden;
    Tensor wQkv;
    Tensor bQkv;
    Tensor wFc1;
    Tensor bFc1;
    Tensor wFc2;
    Tensor bFc2;
    Tensor hidden4;
    Tensor gamma;
    Tensor beta;
    Tensor table;
    Tensor importance;
    Tensor scores;

    @Setup(Level.Trial)
    public void setUp() {
        be = BenchBackends.open(backend, precision);
        DType st = be.storage();
        grid = WindowGrid.of(H, W, 7, 3);
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
        tile2 = be.empty(st, 1, k, n, C);
        qkv = up(BenchBackends.random(2, 1, k, n, 3 * C));
        hidden = be.empty(st, 1, k, n, 4 * C);
        wQkv = up(BenchBackends.random(3, 3 * C, C));
        bQkv = up(BenchBackends.random(4, 3 * C));
        wFc1 = up(BenchBackends.random(5, 4 * C, C));
        bFc1 = up(BenchBackends.random(6, 4 * C));
        wFc2 = up(BenchBackends.random(10, C, 4 * C));
        bFc2 = up(BenchBackends.random(11, C));
        hidden4 = be.empty(st, 1, k, n, C);
        gamma = up(BenchBackends.random(7, C));
        beta = up(BenchBackends.random(8, C));
        table = up(BenchBackends.random(9, 169, HEADS));
        importance = be.empty(DType.F32, 1, H * W);
        scores = be.empty(DType.F32, 1, nW);
        // fc2Residual's input: without it fc2 read uninitialised memory (on CUDA, whatever the pool held)
        be.gatherWindows(map, grid, order, k, tile);
        be.linearGelu(tile, wFc1, bFc1, hidden);
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
        be.gatherWindows(map, grid, order, k, tile2);
        be.synchronize();
    }

    @Benchmark
    public void scatter() {
        be.scatterWindows(tile, grid, order, k, map);
        be.synchronize();
    }

    @Benchmark
    public void layerNorm() {
        be.layerNorm(tile, gamma, beta, 1e-5f, tile2);
        be.synchronize();
    }

    @Benchmark
    public void qkvLinear() {
        be.linear(tile, wQkv, bQkv, qkv);
        be.synchronize();
    }

    @Benchmark
    public void windowAttention() {
        be.windowAttention(qkv, table, HEADS, grid, order, k, tile2);
        be.synchronize();
    }

    @Benchmark
    public void fc1Gelu() {
        be.linear(tile, wFc1, bFc1, hidden);
        be.gelu(hidden);
        be.synchronize();
    }

    /** The fused block entry: gather + norm1 in one pass. */
    @Benchmark
    public void gatherLayerNorm() {
        be.gatherLayerNorm(map, grid, order, k, gamma, beta, 1e-5f, false, tile2, hidden4);
        be.synchronize();
    }

    /** fc1 with bias + exact GELU as the block runs it. */
    @Benchmark
    public void linearGelu() {
        be.linearGelu(tile, wFc1, bFc1, hidden);
        be.synchronize();
    }

    /** fc2 accumulating into the residual tile (bias in the epilogue on CUDA). */
    @Benchmark
    public void fc2Residual() {
        be.linearResidual(hidden, wFc2, bFc2, tile2);
        be.synchronize();
    }

    @Benchmark
    public void importanceAndSort() {
        be.tokenImportance(map, importance);
        be.windowScores(importance, grid, scores);
        be.sortWindows(scores, order);
        be.synchronize();
    }
}

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
import org.sparsevit.model.MergeOrder;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The ops of a Swin-T forward pass at 672x672, batch 1, that work on whole images and token maps (patch
 * embedding and merging, head and output layouts, the SparseViT window ranking, the input and output copies):
 * their work does not depend on the kept windows, so unlike {@link OpsBenchmark} there is no {@code keep} param.
 *
 * <pre>java -jar bench/target/benchmarks.jar MapBenchmark -p backend=cpu</pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MapBenchmark {
    @Param({"cpu", "cuda"})
    public String backend;

    /** fp32 everywhere; fp16/bf16 store the tensors in that type (CUDA; the CPU only emulates it, slowly). */
    @Param({"fp32"})
    public String precision;

    static final int IMAGE = 672;
    /** Stage 0: 168x168 tokens of 96 channels. */
    static final int H = 168;
    static final int W = 168;
    static final int C = 96;
    /** Stage 3 (the head's input): 21x21 tokens of 768 channels. */
    static final int H3 = 21;
    static final int C3 = 768;

    Backend be;
    WindowGrid grid;
    HostTensor hostImage;
    Tensor image;
    Tensor imageCopy;
    Tensor wEmbed;
    Tensor bEmbed;
    Tensor map;
    Tensor merged;
    Tensor wReduction;
    Tensor reduced;
    Tensor last;
    Tensor pooled;
    Tensor nchw;
    Tensor importance;
    Tensor scores;
    Tensor order;

    @Setup(Level.Trial)
    public void setUp() {
        be = BenchBackends.open(backend, precision);
        DType st = be.storage();
        grid = WindowGrid.of(H, W, 7, 3);
        int nW = grid.numWindows();
        hostImage = BenchBackends.random(1, 1, 3, IMAGE, IMAGE);
        image = up(hostImage);
        imageCopy = be.empty(st, 1, 3, IMAGE, IMAGE);
        wEmbed = up(BenchBackends.random(2, C, 3, 4, 4));
        bEmbed = up(BenchBackends.random(3, C));
        map = be.empty(st, 1, H * W, C);
        merged = be.empty(st, 1, (H / 2) * (W / 2), 4 * C);
        wReduction = up(BenchBackends.random(4, 2 * C, 4 * C));
        reduced = be.empty(st, 1, (H / 2) * (W / 2), 2 * C);
        last = up(BenchBackends.random(5, 1, H3 * H3, C3));
        pooled = be.empty(st, 1, C3);
        nchw = be.empty(st, 1, C, H, W);
        importance = be.empty(DType.F32, 1, H * W);
        scores = be.empty(DType.F32, 1, nW);
        order = be.empty(DType.I32, 1, nW);
        // every input holds what the forward pass would put there
        be.patchEmbed(image, wEmbed, bEmbed, 4, map);
        be.patchMerge(map, H, W, MergeOrder.CONCAT, merged);
        be.toChannelsFirst(map, H, W, nchw);
        be.tokenImportance(map, importance);
        be.windowScores(importance, grid, scores);
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

    /** The image into a new tensor (the upload of SwinModel.forward). */
    @Benchmark
    public void uploadImage() {
        try (Tensor t = be.upload(hostImage, be.storage())) {
            be.synchronize();
        }
    }

    /** The image into the compiled pass's input (CompiledForward.run). */
    @Benchmark
    public void copyImage() {
        be.copy(image, imageCopy);
        be.synchronize();
    }

    /** 4x4 stride-4 patch embedding of the [1, 3, 672, 672] image to 168x168 tokens of 96 channels. */
    @Benchmark
    public void patchEmbed() {
        be.patchEmbed(image, wEmbed, bEmbed, 4, map);
        be.synchronize();
    }

    /** Stage 0 to 84x84 tokens of 384 channels, in the official Swin order (the classifier's). */
    @Benchmark
    public void patchMergeConcat() {
        be.patchMerge(map, H, W, MergeOrder.CONCAT, merged);
        be.synchronize();
    }

    /** As {@link #patchMergeConcat} in mmdet's nn.Unfold order (SparseViT checkpoints). */
    @Benchmark
    public void patchMergeUnfold() {
        be.patchMerge(map, H, W, MergeOrder.UNFOLD, merged);
        be.synchronize();
    }

    /** The merge's bias-free reduction 4C to 2C (the model's only linear without a bias). */
    @Benchmark
    public void mergeReduction() {
        be.linear(merged, wReduction, null, reduced);
        be.synchronize();
    }

    /** The head's mean over the 21x21 stage-3 tokens of 768 channels. */
    @Benchmark
    public void meanPool() {
        be.meanPool(last, pooled);
        be.synchronize();
    }

    /** The stage-0 backbone output to NCHW [1, 96, 168, 168]. */
    @Benchmark
    public void toChannelsFirst() {
        be.toChannelsFirst(map, H, W, nchw);
        be.synchronize();
    }

    /** The stage-0 backbone output back to the host. */
    @Benchmark
    public HostTensor download() {
        return be.download(nchw);
    }

    /** Mean |x| per token of the stage-0 map. */
    @Benchmark
    public void tokenImportance() {
        be.tokenImportance(map, importance);
        be.synchronize();
    }

    /** L2 of the importance over each of the 576 windows of the shifted grid. */
    @Benchmark
    public void windowScores() {
        be.windowScores(importance, grid, scores);
        be.synchronize();
    }

    @Benchmark
    public void sortWindows() {
        be.sortWindows(scores, order);
        be.synchronize();
    }

    /** The three steps that build a kept list, as a stage runs them. */
    @Benchmark
    public void importanceAndSort() {
        be.tokenImportance(map, importance);
        be.windowScores(importance, grid, scores);
        be.sortWindows(scores, order);
        be.synchronize();
    }
}

package org.sparsevit.cli;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.io.Npy;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sparsevit demo}: builds a Swin with seeded random weights (no download), runs the classifier
 * and then the backbone dense and pruned, and prints what it did and how long it took. With
 * {@code --save-weights} / {@code --save-input} it only writes the classifier's weights and an input, for
 * runs elsewhere (e.g. the ONNX Runtime peer: {@code bench/peers/cpu_peer.sh}).
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Build a Swin with seeded random weights, run it dense and pruned, and time it.")
public final class DemoCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--arch", defaultValue = "swin-t",
            description = "swin-t, swin-s, swin-b, swin-l (or -384 variants); default ${DEFAULT-VALUE}.")
    String arch;

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--iters", defaultValue = "3", description = "Timed iterations per case (default ${DEFAULT-VALUE}).")
    int iters;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random weights; the images use seed + 1 and + 2 (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--backbone-size", defaultValue = "448x448", paramLabel = "HxW",
            description = "Input size of the backbone part (default ${DEFAULT-VALUE}).")
    String backboneSize;

    @Option(names = "--sparsity", defaultValue = "0.6,0.6/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0",
            description = "Pruned configuration for the backbone part (default: the SparseViT paper's second).")
    String sparsity;

    @Option(names = "--save-weights", paramLabel = "W.safetensors",
            description = "Write the classifier's seeded random weights (F32 safetensors with metadata that "
                    + "'run --weights' and bench/peers/swin_to_onnx.py read) and exit without running anything.")
    Path saveWeights;

    @Option(names = "--save-input", paramLabel = "X.npy",
            description = "Write seeded random images [batch, 3, H, W] (float32 .npy, seed + 1) and exit.")
    Path saveInput;

    @Option(names = "--input-size", paramLabel = "HxW", description = "Size of --save-input (default: the architecture's).")
    String inputSize;

    @Option(names = "--input-batch", defaultValue = "1", description = "Batch of --save-input (default ${DEFAULT-VALUE}).")
    int inputBatch;

    @Override
    public Integer call() {
        // every option is checked before anything is written or run
        SwinConfig cls = SwinConfig.preset(arch);
        if (iters <= 0) {
            throw new SparseVitException("--iters must be positive, got " + iters);
        }
        int[] in = inputShape(cls);
        if (saveWeights != null || saveInput != null) {
            return save(cls, in);
        }
        SwinConfig bb = cls.withTask(Task.BACKBONE, 0);
        int[] hw = MacsCommand.parseSize("--backbone-size", backboneSize);
        SparsityConfig sp = SparsityConfig.parse(sparsity, bb);
        sp.validate(bb);
        sp.validate(bb, hw[0], hw[1]);
        try (Backend be = Backends.create(backend, System.out::println)) {
            System.out.println("backend:      " + be.name() + " (" + be.device() + ")");
            System.out.println("architecture: " + cls);
            long t0 = System.nanoTime();
            SwinWeights w = SwinWeights.random(cls, seed);
            System.out.printf(Locale.ROOT, "weights:      seeded random (seed %d), %,d parameters, made in %.0f ms%n",
                    seed, cls.parameterCount(), (System.nanoTime() - t0) / 1e6);
            HostTensor img = randomImages(1, cls.imgSize(), cls.imgSize(), seed + 1);
            try (SwinModel m = new SwinModel(w, be)) {
                double g = MacCounter.count(cls, cls.imgSize(), cls.imgSize(), 1, SparsityConfig.dense(cls)).totalGMacs();
                double[] ms = time(m, img, null, m.config().defaultPadding());
                SwinOutput out = m.forward(img);
                System.out.printf(Locale.ROOT, "classify %dx%d, batch 1: %.2f GMACs, median %.1f ms (%s), top-5 %s%n",
                        cls.imgSize(), cls.imgSize(), g, median(ms), fmt(ms), Arrays.toString(top5(out.logits())));
            }
            SwinWeights wb = SwinWeights.random(bb, seed);
            HostTensor frame = randomImages(1, hw[0], hw[1], seed + 2);
            try (SwinModel m = new SwinModel(wb, be)) {
                double gd = MacCounter.count(bb, hw[0], hw[1], 1, SparsityConfig.dense(bb)).totalGMacs();
                double gs = MacCounter.count(bb, hw[0], hw[1], 1, sp).totalGMacs();
                double[] dense = time(m, frame, null, PaddingMode.SWIN);
                double[] pruned = time(m, frame, sp.ratios(), PaddingMode.SWIN);
                SwinOutput out = m.forward(frame, sp.ratios(), PaddingMode.SWIN, null, null);
                StringBuilder shapes = new StringBuilder();
                for (HostTensor f : out.features()) {
                    shapes.append(Arrays.toString(f.shape())).append(' ');
                }
                System.out.printf(Locale.ROOT, "backbone %dx%d dense:  %.2f GMACs, median %.1f ms (%s)%n", hw[0], hw[1], gd,
                        median(dense), fmt(dense));
                System.out.printf(Locale.ROOT, "backbone %dx%d pruned: %.2f GMACs, median %.1f ms (%s), sparsity %s%n",
                        hw[0], hw[1], gs, median(pruned), fmt(pruned), sp.toCompact());
                System.out.printf(Locale.ROOT, "pruning: %.2fx fewer MACs, %.2fx faster; outputs %s%n", gd / gs,
                        median(dense) / median(pruned), shapes.toString().trim());
            }
        }
        return 0;
    }

    /** The shape of the images --save-input writes, checked; null without --save-input. */
    private int[] inputShape(SwinConfig cls) {
        if (saveInput == null) {
            if (inputSize != null || inputBatch != 1) {
                throw new SparseVitException((inputSize != null ? "--input-size" : "--input-batch")
                        + " sets the images that --save-input writes, but no --save-input is given");
            }
            return null;
        }
        if (inputBatch <= 0) {
            throw new SparseVitException("--input-batch must be positive, got " + inputBatch);
        }
        int[] hw = inputSize == null ? new int[]{cls.imgSize(), cls.imgSize()}
                : MacsCommand.parseSize("--input-size", inputSize);
        MacsCommand.checkTensor("--save-input with --input-batch " + inputBatch + " and --input-size " + hw[0] + "x"
                + hw[1], new long[]{inputBatch, 3, hw[0], hw[1]});
        return new int[]{inputBatch, 3, hw[0], hw[1]};
    }

    /** --save-weights / --save-input: write the files, run nothing. */
    private int save(SwinConfig cls, int[] in) {
        if (saveWeights != null) {
            SwinWeights.random(cls, seed).save(saveWeights);
            System.out.printf(Locale.ROOT, "wrote %s: %s, seeded random (seed %d), %,d parameters%n", saveWeights, arch,
                    seed, cls.parameterCount());
        }
        if (in != null) {
            Npy.write(saveInput, randomImages(in[0], in[2], in[3], seed + 1));
            System.out.printf(Locale.ROOT, "wrote %s: images [%d, 3, %d, %d], seeded random (seed %d)%n", saveInput,
                    in[0], in[2], in[3], seed + 1);
        }
        return 0;
    }

    private double[] time(SwinModel m, HostTensor x, double[][] ratios, PaddingMode pad) {
        m.forward(x, ratios, pad, null, null); // warm-up
        double[] ms = new double[iters];
        for (int i = 0; i < ms.length; i++) {
            long t = System.nanoTime();
            m.forward(x, ratios, pad, null, null);
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        return ms;
    }

    static HostTensor randomImages(int b, int h, int w, long seed) {
        HostTensor t = HostTensor.zeros(b, 3, h, w);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static String fmt(double[] v) {
        StringBuilder sb = new StringBuilder();
        for (double d : v) {
            sb.append(sb.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.1f", d));
        }
        return sb + " ms";
    }

    static int[] top5(HostTensor logits) {
        int c = logits.dim(1);
        Integer[] idx = new Integer[c];
        for (int i = 0; i < c; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (p, q) -> Float.compare(logits.data()[q], logits.data()[p]));
        int[] r = new int[Math.min(5, c)];
        for (int i = 0; i < r.length; i++) {
            r[i] = idx[i];
        }
        return r;
    }
}

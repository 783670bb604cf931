package org.sparsevit.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.SparsityConfig;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sparsevit info}: the inferred architecture, parameter count and MACs of a weights file. */
@Command(name = "info", mixinStandardHelpOptions = true, description = "Print a weights file's architecture, parameters and MACs.")
public final class InfoCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--weights", required = true, paramLabel = "W.safetensors", description = "Weights (safetensors; F32, F16 or BF16).")
    Path weights;

    @Option(names = "--size", paramLabel = "HxW", description = "Input size for the MAC count (default: the model's nominal size).")
    String size;

    @Option(names = "--batch", defaultValue = "1", description = "Batch for the MAC count and the layer table (default ${DEFAULT-VALUE}).")
    int batch;

    @Override
    public Integer call() {
        // everything that can fail is done before the first line is printed
        if (batch <= 0) {
            throw new SparseVitException("--batch must be positive, got " + batch);
        }
        int[] sized = size == null ? null : MacsCommand.parseSize(size);
        SwinWeights w = SwinWeights.load(weights);
        SwinConfig cfg = w.config();
        int[] hw = sized == null ? new int[]{cfg.imgSize(), cfg.imgSize()} : sized;
        double g = MacCounter.count(cfg, hw[0], hw[1], batch, SparsityConfig.dense(cfg)).totalGMacs();
        String layers = org.sparsevit.model.SwinModel.describe(cfg, batch, hw[0], hw[1], SparsityConfig.dense(cfg));
        long params = w.all().values().stream().mapToLong(t -> t.numel()).sum();
        System.out.println("file:         " + weights);
        System.out.println("layout:       " + cfg.layout() + (cfg.isBackbone() ? " (backbone)" : " (classification)")
                + (w.naming().isEmpty() ? "" : ", names of " + w.naming()));
        System.out.println("architecture: " + cfg);
        System.out.printf(Locale.ROOT, "parameters:   %,d (%.2f M)%n", params, params / 1e6);
        System.out.printf(Locale.ROOT, "MACs at %dx%d, batch %d: %.3f G%n", hw[0], hw[1], batch, g);
        if (w.ignoredKeys() > 0) {
            System.out.println("ignored:      " + w.ignoredKeys() + " keys the model does not use (e.g. a detector's neck"
                    + " and heads, or the final norm a backbone checkpoint keeps)");
        }
        System.out.println();
        System.out.print(layers);
        return 0;
    }
}

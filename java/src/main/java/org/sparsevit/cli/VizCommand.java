package org.sparsevit.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sparsevit viz}: the image with the windows each stage keeps highlighted, one panel per stage (as
 * in the SparseViT paper's figure). A window is drawn bright with a green outline when the stage's first
 * pruned regular-grid block keeps it, and dimmed when it is pruned; the panel title gives the counts.
 */
@Command(name = "viz", mixinStandardHelpOptions = true, description = "Draw the windows SparseViT keeps in each stage.")
public final class VizCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--weights", required = true, paramLabel = "W.safetensors",
            description = "Weights (safetensors; F32, F16 or BF16), classifier or backbone.")
    Path weights;

    @Option(names = "--image", required = true, paramLabel = "IMG",
            description = "PNG or JPEG image (a classifier sees it resized and centre-cropped to its size).")
    Path image;

    @Option(names = "--sparsity", required = true, paramLabel = "FILE|COMPACT",
            description = "Per-block ratios: a JSON file {\"stages\": [[...], ...]}, a compact form like"
                    + " 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0, uniform:R, paper-1..3 or dense.")
    String sparsity;

    @Option(names = "--output", required = true, paramLabel = "kept.png",
            description = "The picture to write: PNG, or JPEG for a .jpg / .jpeg name (its directory is created).")
    Path output;

    @Option(names = "--backend", defaultValue = "auto", description = "auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    String backend;

    @Option(names = "--padding", paramLabel = "swin|sparsevit",
            description = "Pad after norm1 (swin) or before it (sparsevit). Default: from the checkpoint layout.")
    String padding;

    @Override
    public Integer call() {
        // all AWT work lives in KeptImage, so loading this command needs no java.desktop module
        KeptImage.write(weights, image, sparsity, output, backend, padding);
        return 0;
    }
}

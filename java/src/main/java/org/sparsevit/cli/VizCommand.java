package org.sparsevit.cli;

import java.io.IOException;
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

    @Option(names = "--weights", required = true, paramLabel = "W.safetensors")
    Path weights;

    @Option(names = "--image", required = true, paramLabel = "IMG", description = "PNG or JPEG image.")
    Path image;

    @Option(names = "--sparsity", required = true, paramLabel = "FILE|COMPACT")
    String sparsity;

    @Option(names = "--output", required = true, paramLabel = "kept.png")
    Path output;

    @Option(names = "--backend", defaultValue = "auto")
    String backend;

    @Option(names = "--padding", paramLabel = "swin|sparsevit")
    String padding;

    @Override
    public Integer call() throws IOException {
        // all AWT work lives in KeptImage, so loading this command needs no java.desktop module
        KeptImage.write(weights, image, sparsity, output, backend, padding);
        return 0;
    }
}

package org.sparsevit.model;

import org.sparsevit.tensor.Tensor;

/**
 * The data flowing between Swin nodes: a token map [B, H*W, C] (row-major over H then W) with its grid.
 * Closing it closes the tensor.
 *
 * @param tokens  [B, H*W, C]
 * @param height  H
 * @param width   W
 */
public record FeatureMap(Tensor tokens, int height, int width) implements AutoCloseable {

    public FeatureMap {
        if (tokens.rank() != 3 || tokens.dim(1) != height * width) {
            throw new IllegalArgumentException("feature map " + java.util.Arrays.toString(tokens.shape())
                    + " is not [B, " + height + "*" + width + ", C]");
        }
    }

    public int batch() {
        return tokens.dim(0);
    }

    public int channels() {
        return tokens.dim(2);
    }

    @Override
    public void close() {
        tokens.close();
    }
}

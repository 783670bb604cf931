package org.sparsevit.model;

/** Where a block pads its input to a window multiple. Both agree when every grid is a window multiple. */
public enum PaddingMode {
    /** Official Swin backbone: pad after norm1, padded tokens enter attention as zeros. */
    SWIN,
    /** Official SparseViT: pad before norm1, padded tokens enter attention as norm1's bias. */
    SPARSEVIT;

    public static PaddingMode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "swin" -> SWIN;
            case "sparsevit" -> SPARSEVIT;
            default -> throw new IllegalArgumentException("unknown padding mode '" + s + "' (expected swin or sparsevit)");
        };
    }
}

package org.sparsevit.tensor;

/** Element types. F32 is the compute type everywhere; F16/BF16 are storage types; I32 holds indices. */
public enum DType {
    F32(4), F16(2), BF16(2), I32(4);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }
}

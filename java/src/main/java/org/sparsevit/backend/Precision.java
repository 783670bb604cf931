package org.sparsevit.backend;

import java.util.Locale;

/** GEMM and storage precision of a backend session. */
public enum Precision {
    /** float32 everywhere. */
    FP32,
    /** float32 storage, TF32 tensor-core GEMMs. */
    TF32,
    /** float16 storage and tensor-core GEMMs, float32 accumulation. */
    FP16,
    /** bfloat16 storage and tensor-core GEMMs, float32 accumulation. */
    BF16;

    public static Precision parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new org.sparsevit.SparseVitException("unknown precision '" + s + "' (expected fp32, tf32, fp16 or bf16)");
        }
    }
}

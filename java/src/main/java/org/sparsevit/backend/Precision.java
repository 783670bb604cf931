package org.sparsevit.backend;

import java.util.Locale;

/**
 * GEMM precision of a backend session. Tensors keep their storage dtype (the model stores F32); the
 * precision selects how a GPU session's GEMMs treat F32 tensors. The CPU computes in FP32 only.
 */
public enum Precision {
    /** float32 everywhere. */
    FP32,
    /** TF32 tensor-core GEMMs (10-bit mantissa inputs), float32 accumulation. */
    TF32,
    /** float16 tensor-core GEMMs (inputs rounded to float16), float32 accumulation. */
    FP16,
    /** bfloat16 tensor-core GEMMs (inputs rounded to bfloat16), float32 accumulation. */
    BF16;

    public static Precision parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new org.sparsevit.SparseVitException("unknown precision '" + s + "' (expected fp32, tf32, fp16 or bf16)");
        }
    }
}

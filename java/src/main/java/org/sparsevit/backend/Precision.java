package org.sparsevit.backend;

import java.util.Locale;

/**
 * Numeric precision of a backend session. On CUDA, FP32 and TF32 store F32 tensors (TF32 runs the GEMMs on
 * tensor cores with 10-bit mantissa inputs); FP16 and BF16 store the model's weights and activations in that
 * type ({@link Backend#storage()}) and run tensor-core GEMMs; every kernel computes in float32 inside.
 * The CPU computes in FP32 (its FP16/BF16 mode only emulates the storage rounding, for accuracy checks).
 */
public enum Precision {
    /** float32 everywhere. */
    FP32,
    /** F32 storage, TF32 tensor-core GEMMs (10-bit mantissa inputs), float32 accumulation. */
    TF32,
    /** float16 storage of weights and activations, tensor-core GEMMs with float32 accumulation. */
    FP16,
    /** bfloat16 storage of weights and activations, tensor-core GEMMs with float32 accumulation. */
    BF16;

    public static Precision parse(String s) {
        try {
            return valueOf(s.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new org.sparsevit.SparseVitException("unknown precision '" + s + "' (expected fp32, tf32, fp16 or bf16)");
        }
    }
}

package org.sparsevit.backend;

import java.lang.reflect.InvocationTargetException;
import java.util.Locale;
import java.util.function.Consumer;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.cpu.CpuBackend;

/**
 * Picks a backend at run time. The CUDA backend is reached only by reflection, so a CPU-only run never
 * loads a CUDA class (and works on machines without the CUDA libraries).
 */
public final class Backends {
    private static final String CUDA_CLASS = "org.sparsevit.backend.cuda.CudaBackend";

    private Backends() {
    }

    /**
     * Why the CUDA backend cannot be used here, or null when it can. Never throws.
     */
    public static String cudaUnavailableReason() {
        try {
            Class<?> c = Class.forName(CUDA_CLASS);
            Object r = c.getMethod("unavailableReason").invoke(null);
            return (String) r;
        } catch (ClassNotFoundException e) {
            return "this build has no CUDA backend";
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            Throwable t = e instanceof InvocationTargetException ite && ite.getCause() != null ? ite.getCause() : e;
            return "CUDA backend failed to initialise: " + t;
        }
    }

    /**
     * Creates a backend: "cpu", "cuda" (fails with the reason when no GPU is usable) or "auto" (CUDA when
     * usable, else CPU with one line to {@code log} saying why).
     */
    public static Backend create(String name, Consumer<String> log) {
        return create(name, Precision.FP32, log);
    }

    /**
     * As {@link #create(String, Consumer)} with a precision. CUDA: fp32, tf32 (F32 storage, TF32 tensor-core
     * GEMMs), fp16 and bf16 (weights and activations stored in F16/BF16, tensor-core GEMMs, float32 math
     * inside every kernel). The CPU computes in fp32 only (its F16/BF16 emulation, {@code new
     * CpuBackend(Precision)}, is for accuracy checks, not speed). An unsupported precision fails with a
     * message naming it.
     */
    public static Backend create(String name, Precision precision, Consumer<String> log) {
        String n = name == null ? "auto" : name.toLowerCase(Locale.ROOT);
        switch (n) {
            case "cpu":
                return cpu(precision);
            case "cuda": {
                String why = cudaUnavailableReason();
                if (why != null) {
                    throw new SparseVitException("--backend cuda: no usable GPU: " + why);
                }
                return newCuda(precision);
            }
            case "auto": {
                String why = cudaUnavailableReason();
                if (why == null) {
                    return newCuda(precision);
                }
                if (log != null) {
                    log.accept("backend auto: using the CPU (" + why + ")");
                }
                return cpu(precision);
            }
            default:
                throw new SparseVitException("unknown backend '" + name + "' (expected auto, cpu or cuda)");
        }
    }

    private static Backend cpu(Precision precision) {
        if (precision != Precision.FP32) {
            throw new SparseVitException("the CPU backend computes in fp32 only, not " + precision.name().toLowerCase(Locale.ROOT)
                    + " (use --backend cuda for " + precision.name().toLowerCase(Locale.ROOT) + ")");
        }
        return new CpuBackend();
    }

    private static Backend newCuda(Precision precision) {
        try {
            return (Backend) Class.forName(CUDA_CLASS).getConstructor(Precision.class).newInstance(precision);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof SparseVitException s) {
                throw s;
            }
            throw new SparseVitException("CUDA backend failed to start: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new SparseVitException("CUDA backend failed to start: " + e, e);
        }
    }
}

package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertFalse;

import org.junit.jupiter.api.BeforeAll;
import org.sparsevit.backend.Precision;

/**
 * Every test of {@link CpuBackendTest} on the Java + OpenBLAS path: what runs where the native kernels are
 * unavailable (no JNI library for the platform, a CPU without AVX2/FMA, -Dsparsevit.cpu.kernels=java).
 */
class CpuBackendJavaKernelsTest extends CpuBackendTest {
    @BeforeAll
    static void up() {
        be = new CpuBackend(Precision.FP32, false);
        assertFalse(be.nativeKernels());
    }
}

package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;

/**
 * Runs everywhere (CI has nvcc but no GPU): the native library is built and loads when nvcc exists, and
 * a machine without a usable GPU gets a clear reason and the CPU under {@code auto}.
 */
class CudaAvailabilityTest {
    static final boolean NVCC = Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc"));

    @Test
    void nativeLibraryIsBuiltAndLoadsWhereverNvccIs() {
        if (NVCC) {
            assertNotNull(CudaNative.class.getResource("linux-x86_64/libjniCudaNative.so"),
                    "nvcc is installed, so the build must have produced the JNI library");
            assertNull(CudaNative.loadError(), () -> "the JNI library must load without a driver: " + CudaNative.loadError());
            int[] v = new int[1];
            assertEquals(0, CudaNative.svj_runtime_version(v));
            assertTrue(v[0] >= 13000, "CUDA runtime " + v[0]);
        }
    }

    @Test
    void withoutAGpuTheReasonIsClearAndAutoUsesTheCpu() {
        String why = CudaBackend.unavailableReason();
        if (why == null) {
            return; // a GPU machine: the gpu-tagged tests cover it
        }
        assertTrue(why.startsWith("no ") || why.startsWith("native library") || why.startsWith("cuBLAS"), why);
        SparseVitException e = assertThrows(SparseVitException.class, CudaBackend::new);
        assertTrue(e.getMessage().contains(why), e.getMessage());
        SparseVitException f = assertThrows(SparseVitException.class, () -> Backends.create("cuda", null));
        assertEquals("--backend cuda: no usable GPU: " + why, f.getMessage());
        StringBuilder log = new StringBuilder();
        try (Backend b = Backends.create("auto", log::append)) {
            assertEquals("cpu", b.name());
        }
        assertEquals("backend auto: using the CPU (" + why + ")", log.toString());
    }
}

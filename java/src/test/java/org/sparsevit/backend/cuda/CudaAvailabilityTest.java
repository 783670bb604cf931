package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;

/**
 * Runs everywhere (CI has nvcc but no GPU): the native library is built and loads when nvcc exists, a
 * machine without a usable GPU gets a clear reason and the CPU under {@code auto}, and the native entries'
 * argument checks (host code, no driver needed) reject bad calls with an error code and a detail line.
 */
class CudaAvailabilityTest {
    static final boolean NVCC = Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc"));
    /** A fake, suitably aligned device address: every call below fails its checks before touching it. */
    static final long P = 1L << 20;

    /** cuBLAS failures name the status (cuBLASLt's NOT_SUPPORTED was reported as a bare 15). */
    @Test
    void cublasStatusesAreNamed() {
        assertEquals("15 (CUBLAS_STATUS_NOT_SUPPORTED)", CudaBackend.blasStatus(15));
        assertEquals("7 (CUBLAS_STATUS_INVALID_VALUE)", CudaBackend.blasStatus(7));
        assertEquals("99", CudaBackend.blasStatus(99));
    }

    /**
     * A kernel fault (illegal or misaligned address, ...) surfaces at whichever call comes next and poisons the
     * process's CUDA context: the message says so and points at the first report; other errors are left as they are.
     */
    @Test
    void stickyFaultsSayWhatTheyAre() {
        for (int rc : new int[] {700, 702, 710, 714, 715, 716, 717, 718, 719}) {
            assertTrue(CudaBackend.isSticky(rc), "cudaError " + rc);
        }
        for (int rc : new int[] {0, 1, 2, 98, 200, 701, 709, 720, 999, CudaNative.EINVAL}) {
            assertFalse(CudaBackend.isSticky(rc), "cudaError " + rc);
        }
        assertEquals("CUDA x failed: out of memory", CudaBackend.failure(2, "CUDA x failed: out of memory"));
        String first = "CUDA layerNorm failed: an illegal memory access was encountered";
        String own = CudaBackend.stickyFailure(first, first);
        assertTrue(own.startsWith(first + "; the device faulted in a kernel enqueued before this call"), own);
        assertFalse(own.contains("first reported as"), own);
        assertTrue(own.endsWith("CUDA_LAUNCH_BLOCKING=1 or compute-sanitizer names the kernel"), own);
        String later = CudaBackend.stickyFailure("CUDA gelu failed: same", first);
        assertTrue(later.contains("; first reported as: " + first + ")"), later);
    }

    /** sparsevit.fusedGelu: auto (also when unset), all or off, any case; another value is an error naming it. */
    @Test
    void fusedGeluSettingIsParsedOrRefused() {
        assertEquals(CudaBackend.FUSED_GELU_AUTO_MAX_K, CudaBackend.fusedGeluMaxK(null));
        assertEquals(CudaBackend.FUSED_GELU_AUTO_MAX_K, CudaBackend.fusedGeluMaxK(" Auto "));
        assertEquals(Integer.MAX_VALUE, CudaBackend.fusedGeluMaxK("all"));
        assertEquals(0, CudaBackend.fusedGeluMaxK("OFF"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaBackend.fusedGeluMaxK("yes"));
        assertEquals("system property sparsevit.fusedGelu='yes' is not auto, all or off", e.getMessage());
    }

    /** A device the kernels have no binary for (before compute capability 8.0) is named with the reason. */
    @Test
    void aDeviceWithoutAKernelImageIsNamedWithItsCapability() {
        assertEquals("CUDA device 0 (Tesla T4, compute capability 7.5) cannot run this library's kernels (no kernel image"
                + " is available for execution on the device (code 209)): they are built for compute capability 8.0 and"
                + " newer (Ampere, Ada, Hopper and later)", CudaBackend.deviceUnsupported("Tesla T4", 7, 5,
                "no kernel image is available for execution on the device (code 209)"));
        assertTrue(CudaBackend.deviceUnsupported("", -1, 0, "e").startsWith("CUDA device 0 (unnamed) cannot run"));
        assertEquals("T4", CudaBackend.cString(new byte[]{'T', '4', 0, 'x'}));
    }

    /** sparsevit.fusedMlp: auto (also when unset), all or off, any case; another value is an error naming it. */
    @Test
    void fusedMlpSettingIsParsedOrRefused() {
        assertEquals(CudaBackend.FUSED_MLP_AUTO_MAX_C, CudaBackend.fusedMlpMaxC(null));
        assertEquals(CudaBackend.FUSED_MLP_AUTO_MAX_C, CudaBackend.fusedMlpMaxC(" AUTO"));
        assertEquals(Integer.MAX_VALUE, CudaBackend.fusedMlpMaxC("All"));
        assertEquals(0, CudaBackend.fusedMlpMaxC("Off "));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CudaBackend.fusedMlpMaxC("on"));
        assertEquals("system property sparsevit.fusedMlp='on' is not auto, all or off", e.getMessage());
    }

    @Test
    void nativeLibraryIsBuiltAndLoadsWhereverNvccIs() {
        assumeTrue(NVCC, "nvcc is not installed: this build is CPU-only");
        assertNotNull(CudaNative.class.getResource("linux-x86_64/libjniCudaNative.so"),
                "nvcc is installed, so the build must have packaged the JNI library");
        assertNull(CudaNative.loadError(), () -> "the JNI library must load without a driver: " + CudaNative.loadError());
        int[] v = new int[1];
        assertEquals(0, CudaNative.svj_runtime_version(v));
        assertTrue(v[0] >= 13000, "CUDA runtime " + v[0]);
    }

    @Test
    void withoutAGpuTheReasonIsClearAndAutoUsesTheCpu() {
        String why = CudaBackend.unavailableReason();
        assumeTrue(why != null, "a usable GPU is present: the gpu-tagged tests cover it");
        assertTrue(why.startsWith("no ") || why.startsWith("native library") || why.startsWith("cuBLAS"), why);
        if (NVCC && !why.startsWith("cuBLAS")) {
            // the library is there; what is missing is the driver or the device (or, above, cuBLAS)
            assertTrue(why.startsWith("no "), why);
            int[] n = {-1};
            assertNotEquals(0, CudaNative.svj_device_count(n));
            assertEquals(0, n[0]);
        }
        SparseVitException e = assertThrows(SparseVitException.class, CudaBackend::new);
        assertTrue(e.getMessage().contains(why), e.getMessage());
        assertEquals(why, CudaBackend.unavailableReason(), "the reason is stable");
        SparseVitException f = assertThrows(SparseVitException.class, () -> Backends.create("cuda", null));
        assertEquals("--backend cuda: no usable GPU: " + why, f.getMessage());
        StringBuilder log = new StringBuilder();
        try (Backend b = Backends.create("auto", log::append)) {
            assertEquals("cpu", b.name());
        }
        assertEquals("backend auto: using the CPU (" + why + ")", log.toString());
    }

    private static void rejects(int rc, String detailPart) {
        assertEquals(CudaNative.EINVAL, rc);
        String detail = CudaNative.svj_last_error_string().getString();
        assertTrue(detail.contains(detailPart), () -> "detail '" + detail + "' should mention '" + detailPart + "'");
    }

    @Test
    void nativeEntriesValidateTheirArguments() {
        assumeTrue(NVCC && CudaNative.loadError() == null, "no native library");
        assertEquals("invalid argument (SparseViT-J entry check)", CudaNative.svj_error_string(CudaNative.EINVAL).getString());
        assertEquals("no error", CudaNative.svj_error_string(0).getString());
        // window ops: grid, k and order rules of the Backend interface
        rejects(CudaNative.svj_gather_windows(P, P, P, CudaNative.F32, 2, 14, 14, 96, 7, 3, 5, 0),
                "svj_gather_windows: k = 5 outside [0, nW = 4]");
        rejects(CudaNative.svj_scatter_windows(P, P, 0, CudaNative.F32, 2, 14, 14, 96, 7, 0, 3, 0),
                "without an order list k must be nW = 4");
        rejects(CudaNative.svj_zero_padding(P, P, CudaNative.F32, 1, 14, 14, 96, 7, 7, 1, 0), "invalid window grid");
        rejects(CudaNative.svj_gather_windows(P, P, P, 9, 1, 14, 14, 96, 7, 0, 1, 0), "unknown dtype 9");
        rejects(CudaNative.svj_gather_windows(0, P, P, CudaNative.F32, 1, 14, 14, 96, 7, 0, 1, 0), "null tensor");
        // attention limits
        rejects(CudaNative.svj_window_attention(P, P, P, P, CudaNative.F32, 1, 26, 26, 96, 3, 13, 0, 13, 1, 0),
                "window 13 has 169 tokens");
        rejects(CudaNative.svj_window_attention(P, P, P, P, CudaNative.F32, 1, 14, 14, 96, 5, 7, 0, 7, 1, 0),
                "do not split into 5 heads");
        rejects(CudaNative.svj_window_attention(P, P, P, P, CudaNative.F32, 1, 14, 14, 96, 3, 7, 0, 6, 1, 0),
                "bias window 6 for window 7");
        rejects(CudaNative.svj_window_attention(P, P, P, P, CudaNative.I32, 1, 14, 14, 96, 3, 7, 0, 7, 1, 0),
                "not F32, F16 or BF16");
        // the rest
        rejects(CudaNative.svj_add_layer_norm(P, P, P, P, P, CudaNative.F32, 10, 96, 1e-5f, 0), "out must not be a");
        rejects(CudaNative.svj_layer_norm(P, P, P, P, CudaNative.F32, -1, 96, 1e-5f, 0), "-1 rows");
        rejects(CudaNative.svj_patch_merge(P, P, CudaNative.F32, 1, 7, 7, 32, 2, 0), "merge order 2");
        rejects(CudaNative.svj_cast(P, CudaNative.F32, 2 * P, CudaNative.I32, 10, 0), "destination dtype 3");
        rejects(CudaNative.svj_sort_windows(P, P, 0, 10, 0, 0, 0), "0 images of 10 windows");
        rejects(CudaNative.svj_to_channels_first(P, P, CudaNative.F32, 1, 10, 10, 0), "aliased");
        rejects(CudaNative.svj_rewindow_windows(P, 2 * P, CudaNative.F32, 2, 14, 14, 96, 7, 7, 3, 0),
                "invalid source shift 7 for window 7");
        rejects(CudaNative.svj_rewindow_windows(P, P, CudaNative.F32, 2, 14, 14, 96, 7, 0, 3, 0),
                "the tile cannot be the tile it is made from");
        // the fused MLP GEMM: F16/BF16 only, N and K multiples of 8, 16-byte aligned tensors
        rejects(CudaNative.svj_linear_gelu(P, P, P, P, CudaNative.F32, 10, 16, 16, 0), "dtype 0 is not F16 or BF16");
        rejects(CudaNative.svj_linear_gelu(P, P, P, P, CudaNative.F16, 10, 12, 16, 0), "N = 12 and K = 16 must be");
        rejects(CudaNative.svj_linear_gelu(P, P, P + 2, P, CudaNative.BF16, 10, 16, 16, 0), "16-byte aligned");
        rejects(CudaNative.svj_linear_gelu(P, P, P, P, CudaNative.F16, 1L << 40, 1 << 20, 16, 0), "exceed a launch's grid");
        assertEquals(0, CudaNative.svj_linear_gelu(P, P, 0, P, CudaNative.F16, 0, 16, 16, 0), "no rows, no bias");
        long[] bytes = {-1};
        assertEquals(0, CudaNative.svj_sort_windows_scratch(4, 4096, bytes));
        assertEquals(0, bytes[0], "up to 4096 windows sort in shared memory, without scratch");
        // empty work succeeds without touching the device
        assertEquals(0, CudaNative.svj_gather_windows(P, P, P, CudaNative.F32, 2, 14, 14, 96, 7, 3, 0, 0));
        assertEquals(0, CudaNative.svj_gelu(P, CudaNative.F16, 0, 0));
    }
}

package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The run on the emulated device (cuda/dev/emu/jni.sh; the surefire execution emulated-device sets
 * {@code -Dsparsevit.emulatedDevice=true}) really runs on it: every other GPU test skips itself without a usable
 * device, so a device library that failed to load, or the nvcc build picked instead, would otherwise pass as
 * all skipped. Tagged {@code emulated}, not {@code gpu}: only that execution runs it (not the bundle's GPU runs).
 */
@Tag("emulated")
class EmulatedDeviceTest {
    @Test
    void theGpuTestsRunOnTheEmulatedDevice() {
        assumeTrue(Boolean.getBoolean("sparsevit.emulatedDevice"), "not the emulated-device run");
        assertNull(CudaBackend.unavailableReason(), "the emulated device is not usable");
        try (CudaBackend gpu = new CudaBackend()) {
            assertEquals("SparseViT-J emulator", gpu.device());
            assertEquals("cuBLASLt bias epilogue", gpu.gemmPath());
        }
    }
}

package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparsevit.TestImages;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.ProfilingBackend;
import org.sparsevit.io.Half;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.Frames.ChannelOrder;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The CPU twin of the frames upload: bitwise the tensor Images.toTensor builds from the same pixels (RGB and BGR
 * bytes), F16/BF16 sessions holding exactly those values rounded, the profiler passing the op on, bad calls refused.
 */
class CpuUploadFramesTest {

    static byte[] bytes(long seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        for (int i = 0; i < Math.min(256, n); i++) {
            b[i] = (byte) i; // every byte value at least once where there is room
        }
        return b;
    }

    static byte[] swapped(byte[] px) {
        byte[] s = px.clone();
        for (int i = 0; i < s.length; i += 3) {
            s[i] = px[i + 2];
            s[i + 2] = px[i];
        }
        return s;
    }

    static HostTensor upload(CpuBackend be, Frames f, DType dt) {
        try (Tensor t = be.uploadFrames(f, dt)) {
            assertEquals(dt, t.dtype());
            assertArrayEquals(f.tensorShape(), t.shape());
            return be.download(t);
        }
    }

    @Test
    @Tag("awt")
    void uploadIsBitwiseImagesToTensorForRgbAndBgr() {
        try (CpuBackend be = new CpuBackend()) {
            for (int[] s : new int[][]{{1, 1, 1}, {2, 9, 14}, {3, 31, 17}}) {
                byte[] rgb = bytes(s[0] * 1000 + s[1], s[0] * s[1] * s[2] * 3);
                HostTensor want = TestImages.toTensorViaImages(rgb, s[0], s[1], s[2]);
                assertEquals(want, upload(be, Frames.of(rgb, s[0], s[1], s[2], ChannelOrder.RGB), DType.F32),
                        "RGB " + java.util.Arrays.toString(s));
                assertEquals(want, upload(be, Frames.of(swapped(rgb), s[0], s[1], s[2], ChannelOrder.BGR), DType.F32),
                        "BGR " + java.util.Arrays.toString(s));
            }
        }
    }

    /** The same without AWT (the bundle's runtime): against the host normalisation, also for a direct buffer. */
    @ParameterizedTest
    @EnumSource(ChannelOrder.class)
    void uploadIsBitwiseTheHostNormalisation(ChannelOrder order) {
        byte[] px = bytes(7, 2 * 23 * 19 * 3);
        float[] mean = {0.5f, 0.25f, -0.125f};
        float[] std = {0.3f, 0.7f, 0.0625f};
        try (CpuBackend be = new CpuBackend()) {
            Frames f = Frames.of(px, 2, 23, 19, order);
            assertEquals(f.toHostTensor(), upload(be, f, DType.F32));
            Frames g = f.withNormalization(mean, std);
            HostTensor got = upload(be, g, DType.F32);
            assertEquals(g.toHostTensor(), got);
            // one value by hand: pixel (x = 4, y = 3) of image 1, blue
            int base = ((23 + 3) * 19 + 4) * 3;
            int blue = px[base + order.offsetOf(2)] & 0xff;
            assertEquals((blue / 255f - mean[2]) / std[2], got.data()[((3 + 2) * 23 + 3) * 19 + 4]);
            ByteBuffer direct = ByteBuffer.allocateDirect(px.length).put(px).flip();
            assertEquals(got, upload(be, Frames.of(direct, 2, 23, 19, order).withNormalization(mean, std), DType.F32));
        }
    }

    /** A reduced-precision twin holds the F32 values rounded to nearest even, as an upload of them does. */
    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP16", "BF16"})
    void reducedPrecisionSessionsHoldTheRoundedValues(Precision p) {
        byte[] px = bytes(8, 3 * 10 * 12 * 3);
        Frames f = Frames.of(px, 3, 10, 12, ChannelOrder.BGR);
        try (CpuBackend be = new CpuBackend(p)) {
            DType dt = be.storage();
            HostTensor got = upload(be, f, dt);
            float[] want = f.toHostTensor().data();
            int changed = 0;
            for (int i = 0; i < want.length; i++) {
                float r = dt == DType.F16 ? Half.toFloat(Half.fromFloat(want[i]))
                        : Half.bf16ToFloat(Half.floatToBf16(want[i]));
                changed += r != want[i] ? 1 : 0;
                want[i] = r;
            }
            assertTrue(changed > want.length / 2, "rounding changes most values (" + changed + ")");
            assertArrayEquals(want, got.data());
            try (Tensor host = be.upload(f.toHostTensor(), dt)) {
                assertEquals(be.download(host), got, "what uploading the host tensor gives");
            }
            assertEquals(f.toHostTensor(), upload(be, f, DType.F32), "F32 stays F32 in any session");
        }
    }

    @Test
    void profilerTimesAndPassesTheOpOn() {
        Frames f = Frames.of(bytes(9, 2 * 5 * 6 * 3), 2, 5, 6, ChannelOrder.RGB);
        try (ProfilingBackend be = new ProfilingBackend(new CpuBackend()); Tensor t = be.uploadFrames(f, DType.F32)) {
            assertEquals(f.toHostTensor(), be.download(t));
            assertEquals(1, be.stats().get("uploadFrames")[0]);
        }
    }

    @Test
    void badCallsAreRefused() {
        Frames f = Frames.of(new byte[12], 1, 2, 2, ChannelOrder.RGB);
        try (CpuBackend be = new CpuBackend()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> be.uploadFrames(null, DType.F32));
            assertEquals("uploadFrames: frames must not be null", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.uploadFrames(f, DType.I32));
            assertEquals("uploadFrames: storage must be F32, F16 or BF16, got I32", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.uploadFrames(f, null));
            assertEquals("uploadFrames: storage must be F32, F16 or BF16, got null", e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> be.uploadFrames(f, DType.F16));
            assertTrue(e.getMessage().contains("F16 tensors are not supported"), e.getMessage());
        }
    }
}

package org.sparsevit.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.sparsevit.TestImages;
import org.sparsevit.tensor.Frames.ChannelOrder;

/**
 * Frames: the factory's checks and messages, the pixel layout (HWC, RGB or BGR), buffers, and the host
 * normalisation against Images.toTensor (the reference every backend's uploadFrames is held to).
 */
class FramesTest {

    static byte[] randomBytes(long seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The same pixels with the first and last byte of every pixel swapped (RGB <-> BGR). */
    static byte[] swapped(byte[] px) {
        byte[] s = px.clone();
        for (int i = 0; i < s.length; i += 3) {
            s[i] = px[i + 2];
            s[i + 2] = px[i];
        }
        return s;
    }

    static void assertMessage(String expected, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertEquals(expected, e.getMessage());
    }

    @Test
    void invalidFramesAreRefusedNamingTheProblem() {
        byte[] px = new byte[2 * 4 * 5 * 3];
        assertMessage("Frames: pixels must not be null", () -> Frames.of((byte[]) null, 1, 1, 1, ChannelOrder.RGB));
        assertMessage("Frames: pixels must not be null", () -> Frames.of((ByteBuffer) null, 1, 1, 1, ChannelOrder.RGB));
        assertMessage("Frames: channel order must not be null (RGB or BGR)", () -> Frames.of(px, 2, 4, 5, null));
        assertMessage("Frames: batch, height and width must be positive, got batch 0, height 4, width 5",
                () -> Frames.of(px, 0, 4, 5, ChannelOrder.RGB));
        assertMessage("Frames: batch, height and width must be positive, got batch 2, height -4, width 5",
                () -> Frames.of(px, 2, -4, 5, ChannelOrder.RGB));
        assertMessage("Frames: batch, height and width must be positive, got batch 2, height 4, width 0",
                () -> Frames.of(px, 2, 4, 0, ChannelOrder.BGR));
        assertMessage("Frames: 2 frames of 5x4 with 3 channels need 120 bytes, but the array has 119",
                () -> Frames.of(new byte[119], 2, 4, 5, ChannelOrder.RGB));
        assertMessage("Frames: 1 frames of 5x4 with 3 channels need 60 bytes, but the array has 120",
                () -> Frames.of(px, 1, 4, 5, ChannelOrder.RGB));
        assertMessage("Frames: 2 frames of 5x4 with 3 channels need 120 bytes, but the buffer has 100 remaining",
                () -> Frames.of(ByteBuffer.allocateDirect(120).position(20), 2, 4, 5, ChannelOrder.RGB));
        // sizes whose product overflows an int, and one that overflows a long
        assertMessage("Frames: 64 frames of 4096x4096 would make an input [64, 3, 4096, 4096] of 3.221e+09 values,"
                + " more than one tensor can hold (2^31 - 1)", () -> Frames.of(px, 64, 4096, 4096, ChannelOrder.RGB));
        IllegalArgumentException huge = assertThrows(IllegalArgumentException.class,
                () -> Frames.of(px, Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE, ChannelOrder.RGB));
        assertTrue(huge.getMessage().contains("more than one tensor can hold (2^31 - 1)"), huge.getMessage());
    }

    @Test
    void invalidNormalisationIsRefusedNamingTheValue() {
        Frames f = Frames.of(new byte[3], 1, 1, 1, ChannelOrder.RGB);
        float[] ok = {0.5f, 0.5f, 0.5f};
        assertMessage("Frames: mean must not be null", () -> f.withNormalization(null, ok));
        assertMessage("Frames: std must not be null", () -> f.withNormalization(ok, null));
        assertMessage("Frames: mean must have 3 values (R, G, B), got 4", () -> f.withNormalization(new float[4], ok));
        assertMessage("Frames: std must have 3 values (R, G, B), got 1", () -> f.withNormalization(ok, new float[1]));
        assertMessage("Frames: mean[1] = NaN must be finite",
                () -> f.withNormalization(new float[]{0, Float.NaN, 0}, ok));
        assertMessage("Frames: std[2] = 0.0 must be finite and positive",
                () -> f.withNormalization(ok, new float[]{1, 1, 0}));
        assertMessage("Frames: std[0] = -0.5 must be finite and positive",
                () -> f.withNormalization(ok, new float[]{-0.5f, 1, 1}));
        assertMessage("Frames: std[1] = Infinity must be finite and positive",
                () -> f.withNormalization(ok, new float[]{1, Float.POSITIVE_INFINITY, 1}));
    }

    @Test
    void describesItsShapeAndKeepsItsNormalisationToItself() {
        byte[] px = randomBytes(1, 3 * 7 * 5 * 3);
        Frames f = Frames.of(px, 3, 7, 5, ChannelOrder.BGR);
        assertEquals(3, f.batch());
        assertEquals(7, f.height());
        assertEquals(5, f.width());
        assertEquals(ChannelOrder.BGR, f.channelOrder());
        assertEquals(px.length, f.byteCount());
        assertArrayEquals(new int[]{3, 3, 7, 5}, f.tensorShape());
        assertArrayEquals(Frames.imagenetMean(), f.mean());
        assertArrayEquals(Frames.imagenetStd(), f.std());
        assertArrayEquals(new float[]{0.485f, 0.456f, 0.406f}, Frames.imagenetMean());
        assertArrayEquals(new float[]{0.229f, 0.224f, 0.225f}, Frames.imagenetStd());
        // copies in and out: changing an array given or returned changes nothing
        float[] mean = {0.1f, 0.2f, 0.3f};
        float[] std = {0.4f, 0.5f, 0.6f};
        Frames g = f.withNormalization(mean, std);
        mean[0] = 9;
        g.mean()[1] = 9;
        g.std()[2] = 9;
        assertArrayEquals(new float[]{0.1f, 0.2f, 0.3f}, g.mean());
        assertArrayEquals(new float[]{0.4f, 0.5f, 0.6f}, g.std());
        assertArrayEquals(Frames.imagenetMean(), f.mean(), "the original keeps its normalisation");
        // the pixels are not copied
        assertSame(px, f.pixels().array());
        assertSame(px, g.pixels().array());
    }

    /** Each value by the definition: byte of pixel (x, y), channel c of RGB, (v / 255 - mean) / std. */
    @Test
    void hostTensorIsTheNormalisedPlanesInRgbOrder() {
        int b = 2;
        int h = 5;
        int w = 7;
        byte[] px = randomBytes(2, b * h * w * 3);
        float[] mean = {0.3f, -0.25f, 0.7f};
        float[] std = {0.2f, 1.5f, 0.05f};
        for (ChannelOrder order : ChannelOrder.values()) {
            Frames f = Frames.of(px, b, h, w, order).withNormalization(mean, std);
            HostTensor t = f.toHostTensor();
            assertArrayEquals(new int[]{b, 3, h, w}, t.shape());
            for (int bb = 0; bb < b; bb++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int base = ((bb * h + y) * w + x) * 3;
                        int[] rgb = order == ChannelOrder.RGB
                                ? new int[]{px[base] & 0xff, px[base + 1] & 0xff, px[base + 2] & 0xff}
                                : new int[]{px[base + 2] & 0xff, px[base + 1] & 0xff, px[base] & 0xff};
                        for (int c = 0; c < 3; c++) {
                            float want = (rgb[c] / 255f - mean[c]) / std[c];
                            float got = t.data()[((bb * 3 + c) * h + y) * w + x];
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got),
                                    order + " image " + bb + " (" + x + ", " + y + ") channel " + c);
                            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(f.normalize(rgb[c], c)));
                        }
                    }
                }
            }
        }
    }

    @Test
    void bgrFramesGiveTheTensorOfTheSameImageInRgb() {
        byte[] rgb = randomBytes(3, 2 * 9 * 4 * 3);
        HostTensor a = Frames.of(rgb, 2, 9, 4, ChannelOrder.RGB).toHostTensor();
        HostTensor b = Frames.of(swapped(rgb), 2, 9, 4, ChannelOrder.BGR).toHostTensor();
        assertEquals(a, b);
        HostTensor c = Frames.of(swapped(rgb), 2, 9, 4, ChannelOrder.RGB).toHostTensor();
        assertFalse(a.equals(c), "reading BGR bytes as RGB swaps the red and blue planes");
    }

    @Test
    void buffersHoldTheSamePixelsAsArrays() {
        byte[] px = randomBytes(4, 3 * 6 * 5 * 3);
        HostTensor want = Frames.of(px, 3, 6, 5, ChannelOrder.BGR).toHostTensor();
        // a direct buffer with bytes before and after the frames: the remaining bytes, kept (not copied)
        ByteBuffer direct = ByteBuffer.allocateDirect(px.length + 17);
        direct.position(11);
        direct.put(px);
        direct.position(11).limit(11 + px.length);
        Frames d = Frames.of(direct, 3, 6, 5, ChannelOrder.BGR);
        direct.position(0).limit(direct.capacity()); // the caller's position and limit do not matter afterwards
        assertTrue(d.isDirect());
        assertEquals(want, d.toHostTensor());
        direct.put(11, (byte) (px[0] + 1));
        assertFalse(want.equals(d.toHostTensor()), "a direct buffer is a view: its bytes are the frames'");
        // a heap buffer over a whole array: the array itself; a part of an array: copied
        Frames whole = Frames.of(ByteBuffer.wrap(px), 3, 6, 5, ChannelOrder.BGR);
        assertFalse(whole.isDirect());
        assertSame(px, whole.pixels().array());
        byte[] bigger = new byte[px.length + 4];
        System.arraycopy(px, 0, bigger, 4, px.length);
        Frames part = Frames.of(ByteBuffer.wrap(bigger, 4, px.length), 3, 6, 5, ChannelOrder.BGR);
        assertNotSame(bigger, part.pixels().array());
        assertEquals(want, part.toHostTensor());
        assertEquals(want, Frames.of(ByteBuffer.wrap(px).asReadOnlyBuffer(), 3, 6, 5, ChannelOrder.BGR).toHostTensor());
    }

    /** The reference: Images.toTensor of the same pixels in a BufferedImage, bitwise, both channel orders. */
    @Test
    @Tag("awt")
    void hostTensorIsBitwiseWhatImagesBuild() {
        int b = 3;
        int h = 11;
        int w = 13;
        byte[] rgb = randomBytes(5, b * h * w * 3);
        for (int i = 0; i < 256; i++) {
            rgb[i] = (byte) i; // every byte value at least once
        }
        HostTensor want = TestImages.toTensorViaImages(rgb, b, h, w);
        assertEquals(want, Frames.of(rgb, b, h, w, ChannelOrder.RGB).toHostTensor());
        assertEquals(want, Frames.of(swapped(rgb), b, h, w, ChannelOrder.BGR).toHostTensor());
        Frames viaImages = TestImages.toFramesViaImages(rgb, b, h, w, 0);
        assertEquals(ChannelOrder.RGB, viaImages.channelOrder());
        assertArrayEquals(rgb, viaImages.pixels().array(), "Images.toFrames: the images' bytes");
        // with a crop: what Images.load gives for each image
        Frames cropped = TestImages.toFramesViaImages(rgb, b, h, w, 8);
        assertArrayEquals(new int[]{b, 3, 8, 8}, cropped.tensorShape());
        HostTensor c = cropped.toHostTensor();
        for (int i = 0; i < b; i++) {
            float[] one = TestImages.toTensorCropped(rgb, i, h, w, 8).data();
            float[] got = java.util.Arrays.copyOfRange(c.data(), i * one.length, (i + 1) * one.length);
            assertArrayEquals(one, got, "cropped image " + i);
        }
    }
}

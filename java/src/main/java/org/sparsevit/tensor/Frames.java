package org.sparsevit.tensor;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A batch of 8-bit colour frames as cameras and image decoders produce them: {@code batch} images of
 * {@code height x width} pixels, 3 interleaved channels per pixel (HWC, in {@link ChannelOrder#RGB RGB} or
 * {@link ChannelOrder#BGR BGR} order), one unsigned byte per value, images one after another. Byte
 * {@code ((b * height + y) * width + x) * 3 + i} is channel i of pixel (x, y) of image b.
 *
 * <p>It also carries the normalisation that turns it into a model's input: the model's input tensor is
 * [B, 3, H, W] float, channels in RGB order whatever the frames' order, value
 * {@code (v / 255f - mean[c]) / std[c]} for the byte v of RGB channel c (float arithmetic in exactly that
 * order, as {@code Images.toTensor} computes it). The mean and std default to the ImageNet values
 * ({@link #imagenetMean()}, {@link #imagenetStd()}: the values of {@code Images.MEAN} and {@code Images.STD}).
 * {@code Backend.uploadFrames} does this on the backend, so a GPU receives 1 byte per value instead of 4
 * and normalises there; {@link #toHostTensor()} does it on the host.
 *
 * <p>The pixels are not copied: a {@code byte[]} or a direct {@link ByteBuffer} is kept as given (any other heap
 * buffer, a slice or a read-only one, is copied once). They are read during {@code uploadFrames} (and so during
 * {@code forward}/{@code run} with frames), which copies them before it returns: until then they must not change,
 * and borrowed native memory behind a direct buffer (JNI's {@code NewDirectByteBuffer}, a JavaCPP pointer's
 * {@code asByteBuffer()}) must stay allocated: these frames keep the buffer object alive, not a foreign owner of
 * its memory. Immutable otherwise (the mean and std are copied in and out); safe to share between threads.
 */
public final class Frames {
    /** Order of the 3 interleaved channels of a pixel. */
    public enum ChannelOrder {
        /** Red, green, blue (most image decoders; Java's {@code BufferedImage.getRGB} order). */
        RGB,
        /** Blue, green, red (OpenCV's {@code Mat}, many camera drivers). */
        BGR;

        /** Index within a pixel's 3 bytes of RGB channel {@code c} (0 red, 1 green, 2 blue). */
        public int offsetOf(int c) {
            return this == RGB ? c : 2 - c;
        }
    }

    /** Channels per pixel. */
    public static final int CHANNELS = 3;

    private static final float[] IMAGENET_MEAN_VALUES = {0.485f, 0.456f, 0.406f};
    private static final float[] IMAGENET_STD_VALUES = {0.229f, 0.224f, 0.225f};

    /** The most values one tensor (and one Java array) can hold: the [B, 3, H, W] input must fit. */
    private static final long MAX_VALUES = Integer.MAX_VALUE;

    /** The pixels: a whole array, or null when {@link #direct} holds them. */
    private final byte[] array;
    /** The pixels in a direct buffer (position 0, limit = capacity = the byte count), or null. */
    private final ByteBuffer direct;
    private final int batch;
    private final int height;
    private final int width;
    private final ChannelOrder order;
    private final float[] mean;
    private final float[] std;

    private Frames(byte[] array, ByteBuffer direct, int batch, int height, int width, ChannelOrder order,
                   float[] mean, float[] std) {
        this.array = array;
        this.direct = direct;
        this.batch = batch;
        this.height = height;
        this.width = width;
        this.order = order;
        this.mean = mean;
        this.std = std;
    }

    /**
     * Frames over {@code pixels} (not copied), normalised with the ImageNet mean and std.
     *
     * @throws IllegalArgumentException for null arguments, sizes that are not positive, a [B, 3, H, W] input of
     *                                  more than 2^31 - 1 values, or {@code pixels.length != batch * height * width * 3}
     */
    public static Frames of(byte[] pixels, int batch, int height, int width, ChannelOrder order) {
        if (pixels == null) {
            throw new IllegalArgumentException("Frames: pixels must not be null");
        }
        long n = checkSizes(batch, height, width, order);
        if (pixels.length != n) {
            throw new IllegalArgumentException("Frames: " + batch + " frames of " + width + "x" + height + " with 3"
                    + " channels need " + n + " bytes, but the array has " + pixels.length);
        }
        return new Frames(pixels, null, batch, height, width, order, IMAGENET_MEAN_VALUES, IMAGENET_STD_VALUES);
    }

    /**
     * Frames over the {@code remaining()} bytes of {@code pixels}, normalised with the ImageNet mean and std. A
     * direct buffer is kept (a view of it: the buffer's position and limit may change afterwards, its bytes must
     * not), and so is a writable heap buffer that spans its whole array; any other heap buffer (a slice, or a
     * read-only one) is copied once.
     *
     * @throws IllegalArgumentException as {@link #of(byte[], int, int, int, ChannelOrder)}, with the buffer's
     *                                  remaining bytes in the place of the array's length
     */
    public static Frames of(ByteBuffer pixels, int batch, int height, int width, ChannelOrder order) {
        if (pixels == null) {
            throw new IllegalArgumentException("Frames: pixels must not be null");
        }
        long n = checkSizes(batch, height, width, order);
        if (pixels.remaining() != n) {
            throw new IllegalArgumentException("Frames: " + batch + " frames of " + width + "x" + height + " with 3"
                    + " channels need " + n + " bytes, but the buffer has " + pixels.remaining() + " remaining");
        }
        ByteBuffer view = pixels.slice();
        if (view.isDirect()) {
            return new Frames(null, view, batch, height, width, order, IMAGENET_MEAN_VALUES, IMAGENET_STD_VALUES);
        }
        byte[] bytes;
        if (view.hasArray() && view.arrayOffset() == 0 && view.array().length == n) {
            bytes = view.array();
        } else {
            bytes = new byte[(int) n];
            view.get(0, bytes);
        }
        return new Frames(bytes, null, batch, height, width, order, IMAGENET_MEAN_VALUES, IMAGENET_STD_VALUES);
    }

    /** Validates the sizes; returns the byte count. */
    private static long checkSizes(int batch, int height, int width, ChannelOrder order) {
        if (order == null) {
            throw new IllegalArgumentException("Frames: channel order must not be null (RGB or BGR)");
        }
        if (batch <= 0 || height <= 0 || width <= 0) {
            throw new IllegalArgumentException("Frames: batch, height and width must be positive, got batch " + batch
                    + ", height " + height + ", width " + width);
        }
        // in double: the product of three ints can overflow a long
        if ((double) batch * height * width * CHANNELS > MAX_VALUES) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "Frames: %d frames of %dx%d would make an input [%d, 3, %d, %d] of %.3e values, more than one"
                            + " tensor can hold (2^31 - 1)", batch, width, height, batch, height, width,
                    (double) batch * height * width * CHANNELS));
        }
        return (long) batch * height * width * CHANNELS;
    }

    /** The ImageNet mean per RGB channel, the default normalisation (a new array each call). */
    public static float[] imagenetMean() {
        return IMAGENET_MEAN_VALUES.clone();
    }

    /** The ImageNet standard deviation per RGB channel, the default normalisation (a new array each call). */
    public static float[] imagenetStd() {
        return IMAGENET_STD_VALUES.clone();
    }

    /**
     * The same pixels with another normalisation: {@code mean} and {@code std} per RGB channel (3 finite values
     * each, every std positive), in that order whatever the frames' channel order. Copied.
     *
     * @throws IllegalArgumentException naming the offending array and value
     */
    public Frames withNormalization(float[] mean, float[] std) {
        float[] m = checkChannels("mean", mean, false);
        float[] s = checkChannels("std", std, true);
        return new Frames(array, direct, batch, height, width, order, m, s);
    }

    private static float[] checkChannels(String what, float[] v, boolean positive) {
        if (v == null) {
            throw new IllegalArgumentException("Frames: " + what + " must not be null");
        }
        if (v.length != CHANNELS) {
            throw new IllegalArgumentException("Frames: " + what + " must have 3 values (R, G, B), got " + v.length);
        }
        float[] c = v.clone();
        for (int i = 0; i < CHANNELS; i++) {
            if (!Float.isFinite(c[i]) || (positive && !(c[i] > 0))) {
                throw new IllegalArgumentException("Frames: " + what + "[" + i + "] = " + c[i] + " must be "
                        + (positive ? "finite and positive" : "finite"));
            }
        }
        return c;
    }

    public int batch() {
        return batch;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public ChannelOrder channelOrder() {
        return order;
    }

    /** The mean per RGB channel (a copy). */
    public float[] mean() {
        return mean.clone();
    }

    /** The standard deviation per RGB channel (a copy). */
    public float[] std() {
        return std.clone();
    }

    /** Bytes of pixels, batch * height * width * 3. */
    public int byteCount() {
        return batch * height * width * CHANNELS;
    }

    /** The model input these frames make: [batch, 3, height, width]. */
    public int[] tensorShape() {
        return new int[]{batch, CHANNELS, height, width};
    }

    /** Whether the pixels are in a direct buffer (else in a heap array). */
    public boolean isDirect() {
        return direct != null;
    }

    /**
     * The pixels themselves, not a copy: a buffer over the whole array ({@code hasArray()}, offset 0) or a view of
     * the direct buffer, position 0, limit {@link #byteCount()}. Backends read them from here.
     */
    public ByteBuffer pixels() {
        return direct != null ? direct.duplicate() : ByteBuffer.wrap(array);
    }

    /**
     * The normalised value of byte {@code v} (0..255) in RGB channel {@code c}:
     * {@code (v / 255f - mean[c]) / std[c]}, float arithmetic in that order (the expression of
     * {@code Images.toTensor}; every backend computes exactly this).
     */
    public float normalize(int v, int c) {
        return ((float) v / 255f - mean[c]) / std[c];
    }

    /** The model input on the host: [B, 3, H, W] float32, RGB, normalised (see the class comment). */
    public HostTensor toHostTensor() {
        int plane = height * width;
        float[] out = new float[batch * CHANNELS * plane];
        float[] table = new float[CHANNELS * 256];
        for (int c = 0; c < CHANNELS; c++) {
            for (int v = 0; v < 256; v++) {
                table[c * 256 + v] = normalize(v, c);
            }
        }
        ByteBuffer px = pixels();
        for (int b = 0; b < batch; b++) {
            for (int c = 0; c < CHANNELS; c++) {
                int src = b * plane * CHANNELS + order.offsetOf(c);
                int o = (b * CHANNELS + c) * plane;
                for (int p = 0; p < plane; p++) {
                    out[o + p] = table[c * 256 + (px.get(src + p * CHANNELS) & 0xff)];
                }
            }
        }
        return new HostTensor(out, tensorShape());
    }

    @Override
    public String toString() {
        return "Frames[" + batch + " x " + width + "x" + height + " " + order + (isDirect() ? ", direct" : "")
                + ", mean " + Arrays.toString(mean) + ", std " + Arrays.toString(std) + "]";
    }
}

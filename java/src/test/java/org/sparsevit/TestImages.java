package org.sparsevit;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;
import java.util.function.IntBinaryOperator;

import javax.imageio.ImageIO;

/**
 * PNG files for the tests that read images. Kept apart so that the test classes calling it load (and can be
 * discovered) on a runtime without AWT, such as the offline bundle's; those tests carry the tag "awt".
 */
public final class TestImages {
    private TestImages() {
    }

    /** Writes a w x h RGB PNG whose pixel (x, y) is rgb(x, y). */
    public static void write(Path file, int w, int h, IntBinaryOperator rgb) throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, rgb.applyAsInt(x, y));
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }

    /** Writes a w x h PNG of seeded random colours. */
    public static void random(Path file, int w, int h, Random r) throws IOException {
        write(file, w, h, (x, y) -> r.nextInt(1 << 24));
    }

    /** {width, height} of an image file. */
    public static int[] size(Path file) throws IOException {
        BufferedImage img = ImageIO.read(file.toFile());
        return new int[]{img.getWidth(), img.getHeight()};
    }

    /**
     * Images.toTensor of {@code b} images whose pixels are the RGB bytes {@code rgb} ([b, h, w, 3]), one image after
     * another as Images.loadBatch concatenates them: the reference a Frames input must reproduce.
     */
    public static org.sparsevit.tensor.HostTensor toTensorViaImages(byte[] rgb, int b, int h, int w) {
        float[] all = new float[b * 3 * h * w];
        for (int i = 0; i < b; i++) {
            float[] one = org.sparsevit.io.Images.toTensor(image(rgb, i, h, w)).data();
            System.arraycopy(one, 0, all, i * one.length, one.length);
        }
        return new org.sparsevit.tensor.HostTensor(all, new int[]{b, 3, h, w});
    }

    /** Images.toFrames of the same images as {@link #toTensorViaImages}, cropped with cropSize when positive. */
    public static org.sparsevit.tensor.Frames toFramesViaImages(byte[] rgb, int b, int h, int w, int cropSize) {
        java.util.List<BufferedImage> imgs = new java.util.ArrayList<>();
        for (int i = 0; i < b; i++) {
            imgs.add(image(rgb, i, h, w));
        }
        return org.sparsevit.io.Images.toFrames(imgs, cropSize);
    }

    /** Images.toTensor after Images.resizeAndCrop of image i of {@code rgb}, as Images.load does with a crop size. */
    public static org.sparsevit.tensor.HostTensor toTensorCropped(byte[] rgb, int i, int h, int w, int cropSize) {
        return org.sparsevit.io.Images.toTensor(org.sparsevit.io.Images.resizeAndCrop(image(rgb, i, h, w), cropSize));
    }

    private static BufferedImage image(byte[] rgb, int i, int h, int w) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int o = i * h * w * 3;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++, o += 3) {
                img.setRGB(x, y, (rgb[o] & 0xff) << 16 | (rgb[o + 1] & 0xff) << 8 | (rgb[o + 2] & 0xff));
            }
        }
        return img;
    }
}

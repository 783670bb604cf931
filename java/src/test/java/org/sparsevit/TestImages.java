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
}

package org.sparsevit.io;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import javax.imageio.ImageIO;

import org.sparsevit.SparseVitException;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;

/**
 * PNG/JPEG images to normalised NCHW float32 tensors, with the ImageNet mean and standard deviation.
 * Classification follows the Swin evaluation transform (bicubic resize of the shorter side to
 * size / 0.875, centre crop to size); a backbone takes the image at its own size. The same images as 8-bit
 * {@link Frames} ({@link #toFrames}, {@link #loadFrames}) give bitwise the same model input once a backend
 * normalises them ({@code Backend.uploadFrames}), with a quarter of the bytes to move.
 */
public final class Images {
    /** The ImageNet mean per RGB channel ({@link Frames#imagenetMean()}). */
    public static final float[] MEAN = Frames.imagenetMean();
    /** The ImageNet standard deviation per RGB channel ({@link Frames#imagenetStd()}). */
    public static final float[] STD = Frames.imagenetStd();

    private Images() {
    }

    public static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
    }

    /** Reads an image file; throws SparseVitException naming the file when it cannot be decoded. */
    public static BufferedImage read(Path p) {
        if (!Files.isRegularFile(p)) {
            throw new SparseVitException(p + ": no such image file");
        }
        try {
            BufferedImage img = ImageIO.read(p.toFile());
            if (img == null) {
                throw new SparseVitException(p + ": not a readable PNG or JPEG image");
            }
            return img;
        } catch (IOException | RuntimeException e) {
            if (e instanceof SparseVitException s) {
                throw s;
            }
            throw new SparseVitException(p + ": cannot decode image (" + e.getMessage() + ")", e);
        }
    }

    /**
     * One image as [1, 3, H, W].
     *
     * @param cropSize for classification the square size to produce (e.g. 224); 0 keeps the image's size
     */
    public static HostTensor load(Path p, int cropSize) {
        BufferedImage img = read(p);
        if (cropSize > 0) {
            img = resizeAndCrop(img, cropSize);
        }
        return toTensor(img);
    }

    /** Several images of the same size as one batch [B, 3, H, W]. */
    public static HostTensor loadBatch(List<Path> files, int cropSize) {
        HostTensor first = null;
        float[] data = null;
        for (int i = 0; i < files.size(); i++) {
            HostTensor t = load(files.get(i), cropSize);
            if (first == null) {
                first = t;
                data = new float[t.data().length * files.size()];
            } else if (t.dim(2) != first.dim(2) || t.dim(3) != first.dim(3)) {
                throw new SparseVitException(files.get(i) + ": size " + t.dim(3) + "x" + t.dim(2)
                        + " differs from the batch's first image " + first.dim(3) + "x" + first.dim(2));
            }
            System.arraycopy(t.data(), 0, data, i * t.data().length, t.data().length);
        }
        if (first == null) {
            throw new SparseVitException("no images given");
        }
        return new HostTensor(data, new int[]{files.size(), 3, first.dim(2), first.dim(3)});
    }

    public static BufferedImage resizeAndCrop(BufferedImage img, int size) {
        int resize = (int) Math.floor(size / 0.875);
        int w = img.getWidth();
        int h = img.getHeight();
        int nw = w <= h ? resize : (int) Math.round((double) w * resize / h);
        int nh = w <= h ? (int) Math.round((double) h * resize / w) : resize;
        BufferedImage scaled = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = scaled.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BICUBIC);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.drawImage(img, 0, 0, nw, nh, null);
        g.dispose();
        int x0 = (nw - size) / 2;
        int y0 = (nh - size) / 2;
        return scaled.getSubimage(x0, y0, size, size);
    }

    /** RGB pixels to [1, 3, H, W], (v / 255 - mean) / std per channel. */
    public static HostTensor toTensor(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        float[] d = new float[3 * h * w];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                int[] ch = {(rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff};
                for (int c = 0; c < 3; c++) {
                    d[(c * h + y) * w + x] = (ch[c] / 255f - MEAN[c]) / STD[c];
                }
            }
        }
        return new HostTensor(d, new int[]{1, 3, h, w});
    }

    /**
     * Images of one size as a batch of RGB {@link Frames} (ImageNet normalisation): the pixels
     * {@link #toTensor} reads, as bytes. With {@code cropSize > 0} each image is first resized and cropped
     * ({@link #resizeAndCrop}), as {@link #load} does.
     *
     * @throws IllegalArgumentException when the list is empty or null, or the images differ in size
     */
    public static Frames toFrames(List<BufferedImage> images, int cropSize) {
        if (images == null || images.isEmpty()) {
            throw new IllegalArgumentException("toFrames: no images given");
        }
        int w = 0;
        int h = 0;
        byte[] px = null;
        for (int i = 0; i < images.size(); i++) {
            BufferedImage img = images.get(i);
            if (img == null) {
                throw new IllegalArgumentException("toFrames: image " + i + " is null");
            }
            if (cropSize > 0) {
                img = resizeAndCrop(img, cropSize);
            }
            if (i == 0) {
                w = img.getWidth();
                h = img.getHeight();
                long n = (long) images.size() * w * h * Frames.CHANNELS;
                if (n > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException("toFrames: " + images.size() + " images of " + w + "x" + h
                            + " need " + n + " bytes, more than one array holds");
                }
                px = new byte[(int) n];
            } else if (img.getWidth() != w || img.getHeight() != h) {
                throw new IllegalArgumentException("toFrames: image " + i + " is " + img.getWidth() + "x"
                        + img.getHeight() + ", the batch's first is " + w + "x" + h);
            }
            int o = i * w * h * Frames.CHANNELS;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++, o += Frames.CHANNELS) {
                    int rgb = img.getRGB(x, y);
                    px[o] = (byte) (rgb >> 16);
                    px[o + 1] = (byte) (rgb >> 8);
                    px[o + 2] = (byte) rgb;
                }
            }
        }
        return Frames.of(px, images.size(), h, w, Frames.ChannelOrder.RGB).withNormalization(MEAN, STD); // as toTensor reads them
    }

    /** Image files of one size as RGB frames; see {@link #loadBatch} (same files, same crop, same model input). */
    public static Frames loadFrames(List<Path> files, int cropSize) {
        if (files.isEmpty()) {
            throw new SparseVitException("no images given");
        }
        List<BufferedImage> imgs = new java.util.ArrayList<>();
        for (Path f : files) {
            BufferedImage img = read(f);
            imgs.add(cropSize > 0 ? resizeAndCrop(img, cropSize) : img);
            BufferedImage first = imgs.get(0);
            BufferedImage last = imgs.get(imgs.size() - 1);
            if (last.getWidth() != first.getWidth() || last.getHeight() != first.getHeight()) {
                throw new SparseVitException(f + ": size " + last.getWidth() + "x" + last.getHeight()
                        + " differs from the batch's first image " + first.getWidth() + "x" + first.getHeight());
            }
        }
        return toFrames(imgs, 0);
    }
}

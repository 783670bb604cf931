package org.sparsevit.search;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import org.sparsevit.SparseVitException;
import org.sparsevit.io.Images;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.Fingerprint;
import org.sparsevit.tensor.HostTensor;

/**
 * Top-1 accuracy (in [0, 1]) of a classifier on a labelled image folder: one sub-folder per class, class
 * index = position of the sub-folder in sorted name order; the PNG and JPEG files of each sub-folder are
 * its images. Images are decoded and preprocessed once ({@link Images#load} at the model's image size:
 * resize, centre crop, ImageNet normalization) and evaluated in batches of {@code batchSize}; the model is
 * loaded once by the caller and reused for every candidate.
 */
public final class Top1Evaluator implements Evaluator {
    private final SwinModel model;
    private final List<HostTensor> batches = new ArrayList<>();
    private final List<int[]> labels = new ArrayList<>();
    private final PaddingMode padding;
    private final int count;
    private final Path folder;
    private final int classes;

    /**
     * @param folder    one sub-folder of images per class
     * @param batchSize images per forward pass
     * @param padding   padding mode of the forward passes
     */
    public Top1Evaluator(SwinModel model, Path folder, int batchSize, PaddingMode padding) {
        this(model, folder, batchSize, padding, model.config().imgSize());
    }

    /**
     * As above, with the images resized and centre-cropped to {@code size} x {@code size} instead of the model's
     * image size (the size the search's constraints refer to).
     */
    public Top1Evaluator(SwinModel model, Path folder, int batchSize, PaddingMode padding, int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("top-1: image size must be positive, got " + size);
        }
        if (model.config().isBackbone()) {
            throw new SparseVitException("top-1 evaluation needs a classification model, not a backbone");
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("top-1: batch size must be positive, got " + batchSize);
        }
        this.model = model;
        this.padding = padding;
        List<Path> classes;
        try (Stream<Path> s = Files.list(folder)) {
            classes = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new SparseVitException(folder + ": cannot list the image folder (" + e.getMessage() + ")", e);
        }
        if (classes.isEmpty()) {
            throw new SparseVitException(folder + ": no class sub-folders (expected one folder of images per class)");
        }
        if (classes.size() > model.config().numClasses()) {
            throw new SparseVitException(folder + ": " + classes.size() + " class folders, but the model has "
                    + model.config().numClasses() + " classes");
        }
        List<Path> files = new ArrayList<>();
        List<Integer> lab = new ArrayList<>();
        for (int c = 0; c < classes.size(); c++) {
            try (Stream<Path> s = Files.list(classes.get(c))) {
                for (Path p : s.filter(Files::isRegularFile).filter(Images::isImage).sorted().toList()) {
                    files.add(p);
                    lab.add(c);
                }
            } catch (IOException e) {
                throw new SparseVitException(classes.get(c) + ": cannot list (" + e.getMessage() + ")", e);
            }
        }
        if (files.isEmpty()) {
            throw new SparseVitException(folder + ": no PNG or JPEG images in the class folders");
        }
        for (int i = 0; i < files.size(); i += batchSize) {
            int n = Math.min(batchSize, files.size() - i);
            batches.add(Images.loadBatch(files.subList(i, i + n), size));
            int[] l = new int[n];
            for (int q = 0; q < n; q++) {
                l[q] = lab.get(i + q);
            }
            labels.add(l);
        }
        this.count = files.size();
        this.folder = folder.toAbsolutePath().normalize();
        this.classes = classes.size();
    }

    /** Number of labelled images. */
    public int images() {
        return count;
    }

    /** The folder, its images (count, classes, fingerprint of the decoded images and labels), padding and model. */
    @Override
    public String describe() {
        List<HostTensor> data = new ArrayList<>(batches);
        for (int[] l : labels) {
            float[] f = new float[l.length];
            for (int i = 0; i < l.length; i++) {
                f[i] = l[i];
            }
            data.add(new HostTensor(f, new int[]{l.length}));
        }
        return String.format(Locale.ROOT, "top-1 accuracy on %s (%d images of %d classes %s), padding %s; %s",
                folder, count, classes, Fingerprint.of(data), padding, FidelityEvaluator.modelLine(model));
    }

    @Override
    public double[] score(List<SparsityConfig> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            int correct = 0;
            for (int b = 0; b < batches.size(); b++) {
                HostTensor logits = model.forward(batches.get(b), candidates.get(i).ratios(), padding, null, null).logits();
                int c = logits.dim(1);
                for (int q = 0; q < logits.dim(0); q++) {
                    correct += FidelityEvaluator.argmax(logits.data(), q * c, c) == labels.get(b)[q] ? 1 : 0;
                }
            }
            out[i] = (double) correct / count;
        }
        return out;
    }
}

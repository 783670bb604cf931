package org.sparsevit.search;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.Stream;

import org.sparsevit.SparseVitException;
import org.sparsevit.io.Images;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.Fingerprint;
import org.sparsevit.tensor.HostTensor;

/**
 * Label-free fidelity: how closely the pruned model reproduces the dense model on calibration inputs
 * (in [0, 1] for agreeing outputs, higher is better).
 *
 * <ul>
 *   <li>Backbone: for each of the four outputs, the cosine similarity of the pruned and dense feature maps
 *       of each image (flattened C x H x W), averaged over the images; then the mean over the four
 *       outputs, each output weighing the same.</li>
 *   <li>Classifier: the fraction of images whose top-1 class agrees with the dense model's, plus 1e-3 times
 *       the mean cosine similarity of the logits, which only breaks ties between equal agreements.</li>
 * </ul>
 *
 * <p>The dense outputs are computed once, in the constructor; the model is loaded once by the caller and
 * reused for every candidate; calibration inputs are run in batches of {@code batchSize} images. Without
 * images, {@link #syntheticInputs} gives seeded standard-normal ones; {@link #images} loads a folder.
 */
public final class FidelityEvaluator implements Evaluator {
    private final SwinModel model;
    private final List<HostTensor> batches = new ArrayList<>();
    private final List<SwinOutput> dense = new ArrayList<>();
    private final PaddingMode padding;
    private final int images;

    /** All inputs as one batch. */
    public FidelityEvaluator(SwinModel model, HostTensor inputs, PaddingMode padding) {
        this(model, inputs, padding, inputs.dim(0));
    }

    /**
     * @param inputs    calibration images [N, 3, H, W] (preprocessed)
     * @param padding   padding mode of the forward passes
     * @param batchSize images per forward pass
     */
    public FidelityEvaluator(SwinModel model, HostTensor inputs, PaddingMode padding, int batchSize) {
        if (inputs.rank() != 4 || inputs.dim(0) <= 0) {
            throw new SparseVitException("fidelity: calibration inputs must be [N, 3, H, W] with N > 0, got "
                    + Arrays.toString(inputs.shape()));
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("fidelity: batch size must be positive, got " + batchSize);
        }
        this.model = model;
        this.padding = padding;
        this.images = inputs.dim(0);
        int per = (int) (inputs.numel() / images);
        for (int i = 0; i < images; i += batchSize) {
            int n = Math.min(batchSize, images - i);
            float[] d = Arrays.copyOfRange(inputs.data(), i * per, (i + n) * per);
            HostTensor b = new HostTensor(d, new int[]{n, inputs.dim(1), inputs.dim(2), inputs.dim(3)});
            batches.add(b);
            dense.add(model.forward(b, null, padding, null, null));
        }
    }

    /** Seeded standard-normal calibration inputs [n, 3, h, w]. */
    public static HostTensor syntheticInputs(int n, int h, int w, long seed) {
        HostTensor t = HostTensor.zeros(n, 3, h, w);
        Random r = new Random(seed);
        for (int i = 0; i < t.data().length; i++) {
            t.data()[i] = (float) r.nextGaussian();
        }
        return t;
    }

    /**
     * Calibration images: the PNG and JPEG files under {@code folder} (sub-folders included), in sorted
     * path order, at most {@code limit} (0 for all), each resized and centre-cropped to
     * {@code size} x {@code size} ({@link Images#load}) and normalized.
     */
    public static HostTensor images(Path folder, int size, int limit) {
        List<Path> files;
        try (Stream<Path> s = Files.walk(folder)) {
            files = s.filter(Files::isRegularFile).filter(Images::isImage).sorted().toList();
        } catch (IOException e) {
            throw new SparseVitException(folder + ": cannot list the calibration images (" + e.getMessage() + ")", e);
        }
        if (files.isEmpty()) {
            throw new SparseVitException(folder + ": no PNG or JPEG calibration images");
        }
        if (limit > 0 && files.size() > limit) {
            files = files.subList(0, limit);
        }
        return Images.loadBatch(files, size);
    }

    /** Number of calibration images. */
    public int images() {
        return images;
    }

    /**
     * The measure, the calibration inputs (count, fingerprint, batch size: batching changes the last bits of a
     * score), the padding and {@link #modelLine the model}.
     */
    @Override
    public String describe() {
        return String.format(Locale.ROOT, "fidelity (%s) on %d calibration images %s in batches of %d, padding %s; %s",
                dense.get(0).logits() != null ? "top-1 agreement of logits" : "cosine similarity of backbone features",
                images, Fingerprint.of(batches), batches.get(0).dim(0), padding, modelLine(model));
    }

    /** The model of an evaluator: architecture, weights fingerprint, precision and backend. */
    static String modelLine(SwinModel m) {
        return String.format(Locale.ROOT, "%s, weights %s, %s on %s", m.config(), m.weightsFingerprint(),
                m.backend().precision(), m.backend().name());
    }

    @Override
    public double[] score(List<SparsityConfig> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            double[][] ratios = candidates.get(i).ratios();
            double[] sums = null;
            for (int b = 0; b < batches.size(); b++) {
                SwinOutput o = model.forward(batches.get(b), ratios, padding, null, null);
                double[] s = similaritySums(dense.get(b), o);
                if (sums == null) {
                    sums = s;
                } else {
                    for (int q = 0; q < s.length; q++) {
                        sums[q] += s[q];
                    }
                }
            }
            out[i] = combine(sums, images, dense.get(0).logits() != null);
        }
        return out;
    }

    /**
     * Per-batch sums: classifier {agreements, cosine of logits}; backbone one cosine sum per output.
     */
    static double[] similaritySums(SwinOutput ref, SwinOutput got) {
        if (ref.logits() != null) {
            int b = ref.logits().dim(0);
            int c = ref.logits().dim(1);
            double agree = 0;
            double cos = 0;
            for (int i = 0; i < b; i++) {
                agree += argmax(ref.logits().data(), i * c, c) == argmax(got.logits().data(), i * c, c) ? 1 : 0;
                cos += cosine(ref.logits().data(), got.logits().data(), i * c, c);
            }
            return new double[]{agree, cos};
        }
        double[] sums = new double[ref.features().size()];
        for (int s = 0; s < sums.length; s++) {
            HostTensor a = ref.features().get(s);
            HostTensor b = got.features().get(s);
            int per = (int) (a.numel() / a.dim(0));
            for (int i = 0; i < a.dim(0); i++) {
                sums[s] += cosine(a.data(), b.data(), i * per, per);
            }
        }
        return sums;
    }

    static double combine(double[] sums, int images, boolean classifier) {
        if (classifier) {
            return sums[0] / images + 1e-3 * sums[1] / images;
        }
        double m = 0;
        for (double s : sums) {
            m += s / images;
        }
        return m / sums.length;
    }

    /** Fidelity of one output against a reference (the same measure as {@link #score}, for one batch). */
    static double fidelity(SwinOutput ref, SwinOutput got) {
        int n = ref.logits() != null ? ref.logits().dim(0) : ref.features().get(0).dim(0);
        return combine(similaritySums(ref, got), n, ref.logits() != null);
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[off + i] > v[off + best]) {
                best = i;
            }
        }
        return best;
    }

    static double cosine(float[] a, float[] b, int off, int n) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = off; i < off + n; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return aa == 0 || bb == 0 ? (aa == bb ? 1 : 0) : ab / Math.sqrt(aa * bb);
    }
}

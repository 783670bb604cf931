package org.sparsevit.search;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

/**
 * Label-free fidelity: how closely the pruned model reproduces the dense model on calibration inputs.
 * Backbone: cosine similarity of each image's features, averaged over the four outputs and the images.
 * Classifier: top-1 agreement of the logits (ties broken by the mean cosine similarity of the logits, at a
 * weight of 1e-3). Dense outputs are computed once; the model is loaded once and reused.
 */
public final class FidelityEvaluator implements Evaluator {
    private final SwinModel model;
    private final HostTensor inputs;
    private final PaddingMode padding;
    private final SwinOutput dense;

    public FidelityEvaluator(SwinModel model, HostTensor inputs, PaddingMode padding) {
        this.model = model;
        this.inputs = inputs;
        this.padding = padding;
        this.dense = model.forward(inputs, null, padding, null, null);
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

    @Override
    public double[] score(List<SparsityConfig> candidates) {
        double[] out = new double[candidates.size()];
        for (int i = 0; i < out.length; i++) {
            SwinOutput o = model.forward(inputs, candidates.get(i).ratios(), padding, null, null);
            out[i] = fidelity(dense, o);
        }
        return out;
    }

    static double fidelity(SwinOutput ref, SwinOutput got) {
        if (ref.logits() != null) {
            int b = ref.logits().dim(0);
            int c = ref.logits().dim(1);
            int agree = 0;
            double cos = 0;
            for (int i = 0; i < b; i++) {
                agree += argmax(ref.logits().data(), i * c, c) == argmax(got.logits().data(), i * c, c) ? 1 : 0;
                cos += cosine(ref.logits().data(), got.logits().data(), i * c, c);
            }
            return (double) agree / b + 1e-3 * cos / b;
        }
        List<Double> sims = new ArrayList<>();
        for (int s = 0; s < ref.features().size(); s++) {
            HostTensor a = ref.features().get(s);
            HostTensor b = got.features().get(s);
            int per = (int) (a.numel() / a.dim(0));
            for (int i = 0; i < a.dim(0); i++) {
                sims.add(cosine(a.data(), b.data(), i * per, per));
            }
        }
        return sims.stream().mapToDouble(Double::doubleValue).average().orElse(0);
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

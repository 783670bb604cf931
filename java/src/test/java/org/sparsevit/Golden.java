package org.sparsevit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;

import org.sparsevit.tensor.HostTensor;

/** Comparison against golden tensors: max|ours - ref| &lt;= tol * max(1, max|ref|). */
public final class Golden {
    private Golden() {
    }

    public static double maxAbsDiff(HostTensor a, HostTensor b) {
        double m = 0;
        for (int i = 0; i < a.data().length; i++) {
            m = Math.max(m, Math.abs((double) a.data()[i] - b.data()[i]));
        }
        return m;
    }

    public static void assertClose(String what, HostTensor ref, HostTensor ours, double tol) {
        assertArrayEquals(ref.shape(), ours.shape(), what + ": shape");
        double diff = maxAbsDiff(ref, ours);
        double bound = tol * Math.max(1.0, ref.maxAbs());
        assertTrue(diff <= bound, String.format(Locale.ROOT, "%s: max|ours - ref| = %.3g exceeds %.3g (max|ref| = %.3g)",
                what, diff, bound, ref.maxAbs()));
    }

    /**
     * Kept windows of a reduced-precision run against the FP32 run: equal, except where two windows trade
     * places whose FP32 scores differ by at most {@code tieTol} relative to the largest score (near-ties that
     * F16/BF16 rounding of the activations may reorder). Returns the number of such swaps.
     *
     * @param reference  the FP32 run's records (with window scores where a list was built)
     * @param reduced    the reduced-precision run's records
     */
    public static int assertSameKeptUpToTies(String what, java.util.List<org.sparsevit.model.KeptListener.BlockRecord> reference,
                                             java.util.List<org.sparsevit.model.KeptListener.BlockRecord> reduced,
                                             double tieTol) {
        org.junit.jupiter.api.Assertions.assertEquals(reference.size(), reduced.size(), what + ": block count");
        int swaps = 0;
        float[][][] scores = new float[2][][]; // the latest FP32 scores per parity
        for (int i = 0; i < reference.size(); i++) {
            var r = reference.get(i);
            var q = reduced.get(i);
            int parity = r.block() % 2;
            if (r.block() == 0) {
                scores = new float[2][][];
            }
            if (r.windowScores() != null) {
                scores[parity] = r.windowScores();
            }
            org.junit.jupiter.api.Assertions.assertEquals(r.k(), q.k(), what + " record " + i + ": k");
            if (r.kept() == null) {
                org.junit.jupiter.api.Assertions.assertNull(q.kept(), what + " record " + i);
                continue;
            }
            for (int img = 0; img < r.kept().length; img++) {
                float[] sc = scores[parity] == null ? null : scores[parity][img];
                double top = 0;
                if (sc != null) {
                    for (float v : sc) {
                        top = Math.max(top, Math.abs(v));
                    }
                }
                for (int j = 0; j < r.kept()[img].length; j++) {
                    int a = r.kept()[img][j];
                    int b = q.kept()[img][j];
                    if (a == b) {
                        continue;
                    }
                    String where = String.format(Locale.ROOT, "%s stage %d block %d image %d position %d: window %d (FP32) vs %d",
                            what, r.stage(), r.block(), img, j, a, b);
                    assertTrue(sc != null, where + ", and no FP32 scores to call it a near-tie");
                    double gap = Math.abs((double) sc[a] - sc[b]) / Math.max(1e-30, top);
                    assertTrue(gap <= tieTol, String.format(Locale.ROOT, "%s: FP32 scores %.6g and %.6g are %.2e apart, not a near-tie (<= %.1e)",
                            where, sc[a], sc[b], gap, tieTol));
                    swaps++;
                }
            }
        }
        return swaps;
    }
}

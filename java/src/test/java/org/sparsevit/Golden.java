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
}

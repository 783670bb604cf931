package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

class ErfTest {
    @Test
    void rationalApproximationMatchesTheSeriesEverywhere() {
        Random r = new Random(3);
        double worst = 0;
        for (int i = 0; i < 400_000; i++) {
            float x = (float) ((r.nextDouble() * 2 - 1) * 4.5);
            double ref = Math.signum(x) * Erf.series(Math.min(4, Math.abs(x)));
            worst = Math.max(worst, Math.abs(Erf.erf(x) - ref));
        }
        assertEquals(0, worst, 4.5e-7, "max |erf error|");
        assertEquals(0.8427007929497149, Erf.erf(1), 2e-7);
        assertEquals(-0.9953222650189527, Erf.erf(-2), 2e-7);
        assertEquals(1.0, Erf.erf(10), 1.2e-7);
        assertEquals(-1.0, Erf.erf(-1e30f), 1.2e-7);
        assertEquals(0.0, Erf.erf(0), 0);
        assertEquals(Float.NaN, Erf.erf(Float.NaN));
    }

    @Test
    void geluOverRowsIsTheScalarGelu() {
        Random r = new Random(5);
        int len = 389;
        float[] v = new float[len];
        float[] bias = new float[len];
        for (int i = 0; i < len; i++) {
            v[i] = (float) (r.nextGaussian() * 3);
            bias[i] = (float) r.nextGaussian();
        }
        float[] plain = v.clone();
        Erf.gelu(plain, len);
        float[] fused = v.clone();
        Erf.biasGelu(fused, bias, len);
        for (int i = 0; i < len; i++) {
            assertEquals(Erf.gelu(v[i]), plain[i], 0);
            assertEquals(Erf.gelu(v[i] + bias[i]), fused[i], 0);
            double x = v[i];
            double exact = 0.5 * x * (1 + Math.signum(x) * Erf.series(Math.min(4, Math.abs(x) / Math.sqrt(2))));
            assertEquals(exact, plain[i], 1e-6 * Math.max(1, Math.abs(exact)), "GELU(" + x + ")");
        }
    }
}

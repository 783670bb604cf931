package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;

import org.junit.jupiter.api.Test;

class ErfTest {
    @Test
    void tableInterpolationMatchesTheSeriesEverywhere() {
        Random r = new Random(3);
        double worst = 0;
        for (int i = 0; i < 200_000; i++) {
            float x = (float) ((r.nextDouble() * 2 - 1) * 4.5);
            double ref = Math.abs(x) >= 4 ? Math.signum(x) * Math.min(1, Erf.series(Math.abs(x))) : Math.signum(x) * Erf.series(Math.abs(x));
            worst = Math.max(worst, Math.abs(Erf.erf(x) - ref));
        }
        assertEquals(0, worst, 1.5e-7, "max |erf error|");
        assertEquals(0.8427007929497149, Erf.erf(1), 1e-7);
        assertEquals(-0.9953222650189527, Erf.erf(-2), 1e-7);
        assertEquals(1.0, Erf.erf(10), 0);
        assertEquals(0.0, Erf.erf(0), 0);
    }
}

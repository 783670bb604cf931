package org.sparsevit.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

class FastExpTest {
    @Test
    void matchesMathExpToFloatPrecisionOnTheSoftmaxRange() {
        Random r = new Random(2);
        double worst = 0;
        for (int i = 0; i < 1_000_000; i++) {
            float x = (float) (i % 2 == 0 ? -r.nextDouble() * 87 : r.nextDouble() * 88);
            double ref = Math.exp(x);
            worst = Math.max(worst, Math.abs(FastExp.exp(x) - ref) / ref);
        }
        assertTrue(worst < 3e-7, "max relative error " + worst);
        assertEquals(1f, FastExp.exp(0f));
        assertEquals(0f, FastExp.exp(-100f));
        assertEquals((float) Math.E, FastExp.exp(1f), 2e-7f);
        // exactly halfway between two multiples of ln 2 (the rounding's ties) and the ends of the range
        assertEquals(Math.exp(0.5 * Math.log(2)), FastExp.exp((float) (0.5 * Math.log(2))), 3e-7);
        assertEquals(Math.exp(-86.9f), FastExp.exp(-86.9f), 3e-7 * Math.exp(-86.9f));
        assertEquals(Float.POSITIVE_INFINITY, FastExp.exp(89f));
    }
}

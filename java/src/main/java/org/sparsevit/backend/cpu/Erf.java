package org.sparsevit.backend.cpu;

/**
 * The error function for exact GELU, in float, branch-free so that the JIT vectorises the loops over rows:
 * erf(z) = z P(s) / Q(s) with s = z^2 / 16 on z clamped to [-4, 4] (beyond 4, erf is 1 to within 1.6e-8), P of
 * degree 6 and Q of degree 5. The coefficients come from bench/tools/fit_erf.py (weighted least squares towards the
 * minimax, numpy, 40,001 points on [0, 4]; Q has no zero there): the rational function is within 6.4e-9 of
 * erf in exact arithmetic, and evaluated in float within 4.1e-7 (a few units in the last place near 1, from
 * rounding in the two Horner chains; so erf(x) for x &gt;= 4 is 0.9999999, two units below 1). Over a row of a
 * linear layer's output, bias + GELU take a third of the time of the interpolated table this replaced (which
 * the JIT could not vectorise). Loops stay vectorisable only while every array is indexed by the loop
 * variable alone (an offset in one of them stops it, measured on JDK 17).
 */
final class Erf {
    private static final float P0 = 1.1283792235538852f;
    private static final float P1 = 2.930607277163338f;
    private static final float P2 = 13.919063623133756f;
    private static final float P3 = 15.590644774852542f;
    private static final float P4 = 25.683422725079012f;
    private static final float P5 = 5.3158178291069635f;
    private static final float P6 = -0.2528142459565601f;
    private static final float Q1 = 7.9305266358440445f;
    private static final float Q2 = 29.030967129364633f;
    private static final float Q3 = 63.1690762486287f;
    private static final float Q4 = 86.17283264778841f;
    private static final float Q5 = 69.95708617909857f;
    private static final float RSQRT2 = 0.70710678f;

    private Erf() {
    }

    /** erf by its Taylor series in double, summed until the terms vanish (for tests; accurate on [0, 4]). */
    static double series(double z) {
        double sum = 0;
        double term = z;
        for (int n = 0; n < 400; n++) {
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.abs(t) < 1e-17 * Math.abs(sum) && n > 5) {
                break;
            }
            term *= -z * z / (n + 1);
        }
        return Math.min(1.0, 2 / Math.sqrt(Math.PI) * sum);
    }

    static float erf(float x) {
        float z = Math.max(Math.min(x, 4f), -4f);
        float s = z * z * 0.0625f;
        float p = P0 + s * (P1 + s * (P2 + s * (P3 + s * (P4 + s * (P5 + s * P6)))));
        float q = 1f + s * (Q1 + s * (Q2 + s * (Q3 + s * (Q4 + s * Q5))));
        return Math.max(Math.min(z * p / q, 1f), -1f);
    }

    /** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)). */
    static float gelu(float x) {
        return 0.5f * x * (1f + erf(x * RSQRT2));
    }

    /** GELU over v[0, len) in place. */
    static void gelu(float[] v, int len) {
        for (int i = 0; i < len; i++) {
            v[i] = gelu(v[i]);
        }
    }

    /** v[j] = GELU(v[j] + bias[j]) over v[0, len). */
    static void biasGelu(float[] v, float[] bias, int len) {
        for (int i = 0; i < len; i++) {
            v[i] = gelu(v[i] + bias[i]);
        }
    }
}

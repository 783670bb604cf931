package org.sparsevit.tensor;

import java.util.Arrays;

/** Small helpers for shapes (int arrays, outermost dimension first). */
public final class Shapes {
    private Shapes() {
    }

    public static long numel(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
        }
        return n;
    }

    public static String str(int... shape) {
        return Arrays.toString(shape);
    }

    /** Throws IllegalArgumentException naming {@code what} unless shapes are equal. */
    public static void check(String what, int[] actual, int... expected) {
        if (!Arrays.equals(actual, expected)) {
            throw new IllegalArgumentException(what + ": expected shape " + Arrays.toString(expected)
                    + " but got " + Arrays.toString(actual));
        }
    }
}

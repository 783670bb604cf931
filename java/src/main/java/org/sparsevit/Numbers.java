package org.sparsevit;

import java.util.regex.Pattern;

/** Parsing numbers that users type (ratios, levels, windows): plain decimals only. */
public final class Numbers {
    private static final Pattern DECIMAL = Pattern.compile("[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?");

    private Numbers() {
    }

    /**
     * A plain decimal number such as {@code 0.5}, {@code .5}, {@code 5e-1} or {@code -2}. Java's own parser also
     * takes {@code 0.5d}, {@code 0x1p-1}, {@code NaN} and {@code Infinity}, which are typos or no number a user
     * means here.
     *
     * @throws NumberFormatException for anything else
     */
    public static double decimal(String s) {
        String t = s.strip();
        if (!DECIMAL.matcher(t).matches()) {
            throw new NumberFormatException("not a decimal number: '" + t + "'");
        }
        return Double.parseDouble(t);
    }
}

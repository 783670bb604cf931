package org.sparsevit.search;

import java.util.Locale;

import org.sparsevit.SparseVitException;

/**
 * A two-sided constraint window [min, max], bounds included (GMACs or milliseconds).
 *
 * @param min lower bound
 * @param max upper bound ({@code Double.MAX_VALUE} for none)
 */
public record Range(double min, double max) {
    public Range {
        if (!(min <= max)) {
            throw new SparseVitException("constraint window " + min + ":" + max + " is empty (min must not exceed max)");
        }
    }

    /** Whether {@code min <= v <= max}. */
    public boolean contains(double v) {
        return v >= min && v <= max;
    }

    /** "MIN:MAX" (either side may be empty for an open bound). */
    public static Range parse(String s, String what) {
        String[] p = s.split(":", -1);
        if (p.length != 2) {
            throw new SparseVitException(what + " '" + s + "' is not MIN:MAX");
        }
        try {
            double lo = p[0].isBlank() ? 0 : org.sparsevit.Numbers.decimal(p[0]);
            double hi = p[1].isBlank() ? Double.MAX_VALUE : org.sparsevit.Numbers.decimal(p[1]);
            try {
                return new Range(lo, hi);
            } catch (SparseVitException e) {
                throw new SparseVitException(what + " '" + s + "': " + e.getMessage(), e);
            }
        } catch (NumberFormatException e) {
            throw new SparseVitException(what + " '" + s + "' is not MIN:MAX with numbers");
        }
    }

    /** {@code MIN..MAX}, e.g. {@code 10.0..11.0} ({@code inf} for an open upper bound). */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s..%s", min, max == Double.MAX_VALUE ? "inf" : String.valueOf(max));
    }
}

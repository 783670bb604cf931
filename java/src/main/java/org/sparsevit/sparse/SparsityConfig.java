package org.sparsevit.sparse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinConfig;

/**
 * Per-block SparseViT sparsity ratios: one ratio in [0, 1] per block of every stage. Immutable.
 *
 * <p>Forms: JSON {@code {"stages": [[...], [...], [...], [...]]}} (as in the official fixtures) and the
 * compact form with stages separated by {@code /} and blocks by {@code ,}, e.g.
 * {@code 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0}.
 *
 * <p>Semantics (official backbone): a stage computes its window importance at the first block whose ratio
 * is &gt; 0; blocks before it process every window ({@link #selectionActive}). From then on each grid
 * parity (even blocks: regular grid, odd blocks: shifted grid) has a kept list, built by the first block
 * of that parity that runs ({@link #buildsList}) with k = (int) (nW * (1 - s)) windows
 * ({@link #keptWindows}). Every later block of the parity asserts that its k is not larger than the
 * current list and then truncates the list to its k, so the next block of the parity is compared with
 * that shorter list: the k of one parity must not increase from block to block once selection started.
 *
 * <p>{@link #validate(SwinConfig, int, int)} and {@link #validate(int[], int[])} apply that rule exactly
 * for one input size (k depends on nW). {@link #validate(SwinConfig)} and {@link #validate(int[])} are the
 * size-independent form: within a parity the ratios must not decrease from its list-building block on.
 * Since k never increases with s, that guarantees the official rule at every input size; it is slightly
 * stricter (e.g. 0.2 then 0.199 keeps 28 then 28 of 36 windows, accepted by the size-aware check only).
 * {@link #checkSearchSpace} is the narrower rule of the evolutionary search: pairs share a ratio, ratios
 * non-decreasing per stage.
 */
public final class SparsityConfig {
    /**
     * The SparseViT paper's three configurations for Swin-T (stage depths 2, 2, 6, 2), by their names, in order
     * (unmodifiable).
     */
    public static final java.util.Map<String, String> PAPER;

    static {
        java.util.Map<String, String> m = new java.util.LinkedHashMap<>();
        m.put("paper-1", "0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0");
        m.put("paper-2", "0.6,0.6/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0");
        m.put("paper-3", "0.7,0.7/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0");
        PAPER = java.util.Collections.unmodifiableMap(m);
    }

    private final double[][] ratios;

    /** Ratios [stage][block], copied. */
    public SparsityConfig(double[][] ratios) {
        if (ratios == null) {
            throw new IllegalArgumentException("ratios must not be null");
        }
        this.ratios = new double[ratios.length][];
        for (int s = 0; s < ratios.length; s++) {
            if (ratios[s] == null) {
                throw new IllegalArgumentException("ratios of stage " + s + " must not be null");
            }
            this.ratios[s] = ratios[s].clone();
        }
    }

    /** All zeros: every block processes every window. */
    public static SparsityConfig dense(SwinConfig cfg) {
        return dense(cfg.depths());
    }

    public static SparsityConfig dense(int[] depths) {
        return uniform(depths, 0);
    }

    /** The same ratio for every block. */
    public static SparsityConfig uniform(int[] depths, double r) {
        double[][] v = new double[depths.length][];
        for (int s = 0; s < depths.length; s++) {
            v[s] = new double[depths[s]];
            Arrays.fill(v[s], r);
        }
        return new SparsityConfig(v);
    }

    /**
     * The command-line form ({@code --sparsity FILE|COMPACT}): {@code dense}, {@code uniform:R},
     * {@code paper-1} .. {@code paper-3} ({@link #PAPER}, for Swin-T's depths), a path to a JSON file (any existing file, or a name ending in {@code .json}), inline JSON, or the compact form.
     * {@code cfg} gives the block counts for {@code dense} and {@code uniform:R}; it may be null when the
     * spec is known to list every ratio. The result is not validated: call {@link #validate}.
     */
    public static SparsityConfig parse(String spec, SwinConfig cfg) {
        if (spec == null) {
            throw new SparseVitException("sparsity: no specification given");
        }
        String s = spec.strip();
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.equals("dense") || lower.startsWith("uniform:")) {
            if (cfg == null) {
                throw new SparseVitException("sparsity: '" + s + "' needs the model's block counts; give every"
                        + " ratio instead (e.g. 0,0/0,0/0,0,0,0,0,0/0,0)");
            }
            return lower.equals("dense") ? dense(cfg)
                    : uniform(cfg.depths(), number(s.substring(8), "uniform ratio"));
        }
        String paper = PAPER.get(lower);
        if (paper != null) {
            SparsityConfig c = parseCompact(paper);
            int[] depths = Arrays.stream(c.ratios).mapToInt(r -> r.length).toArray();
            if (cfg != null && !Arrays.equals(depths, cfg.depths())) {
                throw new SparseVitException("sparsity: " + lower + " is the SparseViT paper's configuration for Swin-T"
                        + " (depths " + Arrays.toString(depths) + "), but this model's depths are "
                        + Arrays.toString(cfg.depths()));
            }
            return c;
        }
        if (s.startsWith("{")) {
            return parseJson(s);
        }
        Path p;
        try {
            p = Path.of(s);
        } catch (java.nio.file.InvalidPathException e) {
            return parseCompact(s);
        }
        if (s.endsWith(".json") || Files.isRegularFile(p)) {
            if (!Files.isRegularFile(p)) {
                throw new SparseVitException("sparsity: no such file " + s);
            }
            try {
                return parseJson(Files.readString(p));
            } catch (IOException e) {
                throw new SparseVitException("sparsity: cannot read " + s + " (" + e.getMessage() + ")", e);
            } catch (SparseVitException e) {
                throw new SparseVitException(s + ": " + e.getMessage(), e);
            }
        }
        return parseCompact(s);
    }

    /**
     * {@link #parse(String, SwinConfig)} without a model: a JSON file, inline JSON or the compact form.
     * {@code dense} and {@code uniform:R} are refused here since they need the block counts.
     */
    public static SparsityConfig parse(String spec) {
        return parse(spec, null);
    }

    /** The compact form {@code 0.3,0.3/0,0/...}. */
    public static SparsityConfig parseCompact(String s) {
        String[] stages = s.strip().split("/", -1);
        double[][] v = new double[stages.length][];
        for (int i = 0; i < stages.length; i++) {
            String[] blocks = stages[i].split(",", -1);
            v[i] = new double[blocks.length];
            for (int j = 0; j < blocks.length; j++) {
                v[i][j] = number(blocks[j], "stage " + i + ", block " + j);
            }
        }
        return new SparsityConfig(v);
    }

    private static double number(String t, String where) {
        try {
            return org.sparsevit.Numbers.decimal(t);
        } catch (NumberFormatException e) {
            throw new SparseVitException("sparsity: " + where + ": '" + t.strip() + "' is not a number"
                    + " (compact form: stages separated by '/', blocks by ',', e.g. 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0)");
        }
    }

    /** JSON {@code {"stages": [[...], ...]}}. */
    public static SparsityConfig parseJson(String json) {
        JsonNode root;
        root = org.sparsevit.io.Json.parse(json, "sparsity");
        JsonNode stages = root == null ? null : root.get("stages");
        if (stages == null || !stages.isArray()) {
            throw new SparseVitException("sparsity: JSON must be an object with a \"stages\" array of arrays of ratios");
        }
        double[][] v = new double[stages.size()][];
        for (int s = 0; s < v.length; s++) {
            JsonNode st = stages.get(s);
            if (!st.isArray()) {
                throw new SparseVitException("sparsity: stage " + s + " is not an array of ratios");
            }
            v[s] = new double[st.size()];
            for (int j = 0; j < v[s].length; j++) {
                if (!st.get(j).isNumber()) {
                    throw new SparseVitException("sparsity: stage " + s + ", block " + j + ": " + st.get(j) + " is not a number");
                }
                v[s][j] = st.get(j).asDouble();
            }
        }
        return new SparsityConfig(v);
    }

    /** A copy of the ratios, [stage][block]. */
    public double[][] ratios() {
        double[][] c = new double[ratios.length][];
        for (int s = 0; s < ratios.length; s++) {
            c[s] = ratios[s].clone();
        }
        return c;
    }

    public double ratio(int stage, int block) {
        return ratios[stage][block];
    }

    public int numStages() {
        return ratios.length;
    }

    public int depth(int stage) {
        return ratios[stage].length;
    }

    public boolean isDense() {
        return Arrays.stream(ratios).flatMapToDouble(Arrays::stream).allMatch(r -> r == 0);
    }

    /** k = (int) (nW * (1.0 - ratio)), exactly as the official code (10 windows at 0.9 keep 0). */
    public static int keptWindows(int numWindows, double ratio) {
        return (int) (numWindows * (1.0 - ratio));
    }

    /** Whether selection is active at this block: some block up to it in the stage has a ratio &gt; 0. */
    public boolean selectionActive(int stage, int block) {
        for (int j = 0; j <= block; j++) {
            if (ratios[stage][j] > 0) {
                return true;
            }
        }
        return false;
    }

    /** Whether this block builds its parity's kept list (the first of its parity once selection is active). */
    public boolean buildsList(int stage, int block) {
        if (!selectionActive(stage, block)) {
            return false;
        }
        for (int j = block % 2; j < block; j += 2) {
            if (selectionActive(stage, j)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Checks the configuration against a model, for every input size: block counts, range [0, 1], and the
     * size-independent parity rule (see the class comment). Throws SparseVitException naming the stage,
     * block and rule.
     */
    public void validate(SwinConfig cfg) {
        validate(cfg.depths());
    }

    /**
     * Size-independent check: counts, range, and within one grid parity ratios must not decrease once
     * selection has started (which guarantees the official rule at every input size).
     */
    public void validate(int[] depths) {
        checkCountsAndRange(depths);
        for (int s = 0; s < depths.length; s++) {
            for (int parity = 0; parity < 2; parity++) {
                int list = -1;
                for (int j = parity; j < depths[s]; j += 2) {
                    if (!selectionActive(s, j)) {
                        continue;
                    }
                    if (list >= 0 && ratios[s][j] < ratios[s][list]) {
                        throw new SparseVitException(String.format(Locale.ROOT,
                                "sparsity: stage %d, block %d (%s grid): ratio %s keeps more windows than block %d's"
                                        + " list (ratio %s); within one grid parity ratios must not decrease once"
                                        + " selection has started", s, j, gridName(parity),
                                fmt(ratios[s][j]), list, fmt(ratios[s][list])));
                    }
                    list = j;
                }
            }
        }
    }

    /**
     * The exact rule of the official backbone for one input size: within a stage and grid parity, no block
     * may keep more windows (k) than the list it takes a prefix of (the list as left by the previous block
     * of that parity). Also runs {@link #validate(int[])}'s count and range checks, but not its
     * size-independent ratio rule.
     */
    public void validate(SwinConfig cfg, int height, int width) {
        org.sparsevit.model.StageGeometry[] geo = org.sparsevit.model.StageGeometry.of(cfg, height, width);
        int[] nW = new int[geo.length];
        for (int s = 0; s < geo.length; s++) {
            nW[s] = geo[s].numWindows();
        }
        validateWindows(cfg.depths(), nW, " at " + height + "x" + width);
    }

    /**
     * {@link #validate(SwinConfig, int, int)} with the window counts nW of every stage given directly
     * (the regular and shifted grids of a stage have the same count).
     */
    public void validate(int[] depths, int[] windowsPerStage) {
        if (windowsPerStage.length != depths.length) {
            throw new IllegalArgumentException(windowsPerStage.length + " window counts for " + depths.length
                    + " stages");
        }
        validateWindows(depths, windowsPerStage, "");
    }

    private void validateWindows(int[] depths, int[] windowsPerStage, String where) {
        checkCountsAndRange(depths);
        for (int s = 0; s < depths.length; s++) {
            int nW = windowsPerStage[s];
            for (int parity = 0; parity < 2; parity++) {
                int list = -1;
                int listK = 0;
                for (int j = parity; j < depths[s]; j += 2) {
                    if (!selectionActive(s, j)) {
                        continue;
                    }
                    int k = keptWindows(nW, ratios[s][j]);
                    if (list >= 0 && k > listK) {
                        throw new SparseVitException(String.format(Locale.ROOT,
                                "sparsity: stage %d, block %d (%s grid): ratio %s keeps %d of %d windows%s, more"
                                        + " than the %d of block %d's list (ratio %s); within one grid parity a block"
                                        + " may not keep more windows than the list it takes a prefix of",
                                s, j, gridName(parity), fmt(ratios[s][j]), k, nW, where,
                                listK, list, fmt(ratios[s][list])));
                    }
                    list = j;
                    listK = k;
                }
            }
        }
    }

    private static String gridName(int parity) {
        return parity == 1 ? "shifted" : "regular";
    }

    private void checkCountsAndRange(int[] depths) {
        if (ratios.length != depths.length) {
            throw new SparseVitException("sparsity: " + ratios.length + " stages given, the model has " + depths.length
                    + " (one list of ratios per stage, stages separated by '/' in the compact form)");
        }
        for (int s = 0; s < depths.length; s++) {
            if (ratios[s].length != depths[s]) {
                throw new SparseVitException("sparsity: stage " + s + " has " + ratios[s].length
                        + " ratios, the model has " + depths[s] + " blocks there (expected " + depths[s] + ", got "
                        + ratios[s].length + ")");
            }
            for (int j = 0; j < depths[s]; j++) {
                double r = ratios[s][j];
                if (!(r >= 0 && r <= 1)) {
                    throw new SparseVitException("sparsity: stage " + s + ", block " + j + ": ratio " + fmt(r)
                            + " is outside [0, 1]");
                }
            }
        }
    }

    /** The evolutionary search's space: blocks (0,1), (2,3), ... share a ratio; non-decreasing within a stage. */
    public void checkSearchSpace() {
        for (int s = 0; s < ratios.length; s++) {
            double[] r = ratios[s];
            if (r.length % 2 != 0) {
                throw new SparseVitException("sparsity: stage " + s + " has an odd number of blocks (" + r.length
                        + "); the search space pairs blocks");
            }
            for (int j = 0; j + 1 < r.length; j += 2) {
                if (r[j] != r[j + 1]) {
                    throw new SparseVitException("sparsity: stage " + s + ", blocks " + j + " and " + (j + 1)
                            + " must share a ratio in the search space (" + fmt(r[j]) + " vs " + fmt(r[j + 1]) + ")");
                }
                if (j >= 2 && r[j] < r[j - 2]) {
                    throw new SparseVitException("sparsity: stage " + s + ", block " + j + ": ratio " + fmt(r[j])
                            + " is below the previous pair's " + fmt(r[j - 2])
                            + "; ratios must be non-decreasing within a stage in the search space");
                }
            }
        }
    }

    /** Integral values without ".0" (0, 1), everything else as Java prints a double (0.3, NaN, Infinity). */
    private static String fmt(double v) {
        return Double.isFinite(v) && v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v)
                : String.valueOf(v);
    }

    public String toCompact() {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < ratios.length; s++) {
            if (s > 0) {
                sb.append('/');
            }
            for (int j = 0; j < ratios[s].length; j++) {
                if (j > 0) {
                    sb.append(',');
                }
                sb.append(fmt(ratios[s][j]));
            }
        }
        return sb.toString();
    }

    public ObjectNode toJsonNode() {
        ObjectNode root = new ObjectMapper().createObjectNode();
        ArrayNode st = root.putArray("stages");
        for (double[] r : ratios) {
            ArrayNode a = st.addArray();
            for (double v : r) {
                a.add(v);
            }
        }
        return root;
    }

    public String toJson() {
        return toJsonNode().toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SparsityConfig c && Arrays.deepEquals(ratios, c.ratios);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(ratios);
    }

    @Override
    public String toString() {
        return toCompact();
    }
}

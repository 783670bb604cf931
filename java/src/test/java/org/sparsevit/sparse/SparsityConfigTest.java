package org.sparsevit.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.Fixtures;
import org.sparsevit.SparseVitException;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;

class SparsityConfigTest {
    static final SwinConfig T = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);
    /** The fixtures' model: width 32, depths 2, 2, 4, 2. */
    static final SwinConfig MINI = new SwinConfig(32, new int[]{2, 2, 4, 2}, new int[]{1, 2, 4, 8}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.MMDET, MergeOrder.UNFOLD, 1e-5f);

    static String error(Runnable r) {
        return assertThrows(SparseVitException.class, r::run).getMessage();
    }

    static SparsityConfig c(String compact) {
        return SparsityConfig.parseCompact(compact);
    }

    @Test
    void compactAndJsonRoundTrip() {
        SparsityConfig c = c("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0");
        assertEquals("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0", c.toCompact());
        assertEquals(c.toCompact(), c.toString());
        assertEquals("{\"stages\":[[0.3,0.3],[0.0,0.0],[0.1,0.1,0.2,0.2,0.2,0.2],[0.0,0.0]]}", c.toJson());
        assertEquals(c, SparsityConfig.parseJson(c.toJson()));
        assertEquals(c, SparsityConfig.parse(c.toJson()));
        assertEquals(c, SparsityConfig.parseCompact(c.toCompact()));
        assertEquals(c.hashCode(), SparsityConfig.parseJson(c.toJson()).hashCode());
        assertNotEquals(c, c("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.25/0,0"));
        assertEquals(0.2, c.ratio(2, 3));
        assertEquals(4, c.numStages());
        assertEquals(6, c.depth(2));
        assertFalse(c.isDense());
        c.validate(T);
        c.validate(T, 672, 672);
        c.checkSearchSpace();
        // whitespace and exponents are accepted, values survive the round trip exactly
        SparsityConfig odd = c(" 1e-3, 0.123456789 / 0,0/0,0,0,0,0,0/0,1 ");
        assertEquals(0.001, odd.ratio(0, 0));
        assertEquals(odd, c(odd.toCompact()));
        assertEquals(odd, SparsityConfig.parseJson(odd.toJson()));
        // ratios() is a copy
        double[][] r = c.ratios();
        r[0][0] = 0.9;
        assertEquals(0.3, c.ratio(0, 0));
    }

    @Test
    void denseAndUniform() {
        SparsityConfig d = SparsityConfig.dense(T);
        assertTrue(d.isDense());
        assertEquals("0,0/0,0/0,0,0,0,0,0/0,0", d.toCompact());
        assertEquals(d, SparsityConfig.dense(new int[]{2, 2, 6, 2}));
        assertEquals(d, SparsityConfig.parse("dense", T));
        assertEquals(d, SparsityConfig.parse(" DENSE ", T));
        assertEquals(SparsityConfig.uniform(T.depths(), 0.5), SparsityConfig.parse("uniform:0.5", T));
        assertEquals("0.5,0.5/0.5,0.5/0.5,0.5,0.5,0.5,0.5,0.5/0.5,0.5",
                SparsityConfig.uniform(T.depths(), 0.5).toCompact());
        assertEquals("sparsity: 'dense' needs the model's block counts; give every ratio instead"
                + " (e.g. 0,0/0,0/0,0,0,0,0,0/0,0)", error(() -> SparsityConfig.parse("dense")));
        assertTrue(error(() -> SparsityConfig.parse("uniform:x", T)).startsWith(
                "sparsity: uniform ratio: 'x' is not a number"));
    }

    @Test
    void fixtureFilesParse() {
        String[][] cases = {
                {"sv-224-cfg", "0.5,0.5/0.25,0.25/0.2,0.2,0.5,0.5/0,0"},
                {"sv-224-dense", "0,0/0,0/0,0,0,0/0,0"},
                {"sv-200x300-cfg", "0.3,0.3/0.4,0.4/0.1,0.1,0.6,0.6/0.5,0.5"}};
        for (String[] k : cases) {
            Path f = Fixtures.file("sparsevit-reference", k[0] + ".sparsity.json");
            SparsityConfig c = SparsityConfig.parse(f.toString());
            assertEquals(k[1], c.toCompact(), k[0]);
            assertEquals(c, SparsityConfig.parse(f.toString(), MINI));
            c.validate(MINI);
            c.validate(MINI, 224, 224);
            c.validate(MINI, 200, 300);
            c.checkSearchSpace();
            assertEquals(k[0].endsWith("dense"), c.isDense());
        }
    }

    @Test
    void fileErrorsNameTheFile(@TempDir Path tmp) throws Exception {
        Path missing = tmp.resolve("nope.json");
        assertEquals("sparsity: no such file " + missing, error(() -> SparsityConfig.parse(missing.toString())));
        Path bad = tmp.resolve("bad.sparsity");
        Files.writeString(bad, "{\"stages\": [[0.1, \"x\"]]}");
        assertEquals(bad + ": sparsity: stage 0, block 1: \"x\" is not a number",
                error(() -> SparsityConfig.parse(bad.toString())));
        Path ok = tmp.resolve("ok.txt");
        Files.writeString(ok, "{\"stages\": [[0.1, 0.1], [0, 0], [0, 0, 0, 0, 0, 0], [0, 0]]}");
        assertEquals(c("0.1,0.1/0,0/0,0,0,0,0,0/0,0"), SparsityConfig.parse(ok.toString(), T));
    }

    @Test
    void malformedTextNamesTheProblem() {
        assertTrue(error(() -> c("0,0/0,x/0,0,0,0,0,0/0,0")).startsWith(
                "sparsity: stage 1, block 1: 'x' is not a number (compact form: stages separated by '/'"));
        assertTrue(error(() -> c("0.5,0.5,/0,0")).startsWith("sparsity: stage 0, block 2: '' is not a number"));
        assertTrue(error(() -> c("")).startsWith("sparsity: stage 0, block 0: '' is not a number"));
        // plain decimals only: Java's parser would take a type suffix or a hex float
        assertTrue(error(() -> c("0.5d,0.5/0,0")).startsWith("sparsity: stage 0, block 0: '0.5d' is not a number"));
        assertTrue(error(() -> c("0x1p-1,0.5/0,0")).startsWith("sparsity: stage 0, block 0: '0x1p-1' is not a number"));
        assertEquals(0.5, c(".5,5e-1/0,0").ratio(0, 1));
        assertEquals(0.5, c(".5,5e-1/0,0").ratio(0, 0));
        String cut = error(() -> SparsityConfig.parseJson("{\"stages\": [[0.1,"));
        assertTrue(cut.startsWith("sparsity: not valid JSON at line 1, column ") && !cut.contains("REDACTED")
                && !cut.contains("\n"), cut);
        // what follows the value is not ignored
        String trailing = error(() -> SparsityConfig.parseJson("{\"stages\": [[0.1]]} {\"stages\": [[0.9]]}"));
        assertTrue(trailing.startsWith("sparsity: not valid JSON at line 1, column ") && trailing.contains("Trailing"),
                trailing);
        String noStages = "sparsity: JSON must be an object with a \"stages\" array of arrays of ratios";
        assertEquals(noStages, error(() -> SparsityConfig.parseJson("{\"ratios\": [[0.1]]}")));
        assertEquals(noStages, error(() -> SparsityConfig.parseJson("[[0.1]]")));
        assertEquals(noStages, error(() -> SparsityConfig.parseJson("{\"stages\": 3}")));
        assertEquals("sparsity: stage 1 is not an array of ratios",
                error(() -> SparsityConfig.parseJson("{\"stages\": [[0.1], 0.2]}")));
        assertEquals("sparsity: stage 0, block 0: null is not a number",
                error(() -> SparsityConfig.parseJson("{\"stages\": [[null]]}")));
        assertEquals("sparsity: no specification given", error(() -> SparsityConfig.parse(null, T)));
    }

    @Test
    void keptWindowsTruncatesInDoublePrecision() {
        assertEquals(0, SparsityConfig.keptWindows(10, 0.9));
        assertEquals(61, SparsityConfig.keptWindows(88, 0.3));
        assertEquals(14, SparsityConfig.keptWindows(24, 0.4));
        assertEquals(5, SparsityConfig.keptWindows(6, 0.1));
        assertEquals(2, SparsityConfig.keptWindows(6, 0.6));
        assertEquals(1, SparsityConfig.keptWindows(2, 0.5));
        assertEquals(32, SparsityConfig.keptWindows(64, 0.5));
        assertEquals(12, SparsityConfig.keptWindows(16, 0.25));
        assertEquals(3, SparsityConfig.keptWindows(4, 0.2));
        assertEquals(2, SparsityConfig.keptWindows(4, 0.5));
        assertEquals(0, SparsityConfig.keptWindows(5, 1.0));
        assertEquals(7, SparsityConfig.keptWindows(7, 0.0));
        assertEquals(0, SparsityConfig.keptWindows(1, 0.5));
        // 1 - 0.7 = 0.30000000000000004: 10 windows keep 3, not 2
        assertEquals(3, SparsityConfig.keptWindows(10, 0.7));
        // products just below an integer truncate down: 5 * (1 - 0.8) = 0.9999999999999998 -> 0,
        // 25 * (1 - 0.56) = 10.999999999999998 -> 10
        assertEquals(0, SparsityConfig.keptWindows(5, 0.8));
        assertEquals(1, SparsityConfig.keptWindows(10, 0.8)); // 1.9999999999999996
        assertEquals(10, SparsityConfig.keptWindows(25, 0.56));
        assertEquals(43, SparsityConfig.keptWindows(100, 0.57));
        // 576 * 0.4 = 230.4 -> 230 (Swin-T stage 0 at 672x672)
        assertEquals(230, SparsityConfig.keptWindows(576, 0.6));
    }

    @Test
    void countsAndRangeAreChecked() {
        assertEquals("sparsity: 3 stages given, the model has 4 (one list of ratios per stage, stages separated"
                + " by '/' in the compact form)", error(() -> c("0,0/0,0/0,0,0,0,0,0").validate(T)));
        assertEquals("sparsity: stage 2 has 5 ratios, the model has 6 blocks there (expected 6, got 5)",
                error(() -> c("0,0/0,0/0,0,0,0,0/0,0").validate(T)));
        assertEquals("sparsity: stage 0 has 3 ratios, the model has 2 blocks there (expected 2, got 3)",
                error(() -> c("0.5,0.5,0.5/0,0/0,0,0,0,0,0/0,0").validate(T, 224, 224)));
        assertEquals("sparsity: stage 0, block 1: ratio 1.5 is outside [0, 1]",
                error(() -> c("0,1.5/0,0/0,0,0,0,0,0/0,0").validate(T)));
        assertEquals("sparsity: stage 3, block 0: ratio -0.1 is outside [0, 1]",
                error(() -> c("0,0/0,0/0,0,0,0,0,0/-0.1,0").validate(T)));
        // the compact form refuses NaN and Infinity as it parses; built otherwise, the range check catches them
        assertTrue(error(() -> c("0,0/NaN,0/0,0,0,0,0,0/0,0")).startsWith("sparsity: stage 1, block 0: 'NaN' is not"
                + " a number"));
        assertTrue(error(() -> c("0,0/0,Infinity/0,0,0,0,0,0/0,0")).startsWith("sparsity: stage 1, block 1:"
                + " 'Infinity' is not a number"));
        assertEquals("sparsity: stage 1, block 0: ratio NaN is outside [0, 1]", error(() -> new SparsityConfig(
                new double[][]{{0, 0}, {Double.NaN, 0}, {0, 0, 0, 0, 0, 0}, {0, 0}}).validate(T)));
        assertEquals("sparsity: stage 1, block 1: ratio Infinity is outside [0, 1]", error(() -> new SparsityConfig(
                new double[][]{{0, 0}, {0, Double.POSITIVE_INFINITY}, {0, 0, 0, 0, 0, 0}, {0, 0}}).validate(T)));
        assertEquals("sparsity: stage 0, block 0: ratio 2 is outside [0, 1]",
                error(() -> c("2,2/0,0/0,0,0,0,0,0/0,0").validate(T, 672, 672)));
        // the bounds themselves are fine: ratio 1 keeps no window
        c("1,1/0,0/0,0,0,0,1,1/0,0").validate(T);
        c("1,1/0,0/0,0,0,0,1,1/0,0").validate(T, 224, 224);
    }

    @Test
    void parityRuleSizeIndependent() {
        String parity = error(() -> c("0,0/0,0/0.2,0.2,0.2,0.1,0.3,0.3/0,0").validate(T));
        assertEquals("sparsity: stage 2, block 3 (shifted grid): ratio 0.1 keeps more windows than block 1's list"
                + " (ratio 0.2); within one grid parity ratios must not decrease once selection has started", parity);
        assertEquals("sparsity: stage 0, block 2 (regular grid): ratio 0.2 keeps more windows than block 0's list"
                        + " (ratio 0.3); within one grid parity ratios must not decrease once selection has started",
                error(() -> SparsityConfig.parseCompact("0.3,0.3,0.2,0.3").validate(new int[]{4})));
        // the list is truncated by every block of its parity: 0.2, 0.4, 0.3 fails at the third block
        assertEquals("sparsity: stage 2, block 4 (regular grid): ratio 0.3 keeps more windows than block 2's list"
                        + " (ratio 0.4); within one grid parity ratios must not decrease once selection has started",
                error(() -> c("0,0/0,0/0.2,0.2,0.4,0.4,0.3,0.4/0,0").validate(T)));
        // a zero ratio after selection started keeps every window: more than a pruned list
        assertTrue(error(() -> c("0,0/0,0/0.2,0,0,0,0,0/0,0").validate(T)).startsWith(
                "sparsity: stage 2, block 2 (regular grid): ratio 0 keeps more windows than block 0's list (ratio 0.2)"));
        // accepted: zeros before selection starts, different ratios within a pair, the shifted list built
        // by a block whose own ratio is 0 (it keeps every window, later shifted blocks only need >= 0)
        c("0,0/0,0/0,0,0.1,0.3,0.2,0.5/0,0").validate(T);
        c("0,0/0,0/0.2,0,0.2,0.1,0.2,0.1/0,0").validate(T);
        c("0,0.5/0,0/0,0,0,0,0,0/0,0").validate(T);
        // the two parities are independent: the shifted grid may prune less than the regular one
        c("0.6,0.1/0,0/0,0,0,0,0,0/0,0").validate(T);
    }

    @Test
    void parityRuleSizeAware() {
        // at 224 stage 3 has one window: 0.5 keeps 0 and so does 0.3, which the official code accepts
        SparsityConfig sizeDependent = c("0,0/0,0/0,0,0,0,0,0/0.5,0.3");
        sizeDependent.validate(T, 224, 224);
        String sizeAware = error(() -> c("0.5,0.5/0,0/0.2,0.2,0.2,0.1,0.3,0.3/0,0").validate(T, 672, 672));
        assertEquals("sparsity: stage 2, block 3 (shifted grid): ratio 0.1 keeps 32 of 36 windows at 672x672, more"
                + " than the 28 of block 1's list (ratio 0.2); within one grid parity a block may not keep more"
                + " windows than the list it takes a prefix of", sizeAware);
        // 0.2 then 0.199 keeps 28 then 28 of 36 windows: accepted at 672 but not by the size-independent rule
        SparsityConfig close = c("0,0/0,0/0.2,0,0.199,0,0.5,0/0,0");
        assertTrue(error(() -> close.validate(T)).contains("ratio 0.199 keeps more windows than block 0's list"));
        close.validate(T, 672, 672);
        close.validate(T.depths(), new int[]{576, 144, 36, 9});
        // ... but not with 2000 windows: 1600 then 1601 (2000 * (1 - 0.199) = 1601.9999999999998)
        assertEquals("sparsity: stage 2, block 2 (regular grid): ratio 0.199 keeps 1601 of 2000 windows, more than"
                        + " the 1600 of block 0's list (ratio 0.2); within one grid parity a block may not keep more"
                        + " windows than the list it takes a prefix of",
                error(() -> close.validate(T.depths(), new int[]{1, 1, 2000, 1})));
        // truncation chains: 0.2 (28), 0.5 (18), 0.4 (21 > 18) fails against block 2's list
        assertTrue(error(() -> c("0,0/0,0/0.2,0,0.5,0,0.4,0/0,0").validate(T, 672, 672)).startsWith(
                "sparsity: stage 2, block 4 (regular grid): ratio 0.4 keeps 21 of 36 windows at 672x672, more than"
                        + " the 18 of block 2's list (ratio 0.5)"));
        // the size-independent rule implies the size-aware one at every size
        SparsityConfig ok = c("0.3,0.3/0,0.1/0.1,0.1,0.2,0.25,0.2,0.9/0,0");
        ok.validate(T);
        for (int hw = 32; hw <= 1400; hw += 37) {
            ok.validate(T, hw, 2 * hw - 5);
        }
    }

    @Test
    void searchSpaceRules() {
        c("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0").checkSearchSpace();
        SparsityConfig.dense(T).checkSearchSpace();
        assertEquals("sparsity: stage 0, blocks 0 and 1 must share a ratio in the search space (0.3 vs 0.4)",
                error(() -> c("0.3,0.4/0,0/0,0,0,0,0,0/0,0").checkSearchSpace()));
        assertEquals("sparsity: stage 2, block 2: ratio 0.1 is below the previous pair's 0.2; ratios must be"
                        + " non-decreasing within a stage in the search space",
                error(() -> c("0,0/0,0/0.2,0.2,0.1,0.1,0.3,0.3/0,0").checkSearchSpace()));
        assertEquals("sparsity: stage 1 has an odd number of blocks (3); the search space pairs blocks",
                error(() -> c("0,0/0,0,0/0,0").checkSearchSpace()));
        // valid for the backbone but outside the search space
        SparsityConfig unpaired = c("0,0.5/0,0/0,0,0,0,0,0/0,0");
        unpaired.validate(T);
        assertTrue(error(unpaired::checkSearchSpace).contains("must share a ratio"));
    }

    @Test
    void selectionStartsAtTheFirstPositiveRatio() {
        SparsityConfig c = c("0,0/0,0.2/0,0,0.1,0.1,0.3,0.3/0,0");
        assertFalse(c.selectionActive(0, 0) || c.selectionActive(0, 1));
        assertTrue(!c.selectionActive(1, 0) && c.selectionActive(1, 1));
        assertTrue(c.buildsList(1, 1) && !c.buildsList(1, 0));
        assertFalse(c.selectionActive(2, 1));
        assertTrue(c.selectionActive(2, 2) && c.selectionActive(2, 5));
        assertTrue(c.buildsList(2, 2) && c.buildsList(2, 3) && !c.buildsList(2, 4) && !c.buildsList(2, 5));
        assertFalse(c.buildsList(2, 0) || c.buildsList(2, 1));
        // selection starts at a shifted block: the next regular block builds the regular list
        SparsityConfig d = SparsityConfig.parseCompact("0,0.2,0,0.2,0.5,0.5");
        boolean[] builds = new boolean[6];
        for (int j = 0; j < 6; j++) {
            builds[j] = d.buildsList(0, j);
        }
        assertArrayEquals(new boolean[]{false, true, true, false, false, false}, builds);
        // a block with ratio 0 after selection started builds its list all the same
        SparsityConfig e = SparsityConfig.parseCompact("0.4,0,0.4,0");
        assertTrue(e.selectionActive(0, 1) && e.buildsList(0, 1) && !e.buildsList(0, 3));
    }
}

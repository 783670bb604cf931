package org.sparsevit.sparse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparsevit.Fixtures;
import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;

class SparsityConfigTest {
    static final SwinConfig T = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);

    static String error(Runnable r) {
        return assertThrows(SparseVitException.class, r::run).getMessage();
    }

    @Test
    void compactAndJsonRoundTrip() {
        SparsityConfig c = SparsityConfig.parseCompact("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0");
        assertEquals("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0", c.toCompact());
        assertEquals(c, SparsityConfig.parseJson(c.toJson()));
        assertEquals(0.2, c.ratio(2, 3));
        c.validate(T);
        c.checkSearchSpace();
        assertEquals(SparsityConfig.dense(T), SparsityConfig.parse("dense", T));
        assertEquals(SparsityConfig.uniform(T.depths(), 0.5), SparsityConfig.parse("uniform:0.5", T));
    }

    @Test
    void fixtureFilesParse() {
        SparsityConfig c = SparsityConfig.parse(Fixtures.file("sparsevit-reference", "sv-224-cfg.sparsity.json").toString(), T);
        assertEquals("0.5,0.5/0.25,0.25/0.2,0.2,0.5,0.5/0,0", c.toCompact());
    }

    @Test
    void keptWindowsTruncatesInDoublePrecision() {
        assertEquals(0, SparsityConfig.keptWindows(10, 0.9));
        assertEquals(61, SparsityConfig.keptWindows(88, 0.3));
        assertEquals(14, SparsityConfig.keptWindows(24, 0.4));
        assertEquals(5, SparsityConfig.keptWindows(6, 0.1));
        assertEquals(2, SparsityConfig.keptWindows(6, 0.6));
        assertEquals(1, SparsityConfig.keptWindows(2, 0.5));
        assertEquals(0, SparsityConfig.keptWindows(5, 1.0));
    }

    @Test
    void invalidConfigurationsNameTheProblem() {
        assertEquals("sparsity: 3 stages given, the model has 4",
                error(() -> SparsityConfig.parseCompact("0,0/0,0/0,0,0,0,0,0").validate(T)));
        assertEquals("sparsity: stage 2 has 5 ratios, the model has 6 blocks there",
                error(() -> SparsityConfig.parseCompact("0,0/0,0/0,0,0,0,0/0,0").validate(T)));
        assertEquals("sparsity: stage 0, block 1: ratio 1.5 is outside [0, 1]",
                error(() -> SparsityConfig.parseCompact("0,1.5/0,0/0,0,0,0,0,0/0,0").validate(T)));
        assertEquals("sparsity: stage 1, block 0: ratio NaN is outside [0, 1]",
                error(() -> SparsityConfig.parseCompact("0,0/NaN,0/0,0,0,0,0,0/0,0").validate(T)));
        assertTrue(error(() -> SparsityConfig.parseCompact("0,0/0,x/0,0,0,0,0,0/0,0")).startsWith(
                "sparsity: stage 1, block 1: 'x' is not a number"));
        String parity = error(() -> SparsityConfig.parseCompact("0,0/0,0/0.2,0.2,0.2,0.1,0.3,0.3/0,0").validate(T));
        assertTrue(parity.startsWith("sparsity: stage 2, block 3 (shifted grid): ratio 0.1 keeps more windows than block 1's list (ratio 0.2)"), parity);
        // the exact, size-aware rule accepts what the official code accepts: at 224 stage 3 has one window
        SparsityConfig sizeDependent = SparsityConfig.parseCompact("0,0/0,0/0,0,0,0,0,0/0.5,0.5");
        sizeDependent.validate(T, 224, 224);
        String k = error(() -> SparsityConfig.parseCompact("0.5,0.5,/0,0/0,0,0,0,0,0/0,0").validate(T));
        assertTrue(k.contains("stage 0"), k);
        String sizeAware = error(() -> SparsityConfig.parseCompact("0.5,0.5/0,0/0.2,0.2,0.2,0.1,0.3,0.3/0,0").validate(T, 672, 672));
        assertTrue(sizeAware.startsWith("sparsity: stage 2, block 3 (shifted grid): ratio 0.1 keeps 32 of 36 windows at 672x672, more than the 28"), sizeAware);
    }

    @Test
    void searchSpaceRules() {
        assertEquals("sparsity: stage 0, blocks 0 and 1 must share a ratio in the search space (0.3 vs 0.4)",
                error(() -> SparsityConfig.parseCompact("0.3,0.4/0,0/0,0,0,0,0,0/0,0").checkSearchSpace()));
        assertTrue(error(() -> SparsityConfig.parseCompact("0,0/0,0/0.2,0.2,0.1,0.1,0.3,0.3/0,0").checkSearchSpace())
                .contains("non-decreasing"));
    }

    @Test
    void selectionStartsAtTheFirstPositiveRatio() {
        SparsityConfig c = SparsityConfig.parseCompact("0,0/0,0.2/0,0,0.1,0.1,0.3,0.3/0,0");
        assertTrue(!c.selectionActive(1, 0) && c.selectionActive(1, 1));
        assertTrue(c.buildsList(1, 1));
        assertTrue(c.buildsList(2, 2) && c.buildsList(2, 3) && !c.buildsList(2, 4));
    }
}

package org.sparsevit.macs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparsevit.SparseVitException;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.StageGeometry;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

/** The Swin and SparseViT papers' figures within 0.2 GMACs, the stage geometry, and the counting rules. */
class MacCounterTest {
    static final SwinConfig T = SwinConfig.preset("swin-t");
    static final SwinConfig TB = T.withTask(Task.BACKBONE, 0);
    /** The fixtures' model: width 32, depths 2, 2, 4, 2, heads 1, 2, 4, 8, window 7. */
    static final SwinConfig MINI = new SwinConfig(32, new int[]{2, 2, 4, 2}, new int[]{1, 2, 4, 8}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.MMDET, MergeOrder.UNFOLD, 1e-5f);

    @Test
    void swinTinyClassification224() {
        MacReport r = MacCounter.count(T, 224, 224, 1, SparsityConfig.dense(T));
        assertEquals(4.49, r.totalGMacs(), 0.2);
        assertEquals(4.49, r.totalGMacs(), 0.005);
        assertEquals(4_494_292_224L, r.total());
        assertEquals(r.total(), MacCounter.count(T, 224, 224, 1).total());
    }

    @ParameterizedTest(name = "{0}x{1} batch {2} {3}: {4} G")
    @CsvSource(delimiter = ';', value = {
            "672;672;4;dense;161.8",
            "672;672;4;0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0;139.5",
            "672;672;4;0.6,0.6/0,0/0.2,0.2,0.4,0.4,0.5,0.5/0,0;116.5",
            "576;576;4;dense;149.5",
            "544;544;4;dense;119.8",
            "256;704;6;dense;140.8"})
    void sparseVitPaperBackboneFigures(int h, int w, int b, String sp, double expected) {
        double g = MacCounter.count(TB, h, w, b, SparsityConfig.parse(sp, TB)).totalGMacs();
        assertEquals(expected, g, 0.2);
        // the convention actually lands within 0.08 G of every figure
        assertEquals(expected, g, 0.08);
    }

    @Test
    void componentsFollowTheConvention() {
        // Swin-T classification at 224, batch 1, term by term
        MacReport r = MacCounter.count(T, 224, 224, 1);
        assertEquals(56L * 56 * 96 * 3 * 16 + 56L * 56 * 96, r.patchEmbed());
        long t0 = 64L * 49;
        long c0 = 96;
        long block0 = 4 * t0 * c0 * c0 + 2 * t0 * 49 * c0 + 8 * t0 * c0 * c0 + 2 * t0 * c0;
        assertArrayEquals(new long[]{block0, block0}, r.blocks()[0]);
        assertEquals(28L * 28 * 384 * 192 + 28L * 28 * 384, r.merges()[0]);
        assertEquals(0, r.merges()[3]);
        assertArrayEquals(new long[4], r.norms());
        assertEquals(49L * 768 + 768L * 1000, r.head());
        long sum = r.patchEmbed() + r.head();
        for (int s = 0; s < 4; s++) {
            sum += r.stageTotal(s);
        }
        assertEquals(sum, r.total());
        // the backbone has output norms instead of the head
        MacReport b = MacCounter.count(TB, 224, 224, 1);
        assertEquals(0, b.head());
        assertArrayEquals(new long[]{56L * 56 * 96, 28L * 28 * 192, 14L * 14 * 384, 7L * 7 * 768}, b.norms());
        // padded windows count all their tokens: 544 gives 136x136 tokens, padded to 140x140 (400 windows)
        MacReport p = MacCounter.count(TB, 544, 544, 1);
        assertArrayEquals(new int[]{400, 100, 25, 9}, p.windows());
        long t = 400L * 49;
        assertEquals(12 * t * c0 * c0 + 2 * t * 49 * c0 + 2 * t * c0, p.blocks()[0][0]);
        // batches scale linearly
        assertEquals(4 * MacCounter.count(TB, 544, 544, 1).total(), MacCounter.count(TB, 544, 544, 4).total());
    }

    @Test
    void workScalesWithKeptWindows() {
        MacReport prev = null;
        for (int i = 0; i <= 9; i++) {
            double r = i / 10.0;
            MacReport m = MacCounter.count(TB, 672, 672, 1, SparsityConfig.uniform(TB.depths(), r));
            if (prev != null) {
                assertTrue(m.total() <= prev.total(), "MACs must not grow with the ratio");
                for (int s = 0; s < 4; s++) {
                    for (int j = 0; j < m.blocks()[s].length; j++) {
                        // block MACs are exactly proportional to the kept windows
                        long perWindow = prev.blocks()[s][j] / Math.max(1, prev.kept()[s][j]);
                        assertEquals(perWindow * m.kept()[s][j], m.blocks()[s][j]);
                    }
                }
            }
            prev = m;
        }
        MacReport zero = MacCounter.count(TB, 224, 224, 1, SparsityConfig.uniform(TB.depths(), 1.0));
        assertEquals(0, zero.blockList().stream().mapToLong(Long::longValue).sum());
        // and everything but the blocks is untouched by pruning
        MacReport dense = MacCounter.count(TB, 224, 224, 1);
        assertEquals(dense.patchEmbed(), zero.patchEmbed());
        assertArrayEquals(dense.merges(), zero.merges());
        assertArrayEquals(dense.norms(), zero.norms());
    }

    @Test
    void macsDecreaseStrictlyAsOneBlockKeepsFewerWindows() {
        // stage 0 of Swin-T at 672 has 576 windows; walk its first block's k from 576 down to 0
        long prevTotal = Long.MAX_VALUE;
        int prevK = Integer.MAX_VALUE;
        for (int i = 0; i <= 100; i++) {
            double r = i / 100.0;
            SparsityConfig sp = SparsityConfig.parseCompact(r + ",1/0,0/0,0,0,0,0,0/0,0");
            MacReport m = MacCounter.count(TB, 672, 672, 4, sp);
            int k = m.kept()[0][0];
            assertEquals(SparsityConfig.keptWindows(576, r), k);
            assertTrue(k <= prevK);
            if (k < prevK) {
                assertTrue(m.total() < prevTotal, "MACs must decrease when k decreases (ratio " + r + ")");
            } else {
                assertEquals(prevTotal, m.total());
            }
            prevK = k;
            prevTotal = m.total();
        }
        assertEquals(0, prevK);
    }

    @Test
    void blocksBeforeSelectionProcessEveryWindow() {
        MacReport m = MacCounter.count(TB, 672, 672, 1,
                SparsityConfig.parseCompact("0,0/0,0.5/0,0,0.25,0.25,0.5,0.5/0,0"));
        assertArrayEquals(new int[]{576, 144, 36, 9}, m.windows());
        assertArrayEquals(new int[]{576, 576}, m.kept()[0]);
        assertArrayEquals(new int[]{144, 72}, m.kept()[1]);
        assertArrayEquals(new int[]{36, 36, 27, 27, 18, 18}, m.kept()[2]);
        assertArrayEquals(new int[]{9, 9}, m.kept()[3]);
    }

    @Test
    void invalidSparsityIsRefusedWithTheSizeAwareRule() {
        // 0.2 then 0.1 on the shifted grid: 32 > 28 of 36 windows
        String msg = assertThrows(SparseVitException.class, () -> MacCounter.count(TB, 672, 672, 1,
                SparsityConfig.parseCompact("0,0/0,0/0.2,0.2,0.2,0.1,0.3,0.3/0,0"))).getMessage();
        assertTrue(msg.startsWith("sparsity: stage 2, block 3 (shifted grid): ratio 0.1 keeps 32 of 36 windows at"
                + " 672x672, more than the 28 of block 1's list"), msg);
        assertThrows(SparseVitException.class, () -> MacCounter.count(TB, 672, 672, 1,
                SparsityConfig.parseCompact("0,0/0,0/0,0/0,0")));
        assertThrows(IllegalArgumentException.class, () -> MacCounter.count(TB, 672, 672, 0));
    }

    @Test
    void keptCountsFollowTheFixtureTables() {
        MacReport m = MacCounter.count(MINI, 200, 300, 1,
                SparsityConfig.parseCompact("0.3,0.3/0.4,0.4/0.1,0.1,0.6,0.6/0.5,0.5"));
        assertArrayEquals(new int[]{88, 24, 6, 2}, m.windows());
        assertArrayEquals(new int[]{61, 61}, m.kept()[0]);
        assertArrayEquals(new int[]{14, 14}, m.kept()[1]);
        assertArrayEquals(new int[]{5, 5, 2, 2}, m.kept()[2]);
        assertArrayEquals(new int[]{1, 1}, m.kept()[3]);
        MacReport c = MacCounter.count(MINI, 224, 224, 2,
                SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.2,0.2,0.5,0.5/0,0"));
        assertArrayEquals(new int[]{64, 16, 4, 1}, c.windows());
        assertArrayEquals(new int[]{32, 32}, c.kept()[0]);
        assertArrayEquals(new int[]{12, 12}, c.kept()[1]);
        assertArrayEquals(new int[]{3, 3, 2, 2}, c.kept()[2]);
        assertArrayEquals(new int[]{1, 1}, c.kept()[3]);
    }

    @Test
    void stageGeometryOfTheBackboneFixture() {
        StageGeometry[] g = StageGeometry.of(MINI, 200, 300);
        int[][] grid = {{50, 75}, {25, 38}, {13, 19}, {7, 10}};
        int[][] padded = {{56, 77}, {28, 42}, {14, 21}, {7, 14}};
        int[][] windows = {{8, 11}, {4, 6}, {2, 3}, {1, 2}};
        assertEquals(4, g.length);
        for (int s = 0; s < 4; s++) {
            assertEquals(s, g[s].stage());
            assertArrayEquals(grid[s], new int[]{g[s].height(), g[s].width()}, "stage " + s);
            assertArrayEquals(padded[s], new int[]{g[s].paddedHeight(), g[s].paddedWidth()}, "stage " + s);
            assertArrayEquals(windows[s], new int[]{g[s].windowRows(), g[s].windowCols()}, "stage " + s);
            assertEquals(windows[s][0] * windows[s][1], g[s].numWindows());
            assertEquals(7, g[s].window());
            // the backbone always shifts its odd blocks, even where the grid is no larger than the window
            assertEquals(3, g[s].shift());
            assertEquals(0, g[s].grid(0).shift());
            assertEquals(3, g[s].grid(1).shift());
            assertEquals(g[s].numWindows(), g[s].grid(1).numWindows());
            assertEquals((long) grid[s][0] * grid[s][1], g[s].tokens());
        }
        // 224: every grid a multiple of 7
        StageGeometry[] h = StageGeometry.of(MINI, 224, 224);
        int[] side = {56, 28, 14, 7};
        for (int s = 0; s < 4; s++) {
            assertEquals(side[s], h[s].height());
            assertEquals(side[s], h[s].paddedWidth());
            assertEquals(3, h[s].shift());
        }
        // inputs that are not patch multiples round up: 201x301 -> 51x76 tokens
        StageGeometry[] r = StageGeometry.of(MINI, 201, 301);
        assertArrayEquals(new int[]{51, 76}, new int[]{r[0].height(), r[0].width()});
        assertArrayEquals(new int[]{26, 38}, new int[]{r[1].height(), r[1].width()});
    }

    @Test
    void stageGeometryOfTheClassifier() {
        // Swin-T at 224: stage 3 is 7x7 = the window, so the classifier disables its shift
        StageGeometry[] g = StageGeometry.of(T, 224, 224);
        assertEquals(3, g[2].shift());
        assertEquals(7, g[3].window());
        assertEquals(0, g[3].shift());
        assertEquals(1, g[3].numWindows());
        // 160x160: stage 3 is 5x5, smaller than the window: window 5, no shift, no padding
        StageGeometry[] s = StageGeometry.of(T, 160, 160);
        assertEquals(10, s[2].height());
        assertEquals(7, s[2].window());
        assertEquals(14, s[2].paddedHeight());
        assertEquals(3, s[2].shift());
        assertEquals(5, s[3].height());
        assertEquals(5, s[3].window());
        assertEquals(0, s[3].shift());
        assertEquals(5, s[3].paddedHeight());
        assertEquals(1, s[3].numWindows());
        assertEquals(25, s[3].grid(1).windowTokens());
        // the backbone keeps window 7 and its shift there, padding 5x5 to 7x7
        StageGeometry[] b = StageGeometry.of(TB, 160, 160);
        assertEquals(7, b[3].window());
        assertEquals(3, b[3].shift());
        assertEquals(7, b[3].paddedHeight());
        // non-square: the rule looks at min(h, w): 7x10 -> window 7, no shift, padded 7x14
        StageGeometry[] n = StageGeometry.of(T, 200, 300);
        assertEquals(7, n[3].window());
        assertEquals(0, n[3].shift());
        assertEquals(14, n[3].paddedWidth());
        assertEquals(2, n[3].numWindows());
        // and the MACs follow the clamped window: 25 tokens per window in stage 3 at 160
        MacReport m = MacCounter.count(T, 160, 160, 1);
        long t = 25;
        long c = 768;
        assertEquals(12 * t * c * c + 2 * t * 25 * c + 2 * t * c, m.blocks()[3][0]);
        assertThrows(IllegalArgumentException.class, () -> StageGeometry.of(T, 0, 224));
    }

    @Test
    void tableListsEveryStage() {
        MacReport r = MacCounter.count(TB, 672, 672, 4,
                SparsityConfig.parseCompact("0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0"));
        String table = r.toTable();
        String[] lines = table.split("\n");
        assertEquals(6, lines.length, table);
        assertTrue(lines[0].startsWith("part"), table);
        assertTrue(lines[1].startsWith("patch_embed"), table);
        assertTrue(lines[2].matches("stage0\\s+576\\s+403,403\\s+[0-9.]+"), lines[2]);
        assertTrue(lines[4].matches("stage2\\s+36\\s+32,32,28,28,28,28\\s+[0-9.]+"), lines[4]);
        assertTrue(MacCounter.count(T, 224, 224, 1).toTable().contains("head"));
        assertEquals(12, r.blockList().size());
    }
}

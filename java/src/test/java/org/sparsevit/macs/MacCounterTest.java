package org.sparsevit.macs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

/** The Swin and SparseViT papers' figures, within 0.2 GMACs. */
class MacCounterTest {
    static final SwinConfig T = SwinConfig.preset("swin-t");
    static final SwinConfig TB = T.withTask(Task.BACKBONE, 0);

    @Test
    void swinTinyClassification224() {
        assertEquals(4.49, MacCounter.count(T, 224, 224, 1, SparsityConfig.dense(T)).totalGMacs(), 0.2);
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
    }

    @Test
    void workScalesWithKeptWindows() {
        MacReport prev = null;
        for (double r = 0; r <= 0.9; r += 0.1) {
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
    }

    @Test
    void keptCountsFollowTheFixtureTables() {
        SwinConfig mini = new SwinConfig(32, new int[]{2, 2, 4, 2}, new int[]{1, 2, 4, 8}, 7, 4, 4, 3, 0, Task.BACKBONE,
                224, org.sparsevit.model.CheckpointLayout.MMDET, org.sparsevit.model.MergeOrder.UNFOLD, 1e-5f);
        MacReport m = MacCounter.count(mini, 200, 300, 1,
                SparsityConfig.parseCompact("0.3,0.3/0.4,0.4/0.1,0.1,0.6,0.6/0.5,0.5"));
        assertArrayEquals(new int[]{88, 24, 6, 2}, m.windows());
        assertArrayEquals(new int[]{61, 61}, m.kept()[0]);
        assertArrayEquals(new int[]{14, 14}, m.kept()[1]);
        assertArrayEquals(new int[]{5, 5, 2, 2}, m.kept()[2]);
        assertArrayEquals(new int[]{1, 1}, m.kept()[3]);
    }
}

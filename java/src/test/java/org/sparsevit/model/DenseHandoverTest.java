package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparsevit.backend.ProfilingBackend;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

/**
 * A dense block followed by another hands its output tile over (Backend.rewindowWindows) instead of scattering it
 * to the token map for the next block to gather: the outputs are bitwise those of scattering after every block
 * ({@code sparsevit.rewindow=false}), on padded grids, in both padding modes, for dense runs before, between and
 * without pruned blocks; and exactly the dense pairs hand over.
 */
class DenseHandoverTest {
    /** Depth 4 in stage 2: dense chains longer than a pair, and dense blocks before pruned ones in one stage. */
    static final SwinConfig CFG = new SwinConfig(16, new int[]{2, 2, 4, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);

    @ParameterizedTest
    @CsvSource({
        "dense, SWIN, 6",
        "dense, SPARSEVIT, 6",
        "'0,0/0,0/0,0,0.3,0.3/0,0', SWIN, 4",       // stage 2: two dense blocks, then pruned ones
        "'0.3,0.3/0,0/0,0,0,0.5/0,0', SPARSEVIT, 4", // stage 0 pruned from its first block; stage 2 dense then pruned
        "'0.3,0.3/0.5,0.5/0.2,0.2,0.4,0.4/0.1,0.1', SWIN, 0"})
    void handingTilesOverChangesNoBit(String sparsity, PaddingMode padding, int handovers) {
        SwinWeights w = SwinWeights.random(CFG, 7);
        double[][] ratios = "dense".equals(sparsity) ? null : SparsityConfig.parseCompact(sparsity).ratios();
        HostTensor x = WorkspaceTest.input(2, 100, 76, 3);   // stage maps 25x19, 13x10, 7x5, 4x3: every grid padded
        SwinOutput[] out = new SwinOutput[2];
        long[][] calls = new long[2][];
        String before = System.getProperty(StageNode.REWINDOW_PROPERTY);
        try {
            for (int i = 0; i < 2; i++) {
                System.setProperty(StageNode.REWINDOW_PROPERTY, i == 0 ? "true" : "false");
                try (CpuBackend cpu = new CpuBackend(); ProfilingBackend be = new ProfilingBackend(cpu);
                     SwinModel m = new SwinModel(w, be)) {
                    out[i] = m.forward(x, ratios, padding, null, null);
                    Map<String, long[]> s = be.stats();
                    calls[i] = new long[]{count(s, "rewindowWindows"), count(s, "scatterWindows")};
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty(StageNode.REWINDOW_PROPERTY);
            } else {
                System.setProperty(StageNode.REWINDOW_PROPERTY, before);
            }
        }
        WorkspaceTest.assertSameOutputs(out[1], out[0], sparsity + " " + padding);
        assertEquals(handovers, calls[0][0], "handovers");
        assertEquals(0, calls[1][0], "handovers with sparsevit.rewindow=false");
        assertEquals(calls[1][1] - handovers, calls[0][1], "scatters: one fewer per handover");
    }

    private static long count(Map<String, long[]> stats, String op) {
        long[] v = stats.get(op);
        return v == null ? 0 : v[0];
    }
}

package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;
import org.sparsevit.backend.ProfilingBackend;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.macs.MacReport;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

/** The work a pruned pass does (rows passed to GEMM, MACs) scales with the kept windows. */
class PrunedWorkTest {
    static final SwinConfig MINI = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);

    @Test
    void gemmRowsAndMacsFollowTheKeptWindows() {
        HostTensor x = HostTensor.zeros(2, 3, 120, 150);
        Random r = new Random(1);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        try (ProfilingBackend be = new ProfilingBackend(new CpuBackend());
             SwinModel m = new SwinModel(SwinWeights.random(MINI, 3), be)) {
            SparsityConfig dense = SparsityConfig.dense(MINI);
            be.reset();
            m.forward(x, dense.ratios(), PaddingMode.SWIN, null, null);
            long denseRows = be.gemmRows();
            MacReport dm = MacCounter.count(MINI, 120, 150, 2, dense);
            double prevRows = denseRows + 1;
            for (String spec : new String[]{"0.2,0.2/0.2,0.2/0.5,0.5/0,0", "0.5,0.5/0.5,0.5/0.5,0.5/0.5,0.5",
                    "0.9,0.9/0.9,0.9/1,1/1,1"}) {
                SparsityConfig sp = SparsityConfig.parseCompact(spec);
                be.reset();
                m.forward(x, sp.ratios(), PaddingMode.SWIN, null, null);
                long rows = be.gemmRows();
                MacReport pm = MacCounter.count(MINI, 120, 150, 2, sp);
                long expectedDelta = 0;
                for (int s = 0; s < 4; s++) {
                    for (int j = 0; j < 2; j++) {
                        // qkv, proj, fc1, fc2 each see batch * k * N rows
                        expectedDelta += 4L * 2 * 49 * (dm.kept()[s][j] - pm.kept()[s][j]);
                    }
                }
                assertEquals(denseRows - expectedDelta, rows, spec);
                assertTrue(rows < prevRows, spec);
                assertTrue(pm.total() < dm.total(), spec);
                prevRows = rows;
            }
        }
    }
}

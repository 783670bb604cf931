package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.sparsevit.Fixtures;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/** Compiled passes on the CPU (eager runs): same results as forward, input checks, owned outputs. */
class CompiledForwardTest {

    @Test
    void compiledPassComputesWhatForwardComputes() {
        SwinWeights w = Fixtures.weights("sparsevit-reference", "sparsevit-mini.safetensors");
        HostTensor x = Fixtures.npy("sparsevit-reference", "sv-224-cfg.input.npy");
        HostTensor other = new HostTensor(x.data().clone(), x.shape());
        for (int i = 0; i < other.data().length; i++) {
            other.data()[i] = -other.data()[i];
        }
        double[][] r = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.2,0.2,0.5,0.5/0,0").ratios();
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be);
             CompiledForward c = m.compile(x.shape(), r, PaddingMode.SPARSEVIT)) {
            assertFalse(c.captured(), "the CPU cannot capture graphs");
            assertEquals("eager passes", c.mode());
            for (HostTensor in : new HostTensor[]{x, other, x}) {
                SwinOutput want = m.forward(in, r, PaddingMode.SPARSEVIT, null, null);
                SwinOutput got = c.run(in);
                for (int s = 0; s < 4; s++) {
                    assertArrayEquals(want.features().get(s).data(), got.features().get(s).data(), "stage " + s);
                }
            }
            assertEquals(0, m.compiledPasses(), "forward() keeps no compiled passes on the CPU");
            try (Tensor t = be.upload(x)) {
                List<Tensor> outs = c.runTensors(t);
                assertEquals(4, outs.size());
                assertArrayEquals(new int[]{x.dim(0), 32, 56, 56}, outs.get(0).shape());
            }
            HostTensor wrong = HostTensor.zeros(1, 3, 64, 64);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> c.run(wrong));
            assertTrue(e.getMessage().startsWith("this pass was compiled for input " + java.util.Arrays.toString(x.shape())
                    + ", got [1, 3, 64, 64]"),
                    e.getMessage());
        }
    }

    @Test
    void invalidConfigurationsFailAtCompileTime() {
        SwinWeights w = Fixtures.weights("sparsevit-reference", "sparsevit-mini.safetensors");
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be)) {
            double[][] bad = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.2,0.2,0.5/0,0").ratios();
            Exception e = assertThrows(RuntimeException.class,
                    () -> m.compile(new int[]{1, 3, 224, 224}, bad, PaddingMode.SPARSEVIT));
            assertTrue(e.getMessage().contains("stage 2 has 3 ratios"), e.getMessage());
            Exception s = assertThrows(RuntimeException.class,
                    () -> m.compile(new int[]{1, 4, 224, 224}, null, PaddingMode.SPARSEVIT));
            assertTrue(s.getMessage().startsWith("input must be [B, 3, H, W]"), s.getMessage());
            CompiledForward c = m.compile(new int[]{1, 3, 64, 64}, null, PaddingMode.SPARSEVIT);
            c.close();
            assertThrows(IllegalStateException.class, () -> c.run(HostTensor.zeros(1, 3, 64, 64)));
        }
    }
}

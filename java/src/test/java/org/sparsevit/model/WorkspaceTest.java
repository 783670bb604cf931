package org.sparsevit.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;
import org.sparsevit.backend.ArenaPlan;
import org.sparsevit.backend.MemoryStats;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.sparse.KeptDump;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The workspace arena under a whole forward pass on the CPU backend (slices of one direct buffer per key):
 * outputs bitwise equal with and without it, no new allocation once a key is planned, a slab at the
 * peak-live bound, and safe sharing of one backend by threads.
 */
class WorkspaceTest {
    static final double[][] PRUNED = SparsityConfig.parseCompact("0.3,0.3/0.5,0.5/0,0/0,0").ratios();

    static HostTensor input(int b, int h, int w, long seed) {
        HostTensor x = HostTensor.zeros(b, 3, h, w);
        Random r = new Random(seed);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        return x;
    }

    static void assertSameOutputs(SwinOutput want, SwinOutput got, String what) {
        if (want.logits() != null) {
            assertArrayEquals(want.logits().data(), got.logits().data(), what + ": logits");
            return;
        }
        for (int s = 0; s < want.features().size(); s++) {
            assertArrayEquals(want.features().get(s).data(), got.features().get(s).data(), what + ": out" + s);
        }
    }

    @Test
    void steadyStateAllocatesNothingAndComputesTheSame() {
        SwinConfig[] configs = {SessionTest.MINI, SessionTest.MINI.withTask(Task.CLASSIFICATION, 5)};
        for (SwinConfig cfg : configs) {
            SwinWeights w = SwinWeights.random(cfg, 3);
            HostTensor x = input(2, 96, 80, 5);
            for (double[][] ratios : new double[][][]{null, PRUNED}) {
                String what = cfg.task() + (ratios == null ? " dense" : " pruned");
                SwinOutput reference;
                try (CpuBackend plain = new CpuBackend(); SwinModel m = new SwinModel(w, plain)) {
                    plain.workspaces().setEnabled(false);
                    reference = m.forward(x, ratios, PaddingMode.SWIN, null, null);
                    assertEquals(0, plain.memoryStats().slabs());
                }
                try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be)) {
                    List<String> notes = new ArrayList<>();
                    be.workspaces().setWarnings(notes::add);
                    assertSameOutputs(reference, m.forward(x, ratios, PaddingMode.SWIN, null, null), what + " recording run");
                    MemoryStats planned = be.memoryStats();
                    assertEquals(1, planned.recordings());
                    assertEquals(1, planned.slabs());
                    for (int run = 0; run < 3; run++) {
                        assertSameOutputs(reference, m.forward(x, ratios, PaddingMode.SWIN, null, null), what + " run " + run);
                    }
                    MemoryStats s = be.memoryStats();
                    assertEquals(planned.deviceAllocations(), s.deviceAllocations(), what + ": steady state allocated");
                    assertEquals(3, s.replays());
                    assertTrue(s.slabGrants() > 3 * 20, what + ": " + s.slabGrants() + " grants");
                    assertEquals(0, s.divergences());
                    assertTrue(notes.isEmpty(), notes.toString());

                    try (Tensor img = be.upload(x)) {
                        ArenaPlan p = be.workspaces().plan(m.workspaceKey(img, ratios, PaddingMode.SWIN, null, null));
                        assertNotNull(p);
                        assertEquals(p.slabBytes(), s.slabBytes());
                        assertTrue(p.slabBytes() <= 1.05 * p.lowerBound(), what + ": " + p);
                    }
                }
            }
        }
    }

    @Test
    void eachKeyGetsItsOwnPlanAndAListenerSeesTheSameWindows() {
        SwinWeights w = SwinWeights.random(SessionTest.MINI, 3);
        HostTensor small = input(1, 64, 64, 1);
        HostTensor large = input(1, 96, 112, 2);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be);
             CpuBackend plain = new CpuBackend(); SwinModel ref = new SwinModel(w, plain)) {
            plain.workspaces().setEnabled(false);
            List<String> notes = new ArrayList<>();
            be.workspaces().setWarnings(notes::add);
            for (int rep = 0; rep < 2; rep++) {
                for (HostTensor x : new HostTensor[]{small, large}) {
                    for (double[][] r : new double[][][]{null, PRUNED}) {
                        KeptDump got = new KeptDump(7, 1);
                        KeptDump want = new KeptDump(7, 1);
                        assertSameOutputs(ref.forward(x, r, PaddingMode.SPARSEVIT, want, null),
                                m.forward(x, r, PaddingMode.SPARSEVIT, got, null), "rep " + rep);
                        assertEquals(want.records().size(), got.records().size());
                        for (int i = 0; i < want.records().size(); i++) {
                            if (want.records().get(i).kept() != null) {
                                assertArrayEquals(want.records().get(i).kept()[0], got.records().get(i).kept()[0]);
                            }
                        }
                    }
                }
            }
            MemoryStats s = be.memoryStats();
            assertEquals(4, s.recordings(), "two sizes x dense/pruned");
            assertEquals(4, s.replays());
            assertEquals(4, s.workspaces());
            assertTrue(notes.isEmpty(), notes.toString());
        }
    }

    @Test
    void oneBackendSharedByThreadsNeverMixesRuns() throws Exception {
        SwinWeights w = SwinWeights.random(SessionTest.MINI, 6);
        HostTensor x = input(1, 96, 80, 9);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be)) {
            List<String> notes = new ArrayList<>();
            be.workspaces().setWarnings(notes::add);
            SwinOutput ref = m.forward(x, PRUNED, PaddingMode.SWIN, null, null);
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<List<SwinOutput>>> outs = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    outs.add(pool.submit(() -> {
                        List<SwinOutput> o = new ArrayList<>();
                        for (int rep = 0; rep < 4; rep++) {
                            o.add(m.forward(x, PRUNED, PaddingMode.SWIN, null, null));
                        }
                        return o;
                    }));
                }
                for (Future<List<SwinOutput>> f : outs) {
                    for (SwinOutput o : f.get()) {
                        assertSameOutputs(ref, o, "threaded run");
                    }
                }
            } finally {
                pool.shutdown();
            }
            assertEquals(0, be.memoryStats().divergences());
            assertTrue(be.memoryStats().replays() >= 1, "at least one run had the slab");
            assertTrue(notes.isEmpty(), notes.toString());
        }
    }

    @Test
    void anObserverThatKeepsATensorMakesTheNextRunUseThePool() {
        SwinWeights w = SwinWeights.random(SessionTest.MINI, 3);
        HostTensor x = input(1, 64, 64, 1);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(w, be)) {
            List<String> notes = new ArrayList<>();
            be.workspaces().setWarnings(notes::add);
            boolean[] keep = {false};
            List<Tensor> kept = new ArrayList<>();
            SwinModel.StageObserver obs = (s, fm) -> {
                Tensor t = be.empty(org.sparsevit.tensor.DType.F32, fm.tokens().shape());
                be.copy(fm.tokens(), t);
                if (keep[0] && s == 0) {
                    kept.add(t); // allocated like a temporary in the recorded run, now held past the scope
                } else {
                    t.close();
                }
            };
            SwinOutput ref = m.forward(x, PRUNED, PaddingMode.SWIN, null, obs);
            keep[0] = true;
            assertSameOutputs(ref, m.forward(x, PRUNED, PaddingMode.SWIN, null, obs), "leaking run");
            float[] saved = be.download(kept.get(0)).data();
            keep[0] = false;
            long before = be.memoryStats().replays();
            assertSameOutputs(ref, m.forward(x, PRUNED, PaddingMode.SWIN, null, obs), "run after the leak");
            assertEquals(before, be.memoryStats().replays(), "the slab was reserved, so the run used the pool");
            assertArrayEquals(saved, be.download(kept.get(0)).data(), "the kept tensor was not overwritten");
            assertEquals(1, notes.size(), notes.toString());
            kept.get(0).close();
            assertSameOutputs(ref, m.forward(x, PRUNED, PaddingMode.SWIN, null, obs), "run after closing it");
            assertEquals(before + 1, be.memoryStats().replays(), "the slab is used again");
        }
    }
}

package org.sparsevit.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.sparsevit.Fixtures;
import org.sparsevit.backend.MemoryStats;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.Workspace;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * The workspace arena on the GPU: a steady-state forward pass performs no cudaMalloc, its outputs are bitwise
 * equal to those computed without the arena, and captured graphs of different keys keep their own slabs. Tagged
 * {@code fixtures}: it runs the fixtures' model (see CudaModelTest).
 */
@Tag("gpu")
@Tag("fixtures")
class CudaWorkspaceTest {
    static final PaddingMode PAD = PaddingMode.SPARSEVIT;

    static SwinWeights weights() {
        return Fixtures.weights("sparsevit-reference", "sparsevit-mini.safetensors");
    }

    static HostTensor input() {
        return Fixtures.npy("sparsevit-reference", "sv-224-cfg.input.npy");
    }

    static final double[][] PRUNED = SparsityConfig.parseCompact("0.5,0.5/0.25,0.25/0.2,0.2,0.5,0.5/0,0").ratios();

    /** Runs forwardTensors, downloads and closes the outputs. */
    static List<float[]> run(CudaBackend gpu, SwinModel m, Tensor img, double[][] r) {
        List<Tensor> outs = m.forwardTensors(img, r, PAD, null, null);
        List<float[]> host = new ArrayList<>();
        for (Tensor t : outs) {
            host.add(gpu.download(t).data());
        }
        outs.forEach(Tensor::close);
        return host;
    }

    static void assertBitwise(List<float[]> want, List<float[]> got, String what) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), what + ": output " + i);
        }
    }

    @ParameterizedTest
    @EnumSource(value = Precision.class, names = {"FP32", "TF32"})
    void steadyStateForwardAllocatesNothing(Precision precision) {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        List<String> notes = new ArrayList<>();
        try (CudaBackend gpu = new CudaBackend(precision); SwinModel m = new SwinModel(weights(), gpu);
             Tensor img = gpu.upload(input())) {
            gpu.workspaces().setWarnings(notes::add);
            for (double[][] r : new double[][][]{null, PRUNED}) {
                String what = precision + (r == null ? " dense" : " pruned");
                gpu.workspaces().setEnabled(false);
                List<float[]> reference = run(gpu, m, img, r);
                gpu.workspaces().setEnabled(true);
                assertBitwise(reference, run(gpu, m, img, r), what + ", recording run");
                MemoryStats planned = gpu.memoryStats();
                for (int rep = 0; rep < 3; rep++) {
                    assertBitwise(reference, run(gpu, m, img, r), what + ", run " + rep);
                }
                MemoryStats s = gpu.memoryStats();
                assertEquals(planned.deviceAllocations(), s.deviceAllocations(),
                        what + ": a steady-state forward called cudaMalloc");
                assertEquals(planned.replays() + 3, s.replays());
                assertEquals(0, s.divergences());
                assertTrue(s.slabBytes() > 0);
                assertTrue(s.slabBytes() <= 1.05 * s.slabLowerBoundBytes(), s.toString());
            }
            assertTrue(notes.isEmpty(), notes.toString());
        }
    }

    /**
     * Host transfers are not part of a pass: an observer that downloads an F16 map on some passes only (its
     * float32 conversion scratch comes from the pool) leaves the recorded plan matching every pass.
     */
    @Test
    void anObserversDownloadsAreNotPartOfThePlan() {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        List<String> notes = new ArrayList<>();
        try (CudaBackend gpu = new CudaBackend(Precision.FP16); SwinModel m = new SwinModel(weights(), gpu);
             Tensor img = gpu.upload(input(), gpu.storage())) {
            gpu.workspaces().setWarnings(notes::add);
            int[] pass = {0};
            List<float[]> seen = new ArrayList<>();
            SwinModel.StageObserver downloadSome = (stage, x) -> {
                if (stage == 0 && pass[0] % 2 == 1) {
                    seen.add(gpu.download(x.tokens()).data());
                }
            };
            for (; pass[0] < 4; pass[0]++) {
                m.forwardTensors(img, PRUNED, PAD, null, downloadSome).forEach(Tensor::close);
            }
            assertEquals(2, seen.size());
            assertArrayEquals(seen.get(0), seen.get(1), "the same pass twice");
            assertEquals(0, gpu.memoryStats().divergences(), notes.toString());
            assertTrue(notes.isEmpty(), notes.toString());
        }
    }

    @Test
    void graphsOfTwoKeysKeepTheirOwnSlabs() {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        List<String> notes = new ArrayList<>();
        try (CudaBackend gpu = new CudaBackend(); SwinModel m = new SwinModel(weights(), gpu);
             Tensor img = gpu.upload(input())) {
            gpu.workspaces().setWarnings(notes::add);
            List<float[]> dense = run(gpu, m, img, null);
            List<float[]> pruned = run(gpu, m, img, PRUNED);
            // warm-up holding both keys' outputs at once, so the pool has blocks for both graphs' outputs
            List<Tensor> a = m.forwardTensors(img, null, PAD, null, null);
            List<Tensor> b = m.forwardTensors(img, PRUNED, PAD, null, null);
            a.forEach(Tensor::close);
            b.forEach(Tensor::close);
            gpu.synchronize();
            long allocations = gpu.memoryStats().deviceAllocations();
            try (CudaBackend.Graph gd = gpu.capture(() -> m.forwardTensors(img, null, PAD, null, null));
                 CudaBackend.Graph gp = gpu.capture(() -> m.forwardTensors(img, PRUNED, PAD, null, null))) {
                assertTrue(gd.slabBytes() > 0 && gp.slabBytes() > 0);
                for (int rep = 0; rep < 2; rep++) {
                    gd.replay();
                    gp.replay();
                    List<float[]> od = new ArrayList<>();
                    List<float[]> op = new ArrayList<>();
                    gd.outputs().forEach(t -> od.add(gpu.download(t).data()));
                    gp.outputs().forEach(t -> op.add(gpu.download(t).data()));
                    assertBitwise(dense, od, "dense graph, replay " + rep);
                    assertBitwise(pruned, op, "pruned graph, replay " + rep);
                }
                assertEquals(allocations, gpu.memoryStats().deviceAllocations(), "capture or replay called cudaMalloc");
                // a scoped run of the key is open: replaying over its slab is refused
                try (Workspace w = gpu.workspace(m.workspaceKey(img, PRUNED, PAD, null, null))) {
                    assertThrows(IllegalStateException.class, gp::replay);
                }
                // evicting the keys leaves the graphs their slabs
                gpu.workspaces().setCapacity(1);
                run(gpu, m, img, SparsityConfig.parseCompact("0.2,0.2/0,0/0,0,0,0/0,0").ratios());
                gp.replay();
                gd.replay();
                List<float[]> od = new ArrayList<>();
                gd.outputs().forEach(t -> od.add(gpu.download(t).data()));
                assertBitwise(dense, od, "dense graph after eviction");
            }
            assertTrue(notes.isEmpty(), notes.toString());
        }
    }
}

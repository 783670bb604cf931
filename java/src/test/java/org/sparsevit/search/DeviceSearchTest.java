package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.backend.MemoryStats;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.cuda.CudaBackend;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;

/**
 * The latency table and a latency-constrained search on the CUDA backend, as the GPU bundle's second call runs
 * them on Swin-T (run-gpu.sh, stages latency and search), here on SearchLatencyTest's tiny backbone so that it
 * takes seconds: every configuration captured as a graph and replayed, the arena's keys bounded while dozens of
 * configurations pass through, and a search scored by the fidelity evaluator on the device. Checks the plumbing,
 * not the timings (on the emulated device they mean nothing).
 */
@Tag("gpu")
class DeviceSearchTest {
    @TempDir
    Path tmp;

    @Test
    void latencyTableAndSearchOnTheDevice() {
        assumeTrue(CudaBackend.unavailableReason() == null, "no usable GPU: " + CudaBackend.unavailableReason());
        SearchSpace space = SearchLatencyTest.SPACE;
        try (CudaBackend gpu = new CudaBackend(Precision.FP16);
             SwinModel model = new SwinModel(SwinWeights.random(SearchLatencyTest.TINY, 1), gpu);
             LatencyMeter meter = new LatencyMeter(model, 64, 64, 1, 0, 4)) {
            List<String> lines = new ArrayList<>();
            LatencyTable table = LatencyTable.build(meter, space, "tiny", "fp16", lines::add);
            assertEquals("graph replay", meter.mode(), "every configuration should be captured and replayed");
            // one line per pair and pruned level (the dense measurements print none)
            assertEquals(space.genes() * (space.levels().length - 1), lines.size());
            assertEquals(gpu.device(), table.device());
            assertTrue(table.denseMs() > 0, "dense " + table.denseMs() + " ms");
            for (double[] row : table.deltas()) {
                for (double v : row) {
                    assertTrue(Double.isFinite(v), Arrays.toString(row));
                }
            }
            // 4 + 32 configurations, each a workspace key and a graph: the arena kept at most its capacity of
            // keys, and the closed graphs let go of their slabs
            MemoryStats ms = gpu.memoryStats();
            int capacity = gpu.workspaces().capacity();
            assertTrue(ms.workspaces() <= capacity && ms.slabs() <= capacity, ms.toString());

            Path f = tmp.resolve("table.json");
            table.write(f);
            LatencyTable back = LatencyTable.read(f);
            assertEquals(table.denseMs(), back.denseMs());
            for (int g = 0; g < space.genes(); g++) {
                assertArrayEquals(table.deltas()[g], back.deltas()[g]);
            }
            double[] err = table.validate(meter, 3, 1, null);
            assertTrue(Double.isFinite(err[0]) && Double.isFinite(err[1]), Arrays.toString(err));

            // a search in a window of the table's predictions, scored on the device against the dense outputs
            Random r = new Random(5);
            double[] p = new double[100];
            for (int i = 0; i < p.length; i++) {
                p[i] = table.latencyMs(space.random(r));
            }
            Arrays.sort(p);
            Range window = new Range(p[25], p[75]);
            FidelityEvaluator fidelity = new FidelityEvaluator(model, FidelityEvaluator.syntheticInputs(2, 64, 64, 3),
                    model.config().defaultPadding());
            SearchOptions o = SearchOptions.defaults().withPopulation(6, 2, 3, 3).withSeed(1).withBudget(15)
                    .withNoveltyTries(100);   // 15 distinct candidates: the official search may converge sooner
            EvolutionarySearch search = new EvolutionarySearch(SearchLatencyTest.TINY, 64, 64, 1, space, o, null,
                    window, table, fidelity);
            SearchResult best = search.run();
            assertTrue(window.contains(best.latencyMs()), best.latencyMs() + " ms outside " + window);
            assertEquals(15, best.evaluated());
            for (EvolutionarySearch.Evaluation e : search.evaluations()) {
                // cosine similarities of the four feature maps, pruned against dense: at most 1, and close to it
                // at these ratios on random weights
                assertTrue(e.score() <= 1 + 1e-3 && e.score() > 0.5, e.toString());
            }
        }
    }
}

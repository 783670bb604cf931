package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

class SearchTest {
    static final SwinConfig T = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);
    static final SearchSpace SPACE = new SearchSpace(T.depths(), SearchSpace.defaultLevels());

    @TempDir
    Path tmp;

    /** Score: minus the squared distance of the genes to a target (the known optimum). */
    static Evaluator distanceTo(int[] target) {
        return cs -> cs.stream().mapToDouble(c -> {
            int[] g = SPACE.fromSparsity(c);
            double d = 0;
            for (int i = 0; i < g.length; i++) {
                d += (g[i] - target[i]) * (g[i] - target[i]);
            }
            return -d;
        }).toArray();
    }

    EvolutionarySearch search(int budget, long seed, Range gmacs, Evaluator ev, Path log) {
        SearchOptions o = SearchOptions.defaults().withSeed(seed).withBudget(budget);
        EvolutionarySearch s = new EvolutionarySearch(T, 672, 672, 4, SPACE, o, gmacs, null, null, ev);
        return log == null ? s : s.logTo(log);
    }

    @Test
    void findsAKnownOptimumWithinItsBudget() {
        int[] target = SPACE.normalize(new int[]{6, 0, 2, 4, 5, 0});
        SearchResult r = search(3000, 1, null, distanceTo(target), null).run();
        assertArrayEquals(target, SPACE.fromSparsity(r.sparsity()), "best " + r.sparsity());
        assertEquals(0.0, r.score(), 0.0);
        assertTrue(r.evaluated() <= 3000);
    }

    @Test
    void constraintsAreNeverViolated() throws IOException {
        Range window = new Range(120, 130);
        Path log = tmp.resolve("c.log");
        SearchResult r = search(800, 2, window, distanceTo(new int[]{8, 8, 8, 8, 8, 8}), log).run();
        assertTrue(window.contains(r.gmacs()), "best at " + r.gmacs());
        assertTrue(window.contains(MacCounter.count(T, 672, 672, 4, r.sparsity()).totalGMacs()));
        ObjectMapper om = new ObjectMapper();
        int n = 0;
        for (String line : Files.readAllLines(log)) {
            JsonNode j = om.readTree(line);
            if (j.path("type").asText().equals("candidate")) {
                SparsityConfig c = SparsityConfig.parseCompact(j.get("sparsity").asText());
                c.checkSearchSpace();
                assertTrue(window.contains(MacCounter.count(T, 672, 672, 4, c).totalGMacs()), line);
                n++;
            }
        }
        assertEquals(800, n);
        SparseVitException e = assertThrows(SparseVitException.class,
                () -> search(10, 3, new Range(1, 2), distanceTo(new int[6]), null).run());
        assertTrue(e.getMessage().startsWith("search: no configuration within the constraints"), e.getMessage());
    }

    @Test
    void seededRunsAreIdenticalAndResumeContinuesTheSameRun() throws IOException {
        Evaluator ev = distanceTo(new int[]{3, 1, 2, 2, 7, 5});
        Range w = new Range(100, 150);
        Path a = tmp.resolve("a.log");
        Path b = tmp.resolve("b.log");
        SearchResult ra = search(700, 9, w, ev, a).run();
        SearchResult rb = search(700, 9, w, ev, b).run();
        assertEquals(Files.readAllLines(a), Files.readAllLines(b));
        assertEquals(ra, rb);
        // interrupted at 300, resumed to 700: the same candidates in the same order, the same best
        Path c = tmp.resolve("c.log");
        search(300, 9, w, ev, c).run();
        EvolutionarySearch resumed = search(700, 9, w, ev, c);
        SearchResult rc = resumed.run();
        assertEquals(300, resumed.resumedCandidates());
        assertEquals(ra, rc);
        assertEquals(candidates(a), candidates(c));
        // a log from other options is refused
        SparseVitException e = assertThrows(SparseVitException.class, () -> search(700, 10, w, ev, c).run());
        assertTrue(e.getMessage().contains("other options"), e.getMessage());
    }

    static List<String> candidates(Path log) throws IOException {
        return Files.readAllLines(log).stream().filter(l -> l.contains("\"candidate\"")).toList();
    }

    @Test
    void tenThousandCandidatesWithACheapEvaluator() {
        long t0 = System.nanoTime();
        SearchResult r = search(10_000, 4, new Range(110, 140), cs -> cs.stream()
                .mapToDouble(c -> -java.util.Arrays.stream(c.ratios()).flatMapToDouble(java.util.Arrays::stream).sum())
                .toArray(), null).run();
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("10,000-candidate MACs-constrained search: %.1f s%n", s);
        assertEquals(10_000, r.evaluated());
        assertTrue(new Range(110, 140).contains(r.gmacs()));
    }

    @Test
    void latencyMeterAndTableOnATinyModel() {
        SwinConfig tiny = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0, Task.BACKBONE,
                224, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
        SearchSpace space = new SearchSpace(tiny.depths(), new double[]{0, 0.4, 0.8});
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(tiny, 1), be);
             LatencyMeter meter = new LatencyMeter(m, 112, 112, 1, 1, 6)) {
            LatencyMeter.Measurement dense = meter.measure(SparsityConfig.dense(tiny));
            assertTrue(dense.trimmedMeanMs() > 0 && dense.minMs() <= dense.p50Ms() && dense.p50Ms() <= dense.maxMs());
            LatencyTable t = LatencyTable.build(meter, space, "tiny", "fp32", null);
            assertEquals(4, t.deltas().length);
            for (double[] row : t.deltas()) {
                assertEquals(3, row.length);
                assertEquals(0.0, row[0]);
            }
            Path f = tmp.resolve("table.json");
            t.write(f);
            LatencyTable back = LatencyTable.read(f);
            SparsityConfig c = space.toSparsity(new int[]{1, 2, 0, 1});
            assertEquals(t.latencyMs(c), back.latencyMs(c), 1e-9);
            double[] err = t.validate(meter, 3, 1, null);
            assertTrue(err[0] >= 0 && err[1] >= err[0]);
            // a latency-constrained search with the table never returns a configuration outside the window
            double lo = t.denseMs() * 0.2;
            double hi = t.denseMs() * 10;
            SearchResult r = new EvolutionarySearch(tiny, 112, 112, 1, space,
                    SearchOptions.defaults().withSeed(1).withBudget(30), null, new Range(lo, hi), back,
                    cs -> cs.stream().mapToDouble(x -> 1).toArray()).run();
            assertTrue(new Range(lo, hi).contains(back.latencyMs(r.sparsity())));
        }
    }
}

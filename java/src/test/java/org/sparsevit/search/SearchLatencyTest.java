package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

/** Latency meter, latency table and latency-constrained searches on a tiny random backbone (CPU, 64x64). */
class SearchLatencyTest {
    static final SwinConfig TINY = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
            Task.BACKBONE, 64, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
    static final SearchSpace SPACE = SearchSpace.of(TINY);

    static CpuBackend be;
    static SwinModel model;
    static LatencyMeter meter;
    static LatencyTable table;
    static List<String> buildLines = new ArrayList<>();

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() {
        be = new CpuBackend();
        model = new SwinModel(SwinWeights.random(TINY, 1), be);
        meter = new LatencyMeter(model, 64, 64, 1, 1, 6);
        long t0 = System.nanoTime();
        table = LatencyTable.build(meter, SPACE, "tiny", "fp32", buildLines::add);
        System.out.printf("latency table of the tiny model (4 pairs x 9 levels): %.1f s, dense %.3f ms%n",
                (System.nanoTime() - t0) / 1e9, table.denseMs());
    }

    @AfterAll
    static void tearDown() {
        meter.close();
        model.close();
        be.close();
    }

    @Test
    void tableOfAStageWithSeveralPairsMeasuresValidSuffixes() {
        // Swin-T's third stage has three pairs; a pair cannot be pruned while a later pair of its stage is not
        SwinConfig deep = new SwinConfig(16, new int[]{2, 2, 6, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3, 0,
                Task.BACKBONE, 64, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
        SearchSpace space = new SearchSpace(deep.depths(), new double[]{0, 0.5});
        List<String> lines = new ArrayList<>();
        try (SwinModel m = new SwinModel(SwinWeights.random(deep, 2), be);
             LatencyMeter lm = new LatencyMeter(m, 64, 64, 1, 0, 4)) {
            LatencyTable t = LatencyTable.build(lm, space, "deep", "fp32", lines::add);
            // one dense measurement per stage, one per pair and level: 4 + 6
            assertEquals(6, lines.size());
            assertTrue(lines.get(lines.size() - 1).startsWith("table 10/10: stage 3, blocks 0-1 at 0.5:"), lines.toString());
            // within stage 2 the last pair is measured first (alone), then the suffixes that end with it
            List<String> stage2 = lines.stream().filter(l -> l.contains(": stage 2,")).toList();
            assertEquals(3, stage2.size());
            assertTrue(stage2.get(0).contains("blocks 4-5") && stage2.get(2).contains("blocks 0-1"), stage2.toString());
            double[][] d = t.deltas();
            for (double[] row : d) {
                assertEquals(0.0, row[0]);
                assertTrue(Double.isFinite(row[1]));
            }
            // the prediction of the whole stage pruned is the sum of its suffix differences
            Candidate c = Candidate.of(new int[]{0, 0, 1, 1, 1, 0});
            assertEquals(t.denseMs() + d[2][1] + d[3][1] + d[4][1], t.latencyMs(c), 1e-12);
            assertTrue(Double.isFinite(t.validate(lm, 2, 1, null)[0]));
        }
    }

    @Test
    void meterReportsTrimmedMeanAndSpread() {
        LatencyMeter.Measurement dense = meter.measure(SparsityConfig.dense(TINY));
        assertEquals(6, dense.iters());
        assertTrue(dense.trimmedMeanMs() > 0, dense.toString());
        assertTrue(dense.minMs() <= dense.p50Ms() && dense.p50Ms() <= dense.maxMs(), dense.toString());
        assertTrue(dense.minMs() <= dense.trimmedMeanMs() && dense.trimmedMeanMs() <= dense.maxMs(), dense.toString());
        // trimmed mean of the middle 50%: the two extremes of eight do not count
        LatencyMeter.Measurement m = LatencyMeter.summarize(new double[]{100, 2, 3, 1, 4, 5, 6, 0});
        assertEquals(3.5, m.trimmedMeanMs(), 1e-12);
        assertEquals(3.5, m.p50Ms(), 1e-12);
        assertEquals(0, m.minMs());
        assertEquals(100, m.maxMs());
        // invalid ratios for this size are refused before anything runs
        assertThrows(SparseVitException.class, () -> meter.measure(SparsityConfig.parseCompact("0,0/0,0")));
        // a meter for an architecture builds (and closes) its own model
        try (LatencyMeter own = LatencyMeter.forConfig(TINY, be, 64, 64, 1, 0, 4)) {
            assertTrue(own.measure(SparsityConfig.uniform(TINY.depths(), 0.5)).trimmedMeanMs() > 0);
        }
    }

    @Test
    void tableHasEveryBlockAndLevelAndRoundTrips() throws IOException {
        double[][] d = table.deltas();
        assertEquals(4, d.length);
        for (double[] row : d) {
            assertEquals(9, row.length);
            assertEquals(0.0, row[0]);
            for (double v : row) {
                assertTrue(Double.isFinite(v));
            }
        }
        assertEquals(4 * 8, buildLines.size());
        assertTrue(buildLines.get(0).startsWith("table 2/36: stage 0, blocks 0-1 at 0.1:"), buildLines.get(0));
        assertEquals(table.denseMs(), table.latencyMs(SparsityConfig.dense(TINY)), 1e-12);

        // a measured table of this tiny model on a busy CPU can be mostly noise, and then is not written; the
        // round trip uses the measured table's fields with plausible entries (each pair saves up to 1/8 of dense
        // at the top level)
        ObjectNode plausible = table.toJsonNode();
        for (JsonNode e : plausible.get("entries")) {
            ArrayNode ms = ((ObjectNode) e).putArray("delta_ms");
            for (double l : SPACE.levels()) {
                ms.add(-table.denseMs() * l / 8 / 0.8);
            }
        }
        LatencyTable measured = table;
        LatencyTable table = LatencyTable.fromJson(plausible);
        d = table.deltas();
        assertEquals(measured.weightsFingerprint(), table.weightsFingerprint());
        Path f = tmp.resolve("table.json");
        table.write(f);
        JsonNode j = new ObjectMapper().readTree(f.toFile());
        assertEquals("64x64", j.get("size").asText());
        assertEquals(1, j.get("batch").asInt());
        assertEquals("fp32", j.get("precision").asText());
        assertEquals(be.device(), j.get("device").asText());
        // every block of every stage has an entry for every level
        boolean[][] covered = new boolean[4][2];
        for (JsonNode e : j.get("entries")) {
            assertEquals(9, e.get("delta_ms").size());
            for (JsonNode b : e.get("blocks")) {
                covered[e.get("stage").asInt()][b.asInt()] = true;
            }
        }
        for (boolean[] s : covered) {
            assertTrue(s[0] && s[1]);
        }
        LatencyTable back = LatencyTable.read(f);
        Random r = new Random(3);
        for (int i = 0; i < 20; i++) {
            Candidate c = SPACE.random(r);
            double expect = table.denseMs();
            for (int g = 0; g < c.size(); g++) {
                expect += d[g][c.gene(g)];
            }
            assertEquals(expect, table.latencyMs(SPACE.toSparsity(c)), 1e-9);
            assertEquals(expect, back.latencyMs(c), 1e-9);
        }
        Files.writeString(f, "{\"levels\": [0, 0.5]}");
        SparseVitException e = assertThrows(SparseVitException.class, () -> LatencyTable.read(f));
        assertTrue(e.getMessage().contains("not a latency table"), e.getMessage());
    }

    @Test
    void predictionErrorAgainstDirectMeasurement() {
        List<String> lines = new ArrayList<>();
        double[] err = table.validate(meter, 4, 1, lines::add);
        System.out.printf("tiny model latency table: mean error %.1f%%, max %.1f%%%n", 100 * err[0], 100 * err[1]);
        assertEquals(2, err.length);
        assertTrue(Double.isFinite(err[0]) && err[0] >= 0 && err[1] >= err[0], Arrays.toString(err));
        assertEquals(4, lines.size());
        assertTrue(lines.get(0).startsWith("validate 1/4: ") && lines.get(0).contains("predicted"), lines.get(0));
    }

    @Test
    void searchWithTheTableStaysInItsLatencyWindow() {
        // a window around the middle of the predicted latencies
        Random r = new Random(5);
        double[] p = new double[200];
        for (int i = 0; i < p.length; i++) {
            p[i] = table.latencyMs(SPACE.random(r));
        }
        Arrays.sort(p);
        Range window = new Range(p[50], p[150]);
        SearchOptions o = SearchOptions.defaults().withSeed(1).withBudget(300);
        EvolutionarySearch s = new EvolutionarySearch(TINY, 64, 64, 1, SPACE, o, null, window, table,
                cs -> cs.stream().mapToDouble(c -> -Arrays.stream(c.ratios()[0]).sum()).toArray());
        SearchResult res = s.run();
        assertTrue(window.contains(res.latencyMs()));
        assertEquals(res.latencyMs(), table.latencyMs(res.sparsity()), 1e-12);
        for (EvolutionarySearch.Evaluation e : s.evaluations()) {
            assertTrue(window.contains(table.latencyMs(SPACE.toSparsity(e.candidate()))), e.toString());
        }
        // a table of another size or space is refused
        SparseVitException e = assertThrows(SparseVitException.class, () -> new EvolutionarySearch(TINY, 96, 96, 1,
                SPACE, o, null, window, table, cs -> new double[cs.size()]));
        assertTrue(e.getMessage().contains("measured at 64x64, batch 1"), e.getMessage());
        SearchSpace coarse = new SearchSpace(TINY.depths(), new double[]{0, 0.5});
        e = assertThrows(SparseVitException.class, () -> new EvolutionarySearch(TINY, 64, 64, 1, coarse, o, null,
                window, table, cs -> new double[cs.size()]));
        assertTrue(e.getMessage().contains("search space"), e.getMessage());
    }

    @Test
    void searchWithDirectMeasurementLogsEveryMeasurement() throws IOException {
        Path log = tmp.resolve("measured.log");
        SearchOptions o = SearchOptions.defaults().withPopulation(6, 2, 3, 3).withSeed(2).withBudget(10);
        Range window = new Range(0, 1e6);
        EvolutionarySearch s = new EvolutionarySearch(TINY, 64, 64, 1, SPACE, o, null, window, meter,
                cs -> cs.stream().mapToDouble(c -> c.ratio(0, 0)).toArray()).logTo(log);
        SearchResult r = s.run();
        assertEquals(10, r.evaluated());
        assertTrue(r.latencyMs() > 0);
        List<String> lines = Files.readAllLines(log);
        assertTrue(lines.get(0).contains("measured on " + be.device()), lines.get(0));
        long measured = lines.stream().filter(l -> l.contains("\"type\":\"latency\"")).count();
        assertTrue(measured >= 10, "measurements logged: " + measured);
    }
}

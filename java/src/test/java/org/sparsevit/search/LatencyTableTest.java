package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Supplier;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Captured;
import org.sparsevit.backend.Precision;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.Tensor;

/** Reading a latency table checks it; a table names the model it was measured for, and one timing mode. */
class LatencyTableTest {
    static final SwinConfig TINY = SearchLatencyTest.TINY;
    static final SearchSpace SPACE = new SearchSpace(new int[]{2, 2, 6, 2}, new double[]{0, 0.4, 0.8});

    @TempDir
    Path tmp;

    /** A table of SPACE with distinct entries: pair g saves (g + 1) * level ms of 100 ms. */
    static ObjectNode json() {
        double[][] d = new double[SPACE.genes()][SPACE.levelCount()];
        for (int g = 0; g < d.length; g++) {
            for (int l = 0; l < d[g].length; l++) {
                d[g][l] = -(g + 1) * SPACE.levels()[l];
            }
        }
        return new LatencyTable("cpu", "tiny", 64, 64, 1, "fp32", 100, SPACE, d).toJsonNode();
    }

    Path file(JsonNode n) throws IOException {
        Path f = tmp.resolve("t" + System.nanoTime() + ".json");
        Files.writeString(f, n.toString());
        return f;
    }

    String refused(JsonNode n) throws IOException {
        Path f = file(n);
        SparseVitException e = assertThrows(SparseVitException.class, () -> LatencyTable.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        return e.getMessage();
    }

    @Test
    void entriesAreFoundByStageAndBlocksNotByPosition() throws IOException {
        ObjectNode n = json();
        LatencyTable straight = LatencyTable.read(file(n));
        ArrayNode reversed = new ObjectMapper().createArrayNode();
        for (int i = n.get("entries").size() - 1; i >= 0; i--) {
            reversed.add(n.get("entries").get(i));
        }
        n.set("entries", reversed);
        LatencyTable back = LatencyTable.read(file(n));
        Random r = new Random(1);
        for (int i = 0; i < 50; i++) {
            Candidate c = SPACE.random(r);
            assertEquals(straight.latencyMs(c), back.latencyMs(c), 1e-9, c.toString());
        }
    }

    @Test
    void badEntriesAndFieldsAreRefusedNamingThem() throws IOException {
        ObjectNode n = json();
        ((ObjectNode) n.get("entries").get(1)).put("stage", 7);
        assertTrue(refused(n).contains("entries[1]: stage 7 is not a stage"));

        n = json();
        ((ObjectNode) n.get("entries").get(0)).putArray("blocks").add(0).add(5);
        String pairs = refused(n);
        assertTrue(pairs.contains("entries[0]: blocks [0, 5] are not a block pair of stage 0 (its only pair is [0, 1])"),
                pairs);
        n = json();
        ((ObjectNode) n.get("entries").get(5)).putArray("blocks").add(2).add(3);
        pairs = refused(n);
        assertTrue(pairs.contains("entries[5]: blocks [2, 3] are not a block pair of stage 3 (its only pair is [0, 1])"),
                pairs);
        n = json();
        ((ObjectNode) n.get("entries").get(2)).putArray("blocks").add(6).add(7);
        pairs = refused(n);
        assertTrue(pairs.contains("blocks [6, 7] are not a block pair of stage 2 (its pairs are [0, 1], [2, 3] and [4, 5])"),
                pairs);
        assertEquals("its pairs are [0, 1], [2, 3], [4, 5], ... up to [16, 17]", LatencyTable.pairs(18));
        assertEquals("its pairs are [0, 1] and [2, 3]", LatencyTable.pairs(4));

        n = json();
        for (JsonNode e : n.get("entries")) {
            ((ObjectNode) e).put("stage", 0);
        }
        String m = refused(n);
        assertTrue(m.contains("entries[1]: stage 0, blocks [0, 1] already has an entry (entries[0])"), m);

        n = json();
        ((ArrayNode) n.get("entries")).remove(3);
        assertTrue(refused(n).contains("no entry for stage 2, blocks [2, 3] (5 entries for 6 block pairs)"));

        n = json();
        n.put("format", "foo");
        assertTrue(refused(n).contains("format is \"foo\""));
        n.remove("format");
        assertTrue(refused(n).contains("format is missing"));

        for (double dense : new double[]{-5, 0}) {
            n = json();
            n.put("dense_ms", dense);
            assertTrue(refused(n).contains("dense_ms is " + dense + "; the dense latency must be a positive"));
        }

        n = json();
        ((ArrayNode) n.get("entries").get(2).get("delta_ms")).set(1, Double.NaN);
        assertTrue(refused(n).contains("entries[2].delta_ms[1]: \"NaN\" is not a finite number"), refused(n));

        n = json();
        ((ArrayNode) n.get("entries").get(4).get("delta_ms")).set(0, 1.0);
        assertTrue(refused(n).contains("entry stage 2, blocks 4-5: delta_ms[0] is 1.0; level 0 is the base"));

        n = json();
        ((ArrayNode) n.get("entries").get(4).get("delta_ms")).remove(2);
        assertTrue(refused(n).contains("entries[4]: 2 delta_ms values for 3 levels"));

        // savings that add up to more than the dense latency (a noisy measurement, or an edited file): read and
        // written as they are, and checkPredictions finds the lowest prediction exactly for the warnings
        n = json();
        for (JsonNode e : n.get("entries")) {
            ((ArrayNode) e.get("delta_ms")).set(2, -20.0);
        }
        LatencyTable noisy = LatencyTable.fromJson(n);
        SparseVitException e = assertThrows(SparseVitException.class, noisy::checkPredictions);
        assertTrue(e.getMessage().contains("predicts -20.000 ms for 0.8,0.8/0.8,0.8/0.8,0.8,0.8,0.8,0.8,0.8/0.8,0.8"),
                e.getMessage());
        Path out = tmp.resolve("noisy.json");
        noisy.write(out);
        assertEquals(-20.0, LatencyTable.read(out).latencyMs(SPACE.toSparsity(SPACE.sparsest())), 1e-9);
        LatencyTable.fromJson(json()).checkPredictions();
    }

    /**
     * The exact range of a table's predictions, against every configuration of the space, on noisy entries whose
     * extremes are not the dense and the sparsest configuration (a search's window check relies on it).
     */
    @Test
    void predictionRangeIsExact() {
        java.util.Random r = new java.util.Random(3);
        for (int trial = 0; trial < 20; trial++) {
            double[][] d = new double[SPACE.genes()][SPACE.levelCount()];
            for (int g = 0; g < d.length; g++) {
                for (int l = 1; l < d[g].length; l++) {
                    d[g][l] = r.nextGaussian() * 3;
                }
            }
            LatencyTable t = new LatencyTable("cpu", "tiny", 64, 64, 1, "fp32", 10, SPACE, d);
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            for (Candidate c : all(SPACE, 0, new int[SPACE.genes()])) {
                double v = t.latencyMs(SPACE.toSparsity(c));
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            double[] range = t.predictionRange();
            assertEquals(min, range[0], 1e-9, "trial " + trial);
            assertEquals(max, range[1], 1e-9, "trial " + trial);
        }
    }

    /** Every configuration of a space: levels non-decreasing within each stage. */
    static List<Candidate> all(SearchSpace space, int gene, int[] g) {
        if (gene == g.length) {
            return List.of(Candidate.of(g.clone()));
        }
        List<Candidate> out = new java.util.ArrayList<>();
        int stageStart = gene;
        int[] sb = space.geneBlock(gene);
        int from = sb[1] > 0 ? g[gene - 1] : 0;   // a later pair of a stage is at least the one before
        for (int l = from; l < space.levelCount(); l++) {
            g[gene] = l;
            out.addAll(all(space, stageStart + 1, g));
        }
        return out;
    }

    @Test
    void checkModelNamesEachMismatch() throws IOException {
        SwinConfig cls = SwinConfig.preset("swin-t");
        ObjectNode n = json();
        n.put("architecture", LatencyTable.architectureOf(TINY));
        n.put("task", LatencyTable.taskOf(TINY));
        n.put("weights", "0123456789abcdef");
        n.put("precision", "fp16");
        Path f = file(n);
        LatencyTable t = LatencyTable.read(f);
        t.checkModel(TINY, "0123456789abcdef", Precision.FP16);
        t.checkModel(TINY, null, Precision.FP16); // any weights of the architecture
        SparseVitException e = assertThrows(SparseVitException.class,
                () -> t.checkModel(cls, "fedcba9876543210", Precision.FP32));
        String m = e.getMessage();
        assertTrue(m.startsWith(f + " was not measured for this model: architecture: measured for C=16"), m);
        assertTrue(m.contains("; task: measured for backbone, the model is classification, 1000 classes"), m);
        assertTrue(m.contains("; weights: measured with weights 0123456789abcdef, the model's are fedcba9876543210"), m);
        assertTrue(m.contains("; precision: measured at fp16, the model runs at fp32"), m);
        e = assertThrows(SparseVitException.class, () -> t.checkModel(TINY.withTask(Task.CLASSIFICATION, 10),
                "0123456789abcdef", Precision.FP16));
        assertFalse(e.getMessage().contains("architecture") || e.getMessage().contains("weights"), e.getMessage());

        // a table written before the model was recorded: the depths and the precision are all it has
        LatencyTable old = LatencyTable.read(file(json()));
        assertEquals("", old.architecture());
        old.checkModel(cls, "anything", Precision.FP32);
        old.checkModel(cls.withTask(Task.BACKBONE, 0), "anything", Precision.FP32);
        e = assertThrows(SparseVitException.class, () -> old.checkModel(TINY, null, Precision.BF16));
        assertTrue(e.getMessage().contains("architecture: measured for depths [2, 2, 6, 2], the model has"
                + " [2, 2, 2, 2]; precision: measured at fp32, the model runs at bf16"), e.getMessage());
    }

    @Test
    void aBuiltTableRecordsItsModelAndMode() {
        SearchSpace space = new SearchSpace(TINY.depths(), new double[]{0, 0.5});
        try (CpuBackend be = new CpuBackend();
             SwinModel m = new SwinModel(SwinWeights.random(TINY, 3), be);
             LatencyMeter meter = new LatencyMeter(m, 64, 64, 1, 0, 4)) {
            LatencyTable t = LatencyTable.build(meter, space, "tiny", "fp32", null);
            assertEquals(LatencyTable.architectureOf(TINY), t.architecture());
            assertEquals("backbone", t.task());
            assertEquals(m.weightsFingerprint(), t.weightsFingerprint());
            assertEquals(LatencyMeter.EAGER_PASSES, t.mode());
            ObjectNode j = t.toJsonNode();
            assertEquals(m.weightsFingerprint(), j.get("weights").asText());
            assertEquals("eager passes", j.get("mode").asText());
            assertEquals("backbone", j.get("task").asText());
            t.checkModel(m);
            SparseVitException e = assertThrows(SparseVitException.class,
                    () -> LatencyTable.build(meter, space, "tiny", "fp16", null));
            assertTrue(e.getMessage().contains("precision fp16 given, but the model runs at fp32"), e.getMessage());
        }
    }

    /** The CPU backend, claiming to capture graphs: the first {@code captures} captures work, later ones fail. */
    static Backend capturingFor(CpuBackend cpu, int captures, AtomicInteger attempts) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("capturesGraphs")) {
                        return true;
                    }
                    if (method.getName().equals("capture")) {
                        if (attempts.incrementAndGet() > captures) {
                            throw new IllegalStateException("simulated capture failure");
                        }
                        @SuppressWarnings("unchecked")
                        Supplier<List<Tensor>> work = (Supplier<List<Tensor>>) args[0];
                        List<Tensor> first = work.get();
                        return new Captured() {
                            public void replay() {
                                work.get().forEach(Tensor::close);
                            }

                            public List<Tensor> outputs() {
                                return first;
                            }

                            public void close() {
                                first.forEach(Tensor::close);
                            }
                        };
                    }
                    try {
                        return method.invoke(cpu, args);
                    } catch (InvocationTargetException ex) {
                        throw ex.getCause();
                    }
                });
    }

    @Test
    void aCaptureFailingPartWayIsNotMixedIntoTheTimings() {
        SearchSpace space = new SearchSpace(TINY.depths(), new double[]{0, 0.5});
        AtomicInteger attempts = new AtomicInteger();
        try (CpuBackend cpu = new CpuBackend()) {
            Backend be = capturingFor(cpu, 3, attempts);
            try (SwinModel m = new SwinModel(SwinWeights.random(TINY, 3), be);
                 LatencyMeter meter = new LatencyMeter(m, 64, 64, 1, 0, 4)) {
                List<String> lines = new ArrayList<>();
                Consumer<String> progress = lines::add;
                LatencyTable t = LatencyTable.build(meter, space, "tiny", "fp32", progress);
                // three configurations replayed as graphs, the fourth failed: the whole table again, eagerly
                assertEquals(4, attempts.get());
                assertEquals(LatencyMeter.EAGER_PASSES, t.mode());
                List<String> again = lines.stream().filter(l -> l.contains("measuring the whole table again")).toList();
                assertEquals(1, again.size(), lines.toString());
                assertTrue(again.get(0).contains("simulated capture failure") && again.get(0).contains(
                        "after 3 measurement(s) replayed as graphs"), again.get(0));
                // the eager table has every entry: 4 pairs at one pruned level after the restart line
                assertEquals(4, lines.size() - 1 - lines.indexOf(again.get(0)), lines.toString());
                assertTrue(meter.mode().startsWith("eager passes (capture failed: simulated capture failure"),
                        meter.mode());
            }
            // a meter alone does not quietly switch modes either
            attempts.set(0);
            try (SwinModel m = new SwinModel(SwinWeights.random(TINY, 3), capturingFor(cpu, 1, attempts));
                 LatencyMeter meter = new LatencyMeter(m, 64, 64, 1, 0, 4)) {
                SparsityConfig dense = SparsityConfig.dense(TINY);
                meter.measure(dense);
                assertEquals("graph replay", meter.mode());
                LatencyMeter.ModeChangeException e = assertThrows(LatencyMeter.ModeChangeException.class,
                        () -> meter.measure(dense));
                assertTrue(e.getMessage().contains("graph replays and eager passes do not compare"), e.getMessage());
                meter.measure(dense);
                assertFalse(meter.graphs());
            }
        }
    }
}

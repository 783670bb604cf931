package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.SparseVitException;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

/** The evolutionary search on Swin-T (backbone, 672x672, batch 4: the paper's setting) with cheap evaluators. */
class SearchTest {
    static final SwinConfig T = SwinConfig.preset("swin-t").withTask(Task.BACKBONE, 0);
    static final SearchSpace SPACE = SearchSpace.of(T);
    static final ObjectMapper OM = new ObjectMapper();

    @TempDir
    Path tmp;

    /** Score: minus the squared distance of the genes to a target (the known optimum, score 0). */
    static Evaluator distanceTo(Candidate target) {
        return cs -> cs.stream().mapToDouble(c -> -SPACE.candidate(c).squaredDistance(target)).toArray();
    }

    static EvolutionarySearch search(int budget, long seed, Range gmacs, Evaluator ev, Path log) {
        SearchOptions o = SearchOptions.defaults().withSeed(seed).withBudget(budget);
        EvolutionarySearch s = new EvolutionarySearch(T, 672, 672, 4, SPACE, o, gmacs, null, null, ev);
        return log == null ? s : s.logTo(log);
    }

    static double gmacs(SparsityConfig c) {
        return MacCounter.count(T, 672, 672, 4, c).totalGMacs();
    }

    @Test
    void findsAKnownOptimumWithinItsBudget() {
        Candidate target = SPACE.normalize(Candidate.of(6, 0, 2, 4, 5, 0));
        List<String> progress = new ArrayList<>();
        EvolutionarySearch s = search(3000, 1, null, distanceTo(target), null).onProgress(progress::add);
        SearchResult r = s.run();
        assertEquals(target, SPACE.candidate(r.sparsity()), "best " + r.sparsity());
        assertEquals(0.0, r.score(), 0.0);
        assertTrue(r.evaluated() <= 3000, "evaluated " + r.evaluated());
        assertEquals(r.generations() + 1, progress.size());
        assertTrue(progress.get(0).startsWith("generation 0: best score"), progress.get(0));
        assertTrue(progress.get(0).contains("feasible 100 of 100 sampled, candidates 100"), progress.get(0));

        // the same target inside a MACs window that contains it
        double m = gmacs(SPACE.toSparsity(target));
        SearchResult w = search(3000, 2, new Range(m - 5, m + 5), distanceTo(target), null).run();
        assertEquals(target, SPACE.candidate(w.sparsity()));
    }

    @Test
    void constraintsAreNeverViolated() throws IOException {
        Range window = new Range(120, 130);
        Path log = tmp.resolve("c.log");
        List<SparsityConfig> seen = new ArrayList<>();
        Evaluator target = distanceTo(SPACE.sparsest());
        EvolutionarySearch s = search(800, 2, window, cs -> {
            seen.addAll(cs);
            assertTrue(cs.size() <= SearchOptions.defaults().evaluationBatch(), "batch of " + cs.size());
            return target.score(cs);
        }, log);
        SearchResult r = s.run();
        assertTrue(window.contains(r.gmacs()), "best at " + r.gmacs());
        assertEquals(r.gmacs(), gmacs(r.sparsity()), 1e-9);
        // every configuration the evaluator saw was inside the window, in the search space, and new (the official
        // search converges before 800 distinct candidates: it stops after 20 generations with none)
        int evaluated = r.evaluated();
        assertTrue(evaluated > 300 && evaluated <= 800, "evaluated " + evaluated);
        assertEquals(evaluated, seen.size());
        assertEquals(evaluated, new LinkedHashSet<>(seen).size(), "a configuration was evaluated twice");
        for (SparsityConfig c : seen) {
            c.checkSearchSpace();
            assertTrue(window.contains(gmacs(c)), c + " at " + gmacs(c));
        }
        // and so does the log
        int n = 0;
        for (String line : Files.readAllLines(log)) {
            JsonNode j = OM.readTree(line);
            if (j.path("type").asText().equals("candidate")) {
                SparsityConfig c = SparsityConfig.parseCompact(j.get("sparsity").asText());
                assertTrue(window.contains(gmacs(c)), line);
                assertEquals(gmacs(c), j.get("gmacs").asDouble(), 1e-9, line);
                n++;
            }
        }
        assertEquals(evaluated, n);
        assertEquals(evaluated, s.evaluations().size());
        // the best is the best of all evaluations
        double top = s.evaluations().stream().mapToDouble(EvolutionarySearch.Evaluation::score).max().orElseThrow();
        assertEquals(top, r.score());
    }

    @Test
    void unsatisfiableWindowsFailWithTheCostRange() {
        // outside the whole range: fails at once
        SparseVitException e = assertThrows(SparseVitException.class,
                () -> search(10, 3, new Range(10, 11), distanceTo(SPACE.dense()), null).run());
        assertEquals("search: no configuration within 10.0..11.0 GMACs; the dense model needs 161.8 GMACs and the"
                + " sparsest 35.0 GMACs", e.getMessage());
        // inside the range but between configurations: rejection sampling gives up after maxTries draws
        SearchOptions o = SearchOptions.defaults().withBudget(10).withMaxTries(2000);
        e = assertThrows(SparseVitException.class, () -> new EvolutionarySearch(T, 672, 672, 4, SPACE, o,
                new Range(140.0000001, 140.0000002), null, null, distanceTo(SPACE.dense())).run());
        assertEquals("search: no configuration within 140.0000001..140.0000002 GMACs after 2000 samples; the dense"
                + " model needs 161.8 GMACs and the sparsest 35.0 GMACs", e.getMessage());
    }

    @Test
    void seededRunsAreIdentical() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(3, 1, 2, 2, 7, 5));
        Range w = new Range(100, 150);
        Path a = tmp.resolve("a.log");
        Path b = tmp.resolve("b.log");
        SearchResult ra = search(700, 9, w, ev, a).run();
        SearchResult rb = search(700, 9, w, ev, b).run();
        assertEquals(Files.readAllLines(a), Files.readAllLines(b));
        assertEquals(ra, rb);
        // another seed takes another course
        Path c = tmp.resolve("c.log");
        search(700, 10, w, ev, c).run();
        assertNotEquals(candidates(a), candidates(c));
    }

    @Test
    void resumeAfterABudgetCutGivesTheUninterruptedRunAndLog() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(3, 1, 2, 2, 7, 5));
        Range w = new Range(100, 150);
        Path full = tmp.resolve("full.log");
        SearchResult uninterrupted = search(700, 9, w, ev, full).run();

        Path cut = tmp.resolve("cut.log");
        search(300, 9, w, ev, cut).run();
        List<SparsityConfig> evaluatedAgain = new ArrayList<>();
        EvolutionarySearch resumed = search(700, 9, w, cs -> {
            evaluatedAgain.addAll(cs);
            return ev.score(cs);
        }, cut);
        SearchResult r = resumed.run();
        assertEquals(300, resumed.resumedCandidates());
        assertEquals(400, evaluatedAgain.size(), "only the candidates after the cut are evaluated");
        assertEquals(uninterrupted, r);
        assertEquals(Files.readAllLines(full), Files.readAllLines(cut));

        // resuming a finished log evaluates nothing and leaves it as it is
        EvolutionarySearch again = search(700, 9, w, cs -> {
            throw new AssertionError("evaluated again: " + cs);
        }, cut);
        assertEquals(uninterrupted, again.run());
        assertEquals(700, again.resumedCandidates());
        assertEquals(Files.readAllLines(full), Files.readAllLines(cut));

        // a smaller budget replays a prefix and keeps the longer log
        SearchResult shorter = search(300, 9, w, ev, null).run();
        List<String> progress = new ArrayList<>();
        EvolutionarySearch prefix = search(300, 9, w, ev, cut).onProgress(progress::add);
        assertEquals(shorter, prefix.run());
        assertEquals(300, prefix.resumedCandidates());
        assertTrue(progress.get(progress.size() - 1).contains("left unchanged"), progress.toString());
        assertEquals(Files.readAllLines(full), Files.readAllLines(cut));

        // a log of other options is refused, naming what differs
        SparseVitException e = assertThrows(SparseVitException.class, () -> search(700, 10, w, ev, cut).run());
        assertTrue(e.getMessage().contains("other options") && e.getMessage().contains("seed 9"), e.getMessage());
        e = assertThrows(SparseVitException.class, () -> search(700, 9, new Range(100, 140), ev, cut).run());
        assertTrue(e.getMessage().contains("gmacs: 100.0..150.0 in the log, 100.0..140.0 now"), e.getMessage());
    }

    @Test
    void aTimeLimitEndsOnAWholeGenerationAndTheLogGoesOn() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(5, 0, 1, 3, 6, 2));
        Range w = new Range(95, 145);
        Path full = tmp.resolve("full.log");
        SearchResult uninterrupted = search(500, 4, w, ev, full).run();

        // a limit already spent when the first generation ends: the run stops there, with the best of it
        Path cut = tmp.resolve("cut.log");
        List<String> progress = new ArrayList<>();
        EvolutionarySearch first = search(500, 4, w, ev, cut).timeLimit(java.time.Duration.ZERO)
                .onProgress(progress::add);
        SearchResult partial = first.run();
        assertTrue(first.stoppedByTime());
        assertEquals(100, partial.evaluated(), "the initial population only");
        assertEquals(0, partial.generations());
        assertTrue(progress.get(progress.size() - 1).startsWith("time limit (0.0 s) reached after generation 0"),
                progress.toString());
        assertTrue(partial.score() <= uninterrupted.score());
        assertTrue(w.contains(partial.gmacs()), "within the window: " + partial.gmacs());
        List<String> fullLines = Files.readAllLines(full);
        List<String> cutLines = Files.readAllLines(cut);
        assertEquals(fullLines.subList(0, cutLines.size()), cutLines, "the log is a prefix of the uninterrupted one");
        assertTrue(cutLines.get(cutLines.size() - 1).contains("\"type\":\"generation\""), "ends on a whole generation");

        // without the limit, the same log goes on to the uninterrupted run's result and log
        EvolutionarySearch resumed = search(500, 4, w, ev, cut);
        assertEquals(uninterrupted, resumed.run());
        assertFalse(resumed.stoppedByTime());
        assertEquals(100, resumed.resumedCandidates());
        assertEquals(fullLines, Files.readAllLines(cut));
        // a generous limit changes nothing
        assertEquals(uninterrupted, search(500, 4, w, ev, null).timeLimit(java.time.Duration.ofHours(1)).run());
        assertThrows(SparseVitException.class, () -> search(500, 4, w, ev, null).timeLimit(java.time.Duration.ofSeconds(-1)));
    }

    @Test
    void resumeAfterACrashMidLine() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(8, 0, 0, 4, 4, 2));
        Range w = new Range(90, 140);
        Path full = tmp.resolve("full.log");
        SearchResult uninterrupted = search(600, 5, w, ev, full).run();
        byte[] all = Files.readAllBytes(full);
        // cut in the middle of a line somewhere after half the file, as a killed process would leave it
        int at = all.length / 2;
        while (all[at] != '"') {
            at++;
        }
        Path crashed = tmp.resolve("crashed.log");
        Files.write(crashed, all);
        try (FileChannel ch = FileChannel.open(crashed, StandardOpenOption.WRITE)) {
            ch.truncate(at);
        }
        EvolutionarySearch resumed = search(600, 5, w, ev, crashed);
        assertEquals(uninterrupted, resumed.run());
        assertTrue(resumed.resumedCandidates() > 100, "resumed " + resumed.resumedCandidates());
        assertEquals(Files.readAllLines(full), Files.readAllLines(crashed));
    }

    /** A log is resumed only by the evaluator that wrote it: another one's scores are not mixed in. */
    @Test
    void aLogIsNotResumedWithAnotherEvaluator() throws IOException {
        Path log = tmp.resolve("e.log");
        search(150, 5, null, described(distanceTo(SPACE.dense()), "fidelity on set A"), log).run();
        List<String> before = Files.readAllLines(log);
        SparseVitException e = assertThrows(SparseVitException.class,
                () -> search(300, 5, null, described(distanceTo(SPACE.sparsest()), "fidelity on set B"), log).run());
        assertTrue(e.getMessage().contains("evaluator: fidelity on set A in the log, fidelity on set B now"),
                e.getMessage());
        assertEquals(before, Files.readAllLines(log), "the log is left as it was");
        // the same evaluator goes on from it
        EvolutionarySearch again = search(300, 5, null, described(distanceTo(SPACE.dense()), "fidelity on set A"), log);
        again.run();
        assertTrue(again.resumedCandidates() > 0);
    }

    static Evaluator described(Evaluator ev, String what) {
        return new Evaluator() {
            @Override
            public double[] score(List<SparsityConfig> cs) {
                return ev.score(cs);
            }

            @Override
            public String describe() {
                return what;
            }
        };
    }

    /** A measuring latency model (noisy: each instance gives other values); the resumed run must reuse the log's. */
    static final class NoisyLatency implements LatencyModel {
        final Random noise;
        int calls;

        NoisyLatency(long seed) {
            noise = new Random(seed);
        }

        @Override
        public double latencyMs(SparsityConfig c) {
            calls++;
            return gmacs(c) / 10 + noise.nextDouble();
        }
    }

    @Test
    void resumeReusesLoggedLatencyMeasurements() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(2, 2, 3, 4, 5, 1));
        Range lat = new Range(11, 14);
        SearchOptions o = SearchOptions.defaults().withSeed(4);
        Path log = tmp.resolve("lat.log");
        NoisyLatency first = new NoisyLatency(1);
        new EvolutionarySearch(T, 672, 672, 4, SPACE, o.withBudget(250), null, lat, first, ev).logTo(log).run();
        List<String> before = Files.readAllLines(log);
        long measured = before.stream().filter(l -> l.contains("\"type\":\"latency\"")).count();
        assertEquals(first.calls, measured, "every measurement is logged");

        NoisyLatency second = new NoisyLatency(2);
        EvolutionarySearch resumed = new EvolutionarySearch(T, 672, 672, 4, SPACE, o.withBudget(500), null, lat,
                second, ev).logTo(log);
        SearchResult r = resumed.run();
        assertEquals(250, resumed.resumedCandidates());
        List<String> after = Files.readAllLines(log);
        // the replay matched every line but the cut generation's summary: nothing was measured twice
        assertEquals(before.subList(0, before.size() - 1), after.subList(0, before.size() - 1));
        assertTrue(second.calls > 0);
        assertEquals(measured + second.calls, after.stream().filter(l -> l.contains("\"type\":\"latency\"")).count());
        for (EvolutionarySearch.Evaluation e : resumed.evaluations()) {
            assertTrue(lat.contains(e.latencyMs()), e.toString());
        }
        assertTrue(lat.contains(r.latencyMs()));
    }

    /**
     * Latencies only reported (a measuring model, no window): a run resumed with a larger budget logs every new
     * evaluation, each after its measurement, as an uninterrupted run does.
     */
    @Test
    void resumeWithLatenciesOnlyReportedLogsEveryEvaluation() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(2, 2, 3, 4, 5, 1));
        SearchOptions o = SearchOptions.defaults().withSeed(6);
        Path log = tmp.resolve("report.log");
        new EvolutionarySearch(T, 672, 672, 4, SPACE, o.withBudget(150), null, null, new NoisyLatency(1), ev)
                .logTo(log).run();
        List<String> before = Files.readAllLines(log);
        List<String> progress = new ArrayList<>();
        EvolutionarySearch resumed = new EvolutionarySearch(T, 672, 672, 4, SPACE, o.withBudget(260), null, null,
                new NoisyLatency(2), ev).logTo(log).onProgress(progress::add);
        SearchResult r = resumed.run();
        assertEquals(150, resumed.resumedCandidates());
        assertEquals(260, r.evaluated());
        assertFalse(progress.stream().anyMatch(l -> l.contains("left unchanged")), progress.toString());
        List<String> after = Files.readAllLines(log);
        assertEquals(before.subList(0, before.size() - 1), after.subList(0, before.size() - 1));
        assertEquals(260, candidates(log).size(), "every evaluation is logged");
        // each candidate line follows its own measurement
        for (int i = 1; i < after.size(); i++) {
            JsonNode line = OM.readTree(after.get(i));
            if (line.path("type").asText().equals("candidate")) {
                JsonNode prev = OM.readTree(after.get(i - 1));
                assertEquals("latency", prev.path("type").asText(), after.get(i - 1));
                assertEquals(prev.get("genes"), line.get("genes"));
                assertEquals(prev.get("latency_ms"), line.get("latency_ms"));
            }
        }
    }

    /** A latency window outside the dense-to-sparsest range fails after two measurements, not thousands. */
    @Test
    void anImpossibleLatencyWindowFailsAtOnce() {
        NoisyLatency lat = new NoisyLatency(3);
        SparseVitException e = assertThrows(SparseVitException.class, () -> new EvolutionarySearch(T, 672, 672, 4,
                SPACE, SearchOptions.defaults().withBudget(100), null, new Range(0.001, 1), lat,
                distanceTo(SPACE.dense())).run());
        assertTrue(e.getMessage().startsWith("search: no configuration within 0.001..1.0 ms; the dense model takes"),
                e.getMessage());
        assertEquals(2, lat.calls, "the dense and the sparsest model");
        // a window inside the range is searched
        double dense = gmacs(SPACE.toSparsity(SPACE.dense())) / 10;
        assertTrue(new EvolutionarySearch(T, 672, 672, 4, SPACE, SearchOptions.defaults().withBudget(100), null,
                new Range(dense * 0.5, dense * 0.8), new NoisyLatency(3), distanceTo(SPACE.dense())).run()
                .evaluated() > 0);
    }

    /** An edited log is refused, naming the line, and left as it is; new evaluations are never dropped silently. */
    @Test
    void anEditedLogIsRefused() throws IOException {
        Evaluator ev = distanceTo(Candidate.of(3, 1, 2, 2, 7, 5));
        Path log = tmp.resolve("edited.log");
        search(150, 7, null, ev, log).run();
        List<String> lines = Files.readAllLines(log);
        int at = 0;
        while (!lines.get(at).contains("\"type\":\"candidate\"")) {
            at++;
        }
        // a gene that is not a level
        List<String> bad = new ArrayList<>(lines);
        bad.set(at, lines.get(at).replaceFirst("\"genes\":\\[\\d+", "\"genes\":[99"));
        Files.write(log, bad);
        SparseVitException e = assertThrows(SparseVitException.class, () -> search(300, 7, null, ev, log).run());
        assertTrue(e.getMessage().contains("outside this search's space"), e.getMessage());
        assertEquals(bad, Files.readAllLines(log));
        // another valid candidate where the run draws a different one
        List<String> moved = new ArrayList<>(lines);
        JsonNode c = OM.readTree(lines.get(at));
        Candidate other = SPACE.sparsest();
        String genes = c.get("genes").toString();
        String instead = OM.valueToTree(other.genes()).toString();
        assertNotEquals(genes, instead);
        moved.set(at, lines.get(at).replace(genes, instead));
        Files.write(log, moved);
        e = assertThrows(SparseVitException.class, () -> search(300, 7, null, ev, log).run());
        assertTrue(e.getMessage().contains("line " + (at + 1) + " is not what this run gives there (\"genes\": "
                + instead + " in the log, " + genes + " in this run, in a candidate line)"), e.getMessage());
        assertEquals(moved, Files.readAllLines(log));
        // a number spelled otherwise (5 for 5.0, by a tool that rewrote the file) is the same number
        List<String> respelled = new ArrayList<>(lines);
        JsonNode first = OM.readTree(lines.get(at));
        double score = first.get("score").asDouble();
        assertEquals(Math.rint(score), score, "the distance scores are whole numbers");
        respelled.set(at, lines.get(at).replace("\"score\":" + first.get("score"), "\"score\":" + (long) score));
        assertNotEquals(lines.get(at), respelled.get(at));
        Files.write(log, respelled);
        EvolutionarySearch again = search(300, 7, null, ev, log);
        again.run();
        assertTrue(again.resumedCandidates() > 0);
    }

    /** 10,000 distinct candidates: the official search converges sooner, so children must be new (novelty tries). */
    @Test
    void tenThousandCandidatesWithACheapEvaluator() {
        Range window = new Range(110, 140);
        long t0 = System.nanoTime();
        EvolutionarySearch s = new EvolutionarySearch(T, 672, 672, 4, SPACE,
                SearchOptions.defaults().withSeed(4).withBudget(10_000).withNoveltyTries(1000), window, null, null,
                cs -> cs.stream().mapToDouble(c -> -java.util.Arrays.stream(c.ratios())
                        .flatMapToDouble(java.util.Arrays::stream).sum()).toArray());
        SearchResult r = s.run();
        double sec = (System.nanoTime() - t0) / 1e9;
        System.out.printf("10,000-candidate MACs-constrained search: %.1f s, %d generations%n", sec, r.generations());
        assertEquals(10_000, r.evaluated());
        assertTrue(window.contains(r.gmacs()));
        Set<Candidate> distinct = new LinkedHashSet<>();
        for (EvolutionarySearch.Evaluation e : s.evaluations()) {
            assertTrue(window.contains(e.gmacs()), e.toString());
            assertTrue(distinct.add(e.candidate()), "twice: " + e);
        }
        // the fewest ratios summed under the window: the search pushes towards the window's upper end
        assertTrue(r.gmacs() > 135, "best at " + r.gmacs());
    }

    /**
     * The official search's generations: the next parents are the best of the children alone, places kept by
     * repeats (a child evaluated before is taken as it is); with both departures, parents compete with their
     * children, children are new where the novelty tries find one, and parents are distinct.
     */
    @Test
    void parentsAreTheBestChildrenRepeatsIncluded() {
        Candidate target = SPACE.normalize(Candidate.of(6, 0, 2, 4, 5, 0));
        for (boolean elitist : new boolean[] {false, true}) {
            SearchOptions o = SearchOptions.defaults().withPopulation(20, 5, 10, 10).withSeed(5).withGenerations(6)
                    .withElitism(elitist).withNoveltyTries(elitist ? 1000 : 0);
            EvolutionarySearch s = new EvolutionarySearch(T, 672, 672, 4, SPACE, o, null, null, null,
                    distanceTo(target));
            s.history = true;
            s.run();
            assertEquals(6, s.parentLists.size());
            java.util.Map<Candidate, Double> score = new java.util.HashMap<>();
            s.evaluations().forEach(e -> score.put(e.candidate(), e.score()));
            boolean repeatedChild = false;
            boolean repeatedParent = false;
            for (int g = 0; g < s.populations.size(); g++) {
                List<Candidate> pop = s.populations.get(g);
                // the population: the 20 initial draws, then 20 children (after the parents when elitist)
                List<Candidate> expectPop = g > 0 && elitist ? s.parentLists.get(g - 1) : List.of();
                assertEquals(expectPop, pop.subList(0, expectPop.size()), "generation " + g);
                assertEquals(expectPop.size() + 20, pop.size(), "generation " + g);
                // the parents: the population ranked by score, stable, repeats kept unless elitist
                List<Candidate> ranked = new ArrayList<>(elitist ? new LinkedHashSet<>(pop) : pop);
                ranked.sort(java.util.Comparator.comparingDouble((Candidate c) -> score.get(c)).reversed());
                assertEquals(ranked.subList(0, 5), s.parentLists.get(g), "generation " + g);
                repeatedChild |= new LinkedHashSet<>(pop).size() < pop.size();
                repeatedParent |= new LinkedHashSet<>(s.parentLists.get(g)).size() < 5;
            }
            if (!elitist) {
                assertTrue(repeatedChild, "the official search takes repeated children");
            }
            assertEquals(!elitist, repeatedParent, "repeats among the parents");
        }
    }

    @Test
    void resultFileIsThePruningJsonForm() throws IOException {
        SearchResult r = search(200, 1, new Range(120, 130), distanceTo(SPACE.dense()), null).run();
        Path out = tmp.resolve("out/best.json");
        EvolutionarySearch.writeResult(out, r);
        JsonNode j = OM.readTree(out.toFile());
        assertEquals(4, j.get("stages").size());
        assertEquals(r.gmacs(), j.get("gmacs").asDouble());
        assertEquals(r.score(), j.get("score").asDouble());
        assertFalse(j.has("latency_ms"));
        assertEquals(r.sparsity(), SparsityConfig.parse(out.toString()));
    }

    @Test
    void optionsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> SearchOptions.defaults().withPopulation(10, 20, 5, 5));
        assertThrows(IllegalArgumentException.class, () -> SearchOptions.defaults().withMutationProb(1.5));
        assertThrows(IllegalArgumentException.class, () -> SearchOptions.defaults().withEvaluationBatch(0));
        SparseVitException e = assertThrows(SparseVitException.class, () -> new EvolutionarySearch(T, 672, 672, 4,
                SPACE, SearchOptions.defaults(), null, new Range(1, 2), null, distanceTo(SPACE.dense())));
        assertTrue(e.getMessage().contains("latency model"), e.getMessage());
        // a small population works the same way
        SearchResult r = new EvolutionarySearch(T, 672, 672, 4, SPACE,
                SearchOptions.defaults().withPopulation(12, 4, 6, 6).withSeed(3).withGenerations(5), null, null, null,
                distanceTo(SPACE.dense())).run();
        assertEquals(5, r.generations());
        assertTrue(r.evaluated() <= 12 + 5 * 12);
    }

    static List<String> candidates(Path log) throws IOException {
        return Files.readAllLines(log).stream().filter(l -> l.contains("\"candidate\"")).toList();
    }
}

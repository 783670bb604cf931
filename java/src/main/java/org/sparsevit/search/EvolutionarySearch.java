package org.sparsevit.search;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.sparse.SparsityConfig;

/**
 * Evolutionary search of per-pair sparsity under MACs and/or latency windows, as in the official SparseViT
 * search: an initial population sampled by rejection (infeasible candidates are never evaluated), then per
 * generation the top {@code parents}, {@code mutations} mutated children and {@code crossovers} crossed
 * children (genes re-sorted within stages), until the generation or candidate budget is spent. Candidates
 * are cached by configuration; one seeded {@link Random} drives every choice, so a deterministic evaluator
 * gives an identical run.
 *
 * <p>Resume: every evaluation is appended to a JSON-lines log. Given the same options and an existing log,
 * the search replays the run from the start, taking scores from the log instead of evaluating again, so the
 * continued run is identical to one that was never interrupted.
 */
public final class EvolutionarySearch {
    /** Generations without a single new candidate after which the search stops (it has converged). */
    static final int STALE_GENERATIONS = 20;
    /** Attempts at a not-yet-seen child before a known one is accepted. */
    static final int NOVELTY_TRIES = 1000;

    private final SwinConfig cfg;
    private final int height;
    private final int width;
    private final int batch;
    private final SearchSpace space;
    private final SearchOptions opt;
    private final Range gmacs;
    private final Range latency;
    private final LatencyModel latencyModel;
    private final Evaluator evaluator;
    private final Map<String, Entry> cache = new LinkedHashMap<>();
    private final Map<String, double[]> costs = new LinkedHashMap<>();
    /** Candidates this run has reached, in order (scores from the cache: evaluated now or read from the log). */
    private final Map<String, Entry> visited = new LinkedHashMap<>();
    private Consumer<String> log = s -> { };
    private Path logFile;
    private int fromLog;

    private record Entry(int[] genes, double score, double gmacs, double latencyMs) {
    }

    /**
     * @param gmacs        MACs window in GMACs, or null
     * @param latency      latency window in milliseconds, or null (needs {@code latencyModel})
     * @param latencyModel measures or predicts latency; may be null when no latency window is given
     */
    public EvolutionarySearch(SwinConfig cfg, int height, int width, int batch, SearchSpace space, SearchOptions opt,
                              Range gmacs, Range latency, LatencyModel latencyModel, Evaluator evaluator) {
        if (latency != null && latencyModel == null) {
            throw new SparseVitException("search: a latency window needs a latency model (measurement or table)");
        }
        this.cfg = cfg;
        this.height = height;
        this.width = width;
        this.batch = batch;
        this.space = space;
        this.opt = opt;
        this.gmacs = gmacs;
        this.latency = latency;
        this.latencyModel = latencyModel;
        this.evaluator = evaluator;
    }

    /** One line per generation goes here (e.g. System.out::println). */
    public EvolutionarySearch onProgress(Consumer<String> progress) {
        this.log = progress;
        return this;
    }

    /** Appends evaluations to this JSON-lines file, and resumes from it if it exists. */
    public EvolutionarySearch logTo(Path file) {
        this.logFile = file;
        return this;
    }

    /** Candidates whose scores came from the log (a resumed run). */
    public int resumedCandidates() {
        return fromLog;
    }

    private static String key(int[] g) {
        return Arrays.toString(g);
    }

    /** {gmacs, latency or NaN}; cached. */
    private double[] cost(int[] g) {
        return costs.computeIfAbsent(key(g), k -> {
            SparsityConfig sp = space.toSparsity(g);
            double m = MacCounter.count(cfg, height, width, batch, sp).totalGMacs();
            double l = Double.NaN;
            if (latencyModel != null && (gmacs == null || gmacs.contains(m))) {
                l = latencyModel.latencyMs(sp);
            }
            return new double[]{m, l};
        });
    }

    private boolean feasible(int[] g) {
        double[] c = cost(g);
        if (gmacs != null && !gmacs.contains(c[0])) {
            return false;
        }
        return latency == null || latency.contains(c[1]);
    }

    private String header() {
        // everything that shapes the trajectory, but not the budget: a resumed run may extend it
        return String.format(Locale.ROOT, "%s|%dx%d|b%d|%s|pop %d parents %d mut %d cross %d p %s seed %d|%s|%s|%s",
                cfg.toString(), height, width, batch, Arrays.toString(space.levels()), opt.population(), opt.parents(),
                opt.mutations(), opt.crossovers(), opt.mutationProb(), opt.seed(), gmacs, latency,
                latencyModel == null ? "-" : latencyModel.getClass().getSimpleName());
    }

    private void loadLog(ObjectMapper om) throws IOException {
        if (logFile == null || !Files.exists(logFile)) {
            return;
        }
        List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = om.readTree(lines.get(i));
            } catch (IOException e) {
                if (i == lines.size() - 1) {
                    break; // a line cut off by the interruption
                }
                throw new SparseVitException(logFile + ": line " + (i + 1) + " is not JSON");
            }
            String type = n.path("type").asText();
            if (type.equals("search") && !n.path("options").asText().equals(header())) {
                throw new SparseVitException(logFile + ": the log was written by a search with other options;"
                        + " resume with the same options or use a new log file");
            }
            if (type.equals("candidate")) {
                int[] g = new int[n.get("genes").size()];
                for (int q = 0; q < g.length; q++) {
                    g[q] = n.get("genes").get(q).asInt();
                }
                cache.put(key(g), new Entry(g, n.get("score").asDouble(), n.path("gmacs").asDouble(),
                        n.path("latency_ms").isNumber() ? n.get("latency_ms").asDouble() : Double.NaN));
                fromLog++;
            }
        }
    }

    public SearchResult run() {
        ObjectMapper om = new ObjectMapper();
        BufferedWriter w = null;
        try {
            loadLog(om);
            boolean fresh = logFile != null && !Files.exists(logFile);
            if (logFile != null) {
                Path parent = logFile.toAbsolutePath().getParent();
                if (parent != null) {
                    Files.createDirectories(parent);
                }
                w = Files.newBufferedWriter(logFile, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        StandardOpenOption.APPEND);
                if (fresh) {
                    ObjectNode h = om.createObjectNode();
                    h.put("type", "search");
                    h.put("options", header());
                    w.write(h.toString());
                    w.newLine();
                    w.flush();
                }
            }
            return evolve(om, w);
        } catch (IOException e) {
            throw new SparseVitException("search log " + logFile + ": " + e.getMessage(), e);
        } finally {
            if (w != null) {
                try {
                    w.close();
                } catch (IOException ignored) {
                    // the log lines were flushed one by one
                }
            }
        }
    }

    /**
     * A feasible candidate, preferring one not evaluated yet and not already in {@code taken} (rejection
     * sampling); a converged population may yield only known candidates, and then one of those is returned.
     */
    private int[] sample(Random r, List<int[]> from, boolean mutate, java.util.Set<String> taken) {
        int[] known = null;
        for (int t = 0; t < opt.maxTries(); t++) {
            int[] g;
            if (from == null) {
                g = space.random(r);
            } else if (mutate) {
                g = space.mutate(from.get(r.nextInt(from.size())), opt.mutationProb(), r);
            } else {
                g = space.crossover(from.get(r.nextInt(from.size())), from.get(r.nextInt(from.size())), r);
            }
            if (feasible(g)) {
                String k = key(g);
                if (!visited.containsKey(k) && !taken.contains(k)) {
                    taken.add(k);
                    return g;
                }
                if (known == null) {
                    known = g;
                }
                if (t >= NOVELTY_TRIES) {
                    return known;
                }
            }
        }
        if (known != null) {
            return known;
        }
        double dense = MacCounter.count(cfg, height, width, batch, SparsityConfig.dense(cfg)).totalGMacs();
        int[] sparsest = new int[space.genes()];
        Arrays.fill(sparsest, space.levels().length - 1);
        double low = MacCounter.count(cfg, height, width, batch, space.toSparsity(sparsest)).totalGMacs();
        throw new SparseVitException(String.format(Locale.ROOT,
                "search: no configuration within the constraints (GMACs %s, latency %s ms) after %d samples;"
                        + " the dense model needs %.1f GMACs and the sparsest %.1f GMACs",
                gmacs, latency, opt.maxTries(), dense, low));
    }

    private SearchResult evolve(ObjectMapper om, BufferedWriter w) throws IOException {
        Random r = new Random(opt.seed());
        int evaluated = 0;
        List<int[]> pop = new ArrayList<>();
        java.util.Set<String> taken = new java.util.HashSet<>();
        for (int i = 0; i < opt.population(); i++) {
            pop.add(sample(r, null, false, taken));
        }
        int gen = 0;
        boolean budget = false;
        int stale = 0;
        while (true) {
            int before = visited.size();
            budget = evaluate(pop, om, w);
            // converged: generations that bring nothing new cannot spend the budget, so stop after a while
            stale = visited.size() == before && gen > 0 ? stale + 1 : 0;
            evaluated = visited.size();
            List<int[]> ranked = new ArrayList<>(pop);
            ranked.removeIf(g -> !visited.containsKey(key(g)));
            ranked.sort(Comparator.comparingDouble((int[] g) -> -visited.get(key(g)).score()));
            Entry best = best();
            int feasibleCount = ranked.size();
            String line = String.format(Locale.ROOT, "generation %d: best score %.6f (%s, %.2f GMACs%s), feasible %d, candidates %d",
                    gen, best.score(), space.toSparsity(best.genes()).toCompact(), best.gmacs(),
                    Double.isNaN(best.latencyMs()) ? "" : String.format(Locale.ROOT, ", %.3f ms", best.latencyMs()),
                    feasibleCount, evaluated);
            log.accept(line);
            if (w != null) {
                ObjectNode n = om.createObjectNode();
                n.put("type", "generation");
                n.put("generation", gen);
                n.put("best", best.score());
                n.put("feasible", feasibleCount);
                n.put("candidates", evaluated);
                w.write(n.toString());
                w.newLine();
                w.flush();
            }
            if (budget || gen >= opt.generations() || stale >= STALE_GENERATIONS) {
                break;
            }
            List<int[]> parents = new ArrayList<>(ranked.subList(0, Math.min(opt.parents(), ranked.size())));
            List<int[]> next = new ArrayList<>(parents);
            taken.clear();
            for (int i = 0; i < opt.mutations(); i++) {
                next.add(sample(r, parents, true, taken));
            }
            for (int i = 0; i < opt.crossovers(); i++) {
                next.add(sample(r, parents, false, taken));
            }
            pop = next;
            gen++;
        }
        Entry best = best();
        return new SearchResult(space.toSparsity(best.genes()), best.score(), best.gmacs(), best.latencyMs(),
                visited.size(), gen);
    }

    private Entry best() {
        Entry b = null;
        for (Entry e : visited.values()) {
            if (b == null || e.score() > b.score()) {
                b = e;
            }
        }
        return b;
    }

    /**
     * Visits the new candidates of a population in order (taking scores logged by an interrupted run of the
     * same search, evaluating the rest in one batch); true when the candidate budget is spent.
     */
    private boolean evaluate(List<int[]> pop, ObjectMapper om, BufferedWriter w) throws IOException {
        List<int[]> fresh = new ArrayList<>();
        Map<String, Boolean> seen = new LinkedHashMap<>();
        for (int[] g : pop) {
            String k = key(g);
            if (!visited.containsKey(k) && seen.put(k, true) == null) {
                fresh.add(g);
            }
        }
        boolean spent = false;
        if (opt.maxCandidates() > 0) {
            int left = opt.maxCandidates() - visited.size();
            if (left <= fresh.size()) {
                fresh = new ArrayList<>(fresh.subList(0, Math.max(0, left)));
                spent = true;
            }
        }
        List<int[]> todo = new ArrayList<>();
        for (int[] g : fresh) {
            if (!cache.containsKey(key(g))) {
                todo.add(g);
            }
        }
        if (!todo.isEmpty()) {
            List<SparsityConfig> cfgs = new ArrayList<>();
            for (int[] g : todo) {
                cfgs.add(space.toSparsity(g));
            }
            double[] scores = evaluator.score(cfgs);
            if (scores.length != todo.size()) {
                throw new SparseVitException("search: the evaluator returned " + scores.length + " scores for "
                        + todo.size() + " candidates");
            }
            for (int i = 0; i < todo.size(); i++) {
                int[] g = todo.get(i);
                double[] c = cost(g);
                cache.put(key(g), new Entry(g, scores[i], c[0], c[1]));
                if (w != null) {
                    ObjectNode n = om.createObjectNode();
                    n.put("type", "candidate");
                    ArrayNode a = n.putArray("genes");
                    for (int v : g) {
                        a.add(v);
                    }
                    n.put("sparsity", cfgs.get(i).toCompact());
                    n.put("score", scores[i]);
                    n.put("gmacs", c[0]);
                    if (!Double.isNaN(c[1])) {
                        n.put("latency_ms", c[1]);
                    }
                    w.write(n.toString());
                    w.newLine();
                }
            }
            if (w != null) {
                w.flush();
            }
        }
        for (int[] g : fresh) {
            visited.put(key(g), cache.get(key(g)));
        }
        return spent;
    }

    /** Writes the result in the pruning JSON form with its MACs, latency and score. */
    public static void writeResult(Path file, SearchResult r) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode n = r.sparsity().toJsonNode();
        n.put("gmacs", r.gmacs());
        if (!Double.isNaN(r.latencyMs())) {
            n.put("latency_ms", r.latencyMs());
        }
        n.put("score", r.score());
        n.put("candidates", r.evaluated());
        n.put("generations", r.generations());
        n.put("compact", r.sparsity().toCompact());
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            om.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), n);
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot write the search result (" + e.getMessage() + ")", e);
        }
    }
}

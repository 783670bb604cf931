package org.sparsevit.search;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;

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
 * search.
 *
 * <p>Course of a run, as the official search's (mit-han-lab/sparsevit, tools/search.py, {@code EvolveSearcher}):
 * an initial population of {@code population} candidates drawn at random; then, every generation, the best
 * {@code parents} candidates of the current population become the parents of {@code mutations} children by
 * mutation (a random parent, each gene taken with probability {@code mutationProb} from a fresh random
 * configuration, {@link SearchSpace#mutate}) and {@code crossovers} children by crossover (two random parents at
 * different places of the parent list, each gene from either); the children are the next population. Genes are
 * re-sorted within stages after every operator, so ratios stay non-decreasing within a stage. A child evaluated
 * before keeps its score from the cache and its place in the population, as in the official search, so a good
 * candidate can hold several parent places. The result is the best candidate of the whole run (of equal scores,
 * the one evaluated last, after the official {@code >=}). The run ends when the candidate budget (distinct
 * evaluations) is spent, after the generation limit, when {@code staleGenerations} generations in a row bring no
 * new candidate, or at the end of the first generation that finishes past the {@link #timeLimit time limit}. Two
 * departures are options: {@link SearchOptions#elitist} (parents compete with their children) and
 * {@link SearchOptions#noveltyTries} (children must be new when possible).
 *
 * <p>Constraints: every candidate is drawn by rejection sampling, so candidates outside the MACs window
 * (analytic, {@link MacCounter}) or the latency window ({@link LatencyModel}: a {@link LatencyTable} or
 * direct measurement) are discarded before any evaluation (the official search evaluates its constraints the
 * same way, but counts a rejected draw as an iteration); after {@code maxTries} draws without a feasible one the
 * search fails with a message giving the dense and sparsest models' costs. The evaluator is never called twice
 * for one configuration.
 *
 * <p>Determinism: one {@link Random} seeded with {@code seed} makes every choice, ties are broken by
 * order, and no iteration depends on hash order, so a deterministic evaluator gives an identical run.
 *
 * <p>Log and resume ({@link #logTo}): a JSON-lines file with a header line (type "search": model, size,
 * batch, space, options, windows, latency model), one line per evaluated candidate (type "candidate":
 * generation, genes, sparsity in compact form, score, gmacs, latency_ms), one per generation (type
 * "generation": best score and configuration, feasible and total draws, candidates so far) and, with a
 * measuring latency model, one per measurement (type "latency"). Given an existing log and the same
 * options, the search loads its evaluations and measurements into the cache and replays the run from
 * the start with the same seed: the generator makes the same draws, the logged candidates are not
 * evaluated again and the logged measurements are reused, so the continued run takes exactly the course
 * of an uninterrupted one, and the log file ends up identical to it (see {@link SearchLog}). The budget,
 * the generation limit, the time limit and the evaluation batch may change between runs; anything else is
 * refused (the header names the options, windows, latency model and evaluator; a line the replay does not
 * reproduce, with evaluations after it, is refused too). A run stopped by its time limit is thus continued by
 * running it again with the same log. The log is the record of the scores: a resumed run takes them as they
 * are, so an edited score goes unseen unless it breaks the replay.
 */
public final class EvolutionarySearch {
    private static final ObjectMapper OM = new ObjectMapper();

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

    private Consumer<String> progress = s -> { };
    private java.util.function.IntConsumer counter = n -> { };
    private Path logFile;
    private Duration timeLimit;
    private boolean stoppedByTime;

    // state of one run (lookup-only maps are still insertion-ordered, so nothing depends on hash order)
    private final Map<Candidate, Evaluation> known = new LinkedHashMap<>();
    private final Map<Candidate, Double> macsCache = new LinkedHashMap<>();
    private final Map<Candidate, Double> latencyCache = new LinkedHashMap<>();
    private final Set<Candidate> latencyLogged = new LinkedHashSet<>();
    private final Set<Candidate> loaded = new LinkedHashSet<>();
    private final Map<Candidate, Evaluation> visited = new LinkedHashMap<>();
    /** Each generation's population and the parents drawn from it, kept only when {@code history} is set (tests). */
    final List<List<Candidate>> populations = new ArrayList<>();
    final List<List<Candidate>> parentLists = new ArrayList<>();
    boolean history;
    private Random rng;
    private SearchLog log;
    private int fromLog;
    private int generation;
    private long drawn;
    private long feasibleDrawn;

    /**
     * One evaluated candidate.
     *
     * @param candidate its genes
     * @param score     the evaluator's score (higher is better)
     * @param gmacs     analytic GMACs at the searched size and batch
     * @param latencyMs latency from the latency model, or NaN without one
     */
    public record Evaluation(Candidate candidate, double score, double gmacs, double latencyMs) {
    }

    /**
     * @param cfg          the architecture (for MACs)
     * @param height       input height the constraints refer to
     * @param width        input width
     * @param batch        batch size the constraints refer to
     * @param space        the search space (its depths must be the model's)
     * @param opt          search parameters
     * @param gmacs        MACs window in GMACs, or null
     * @param latency      latency window in milliseconds, or null (needs {@code latencyModel})
     * @param latencyModel measures or predicts latency; may be null without a latency window. With a model
     *                     and no window, latencies are only reported (evaluated candidates only)
     * @param evaluator    scores candidates, higher is better
     */
    public EvolutionarySearch(SwinConfig cfg, int height, int width, int batch, SearchSpace space, SearchOptions opt,
                              Range gmacs, Range latency, LatencyModel latencyModel, Evaluator evaluator) {
        if (latency != null && latencyModel == null) {
            throw new SparseVitException("search: a latency window needs a latency model (measurement or table)");
        }
        if (!Arrays.equals(cfg.depths(), space.depths())) {
            throw new SparseVitException("search: the space has depths " + Arrays.toString(space.depths())
                    + ", the model " + Arrays.toString(cfg.depths()));
        }
        if (height <= 0 || width <= 0 || batch <= 0) {
            throw new SparseVitException("search: size and batch must be positive, got " + height + "x" + width
                    + ", batch " + batch);
        }
        if (evaluator == null) {
            throw new SparseVitException("search: no evaluator given");
        }
        if (latencyModel instanceof LatencyTable t) {
            t.checkFor(height, width, batch, space);
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

    /** One line per generation goes here (e.g. {@code System.out::println}). */
    public EvolutionarySearch onProgress(Consumer<String> progress) {
        this.progress = progress == null ? s -> { } : progress;
        return this;
    }

    /**
     * Called with the number of candidates visited so far (evaluated, or taken from the log) after each one: for a
     * progress bar against the budget.
     */
    public EvolutionarySearch onCandidates(java.util.function.IntConsumer visitedSoFar) {
        this.counter = visitedSoFar == null ? n -> { } : visitedSoFar;
        return this;
    }

    /** Writes the JSON-lines log to this file, and resumes from it if it exists (see the class comment). */
    public EvolutionarySearch logTo(Path file) {
        this.logFile = file;
        return this;
    }

    /**
     * Ends a run at the end of the first generation that finishes this long after the run started (null: no
     * limit), with the best candidate so far: for callers that must get a result within a wall-clock budget
     * (a device lease, a job slot). The limit is checked between generations, never inside one, so the log
     * always ends on a whole generation; a later run with the same log takes the candidates evaluated so far
     * from it and goes on. Not part of the options (it does not change the course of the search, only where
     * it stops).
     */
    public EvolutionarySearch timeLimit(Duration limit) {
        if (limit != null && limit.isNegative()) {
            throw new SparseVitException("search: the time limit must not be negative, got " + limit);
        }
        this.timeLimit = limit;
        return this;
    }

    /** Whether the last run ended because of its {@link #timeLimit time limit}. */
    public boolean stoppedByTime() {
        return stoppedByTime;
    }

    /** Candidates the last run visited whose scores came from the log rather than the evaluator. */
    public int resumedCandidates() {
        return fromLog;
    }

    /** Every candidate the last run evaluated (or took from the log), in order. */
    public List<Evaluation> evaluations() {
        return List.copyOf(visited.values());
    }

    /** Runs the search (again from the start, with the log if one is set) and returns the best candidate. */
    public SearchResult run() {
        known.clear();
        loaded.clear();
        latencyCache.clear();
        latencyLogged.clear();
        visited.clear();
        populations.clear();
        parentLists.clear();
        fromLog = 0;
        generation = 0;
        stoppedByTime = false;
        drawn = 0;
        feasibleDrawn = 0;
        rng = new Random(opt.seed());
        checkMacsWindow();
        log = logFile == null ? null : new SearchLog(logFile);
        try {
            if (log != null) {
                load(log.existing());
                log.header(header());
            }
            checkLatencyWindow();
            SearchResult r = evolve();
            if (log != null && log.goesFurther()) {
                progress.accept("the log " + logFile + " goes further than this run (a larger budget or more"
                        + " generations); it was left unchanged");
            }
            return r;
        } finally {
            if (log != null) {
                log.close();
                log = null;
            }
        }
    }

    // ------------------------------------------------------------------ constraints

    private double gmacsOf(Candidate c) {
        return macsCache.computeIfAbsent(c,
                k -> MacCounter.count(cfg, height, width, batch, space.toSparsity(k)).totalGMacs());
    }

    /** Latency from the model, cached; measurements of a non-deterministic model are logged once per run. */
    private double latencyOf(Candidate c) {
        Double v = latencyCache.get(c);
        if (v == null) {
            v = latencyModel.latencyMs(space.toSparsity(c));
            if (!Double.isFinite(v)) {
                throw new SparseVitException("search: the latency model gave " + v + " ms for "
                        + space.toSparsity(c).toCompact());
            }
            latencyCache.put(c, v);
        }
        if (!latencyModel.deterministic() && latencyLogged.add(c) && log != null) {
            ObjectNode n = OM.createObjectNode();
            n.put("type", "latency");
            genes(n, c);
            n.put("latency_ms", v);
            log.write(n);
        }
        return v;
    }

    private boolean feasible(Candidate c) {
        if (gmacs != null && !gmacs.contains(gmacsOf(c))) {
            return false;
        }
        return latency == null || latency.contains(latencyOf(c));
    }

    /** Fails at once when the MACs window misses the whole range from the sparsest to the dense model. */
    private void checkMacsWindow() {
        if (gmacs == null) {
            return;
        }
        double dense = gmacsOf(space.dense());
        double sparsest = gmacsOf(space.sparsest());
        if (gmacs.max() < sparsest || gmacs.min() > dense) {
            throw new SparseVitException(String.format(Locale.ROOT,
                    "search: no configuration within %s GMACs; the dense model needs %.1f GMACs and the sparsest"
                            + " %.1f GMACs", gmacs, dense, sparsest));
        }
    }

    /** How far outside the dense-to-sparsest latency range a window may lie and still be tried (noise, tables). */
    static final double LATENCY_SLACK = 0.1;

    /**
     * Fails at once when the latency window cannot hold a configuration, instead of after {@code maxTries}
     * draws: with a table, when it misses the table's exact range of predictions; with measurements, when it lies
     * more than {@link #LATENCY_SLACK} beyond the range from the sparsest to the dense model.
     */
    private void checkLatencyWindow() {
        if (latency == null) {
            return;
        }
        if (latencyModel instanceof LatencyTable t) {
            double[] range = t.predictionRange();
            if (latency.max() < range[0] || latency.min() > range[1]) {
                throw new SparseVitException(String.format(Locale.ROOT, "search: no configuration within %s ms; the"
                        + " table predicts %.3f to %.3f ms (%s)", latency, range[0], range[1], t.describe()));
            }
            return;
        }
        double dense = latencyOf(space.dense());
        double sparsest = latencyOf(space.sparsest());
        double lo = Math.min(dense, sparsest);
        double hi = Math.max(dense, sparsest);
        if (latency.max() < lo * (1 - LATENCY_SLACK) || latency.min() > hi * (1 + LATENCY_SLACK)) {
            throw new SparseVitException(String.format(Locale.ROOT,
                    "search: no configuration within %s ms; the dense model takes %.3f ms and the sparsest %.3f ms"
                            + " (%s)", latency, dense, sparsest, latencyModel.describe()));
        }
    }

    private SparseVitException unsatisfiable() {
        StringBuilder window = new StringBuilder();
        if (gmacs != null) {
            window.append(gmacs).append(" GMACs");
        }
        if (latency != null) {
            window.append(window.isEmpty() ? "" : " and ").append(latency).append(" ms");
        }
        String dense = String.format(Locale.ROOT, "%.1f GMACs", gmacsOf(space.dense()));
        String sparsest = String.format(Locale.ROOT, "%.1f GMACs", gmacsOf(space.sparsest()));
        if (latency != null) {
            dense += String.format(Locale.ROOT, " (%.3f ms)", latencyOf(space.dense()));
            sparsest += String.format(Locale.ROOT, " (%.3f ms)", latencyOf(space.sparsest()));
        }
        return new SparseVitException(String.format(Locale.ROOT,
                "search: no configuration within %s after %d samples; the dense model needs %s and the sparsest %s",
                window, opt.maxTries(), dense, sparsest));
    }

    /**
     * Draws until a feasible candidate turns up (rejection sampling): with {@code noveltyTries} 0 the first one,
     * otherwise the first one not yet evaluated and not in {@code taken}. After {@code noveltyTries} feasible but
     * known draws, or {@code maxTries} draws in all, it settles for the first feasible known one, else for
     * {@code fallback}; with neither it fails.
     */
    private Candidate draw(Supplier<Candidate> gen, Set<Candidate> taken, Candidate fallback) {
        Candidate knownFeasible = null;
        int feasibleDraws = 0;
        for (int t = 0; t < opt.maxTries(); t++) {
            Candidate c = gen.get();
            drawn++;
            if (!feasible(c)) {
                continue;
            }
            feasibleDrawn++;
            feasibleDraws++;
            if (opt.noveltyTries() == 0 || !visited.containsKey(c) && taken.add(c)) {
                return c;
            }
            if (knownFeasible == null) {
                knownFeasible = c;
            }
            if (feasibleDraws >= opt.noveltyTries()) {
                break;
            }
        }
        if (knownFeasible != null) {
            return knownFeasible;
        }
        if (fallback != null) {
            return fallback;
        }
        throw unsatisfiable();
    }

    // ------------------------------------------------------------------ evolution

    private SearchResult evolve() {
        long start = System.nanoTime();
        Set<Candidate> taken = new LinkedHashSet<>();
        List<Candidate> pop = new ArrayList<>();
        for (int i = 0; i < opt.population(); i++) {
            pop.add(draw(() -> space.random(rng), taken, null));
        }
        int stale = 0;
        while (true) {
            int before = visited.size();
            boolean spent = evaluate(pop);
            stale = visited.size() == before && generation > 0 ? stale + 1 : 0;
            List<Candidate> ranked = rank(pop);
            report();
            if (spent || generation >= opt.generations() || stale >= opt.staleGenerations()) {
                break;
            }
            if (timeLimit != null && System.nanoTime() - start >= timeLimit.toNanos()) {
                stoppedByTime = true;
                progress.accept(String.format(Locale.ROOT, "time limit (%.1f s) reached after generation %d: the best"
                        + " so far is the result%s", timeLimit.toMillis() / 1e3, generation,
                        log != null ? "; run again with the same log to go on" : ""));
                break;
            }
            List<Candidate> parents = ranked.subList(0, Math.min(opt.parents(), ranked.size()));
            if (history) {
                populations.add(List.copyOf(pop));
                parentLists.add(List.copyOf(parents));
            }
            int np = parents.size();
            List<Candidate> next = opt.elitist() ? new ArrayList<>(parents) : new ArrayList<>();
            taken.clear();
            drawn = 0;
            feasibleDrawn = 0;
            for (int i = 0; i < opt.mutations(); i++) {
                next.add(draw(() -> space.mutate(parents.get(rng.nextInt(np)), opt.mutationProb(), rng), taken,
                        parents.get(0)));
            }
            for (int i = 0; i < opt.crossovers(); i++) {
                next.add(draw(() -> {
                    int a = rng.nextInt(np);
                    int b = np > 1 ? (a + 1 + rng.nextInt(np - 1)) % np : a;
                    return space.crossover(parents.get(a), parents.get(b), rng);
                }, taken, parents.get(0)));
            }
            pop = next;
            generation++;
        }
        Evaluation best = best();
        return new SearchResult(space.toSparsity(best.candidate()), best.score(), best.gmacs(), best.latencyMs(),
                visited.size(), generation);
    }

    /**
     * Evaluated members of the population, best first (ties in population order, as Python's stable sort):
     * every place, repeats included, as in the official search; distinct ones only when elitist (the parents
     * are in the population again).
     */
    private List<Candidate> rank(List<Candidate> pop) {
        List<Candidate> ranked = new ArrayList<>(opt.elitist() ? new LinkedHashSet<>(pop) : pop);
        ranked.removeIf(c -> !visited.containsKey(c));
        ranked.sort(Comparator.comparingDouble((Candidate c) -> visited.get(c).score()).reversed());
        return Collections.unmodifiableList(ranked);
    }

    private Evaluation best() {
        Evaluation b = null;
        for (Evaluation e : visited.values()) {
            if (b == null || e.score() >= b.score()) {
                b = e;
            }
        }
        return b;
    }

    private void report() {
        Evaluation best = best();
        SparsityConfig sp = space.toSparsity(best.candidate());
        progress.accept(String.format(Locale.ROOT,
                "generation %d: best score %.6f (%s, %.2f GMACs%s), feasible %d of %d sampled, candidates %d",
                generation, best.score(), sp.toCompact(), best.gmacs(),
                Double.isNaN(best.latencyMs()) ? "" : String.format(Locale.ROOT, ", %.3f ms", best.latencyMs()),
                feasibleDrawn, drawn, visited.size()));
        if (log != null) {
            ObjectNode n = OM.createObjectNode();
            n.put("type", "generation");
            n.put("generation", generation);
            n.put("best", best.score());
            n.put("best_sparsity", sp.toCompact());
            n.put("feasible", feasibleDrawn);
            n.put("sampled", drawn);
            n.put("candidates", visited.size());
            log.write(n);
        }
    }

    /**
     * Visits the population's candidates that this run has not visited yet, in order, within the budget:
     * scores from the log where it has them, the rest from the evaluator in batches. True when the budget
     * is spent.
     */
    private boolean evaluate(List<Candidate> pop) {
        List<Candidate> fresh = new ArrayList<>();
        for (Candidate c : new LinkedHashSet<>(pop)) {
            if (!visited.containsKey(c)) {
                fresh.add(c);
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
        List<Candidate> todo = new ArrayList<>();
        for (Candidate c : fresh) {
            if (!known.containsKey(c)) {
                todo.add(c);
            }
        }
        int written = 0;
        for (int from = 0; from < todo.size() || written < fresh.size(); from += opt.evaluationBatch()) {
            if (from < todo.size()) {
                List<Candidate> chunk = todo.subList(from, Math.min(todo.size(), from + opt.evaluationBatch()));
                score(chunk);
            }
            // log, in population order, every candidate whose score is now known
            while (written < fresh.size() && known.containsKey(fresh.get(written))) {
                Candidate c = fresh.get(written);
                Evaluation e = known.get(c);
                // measured (or looked up) here, just before its candidate line, so a resumed run, whose scores
                // come from the log, writes its measurement lines where the interrupted run did
                double lat = latencyModel == null ? Double.NaN : latencyOf(c);
                Evaluation v = new Evaluation(c, e.score(), gmacsOf(c), lat);
                visited.put(c, v);
                if (loaded.contains(c)) {
                    fromLog++;
                }
                logCandidate(v);
                written++;
                counter.accept(visited.size());
            }
        }
        return spent;
    }

    private void score(List<Candidate> chunk) {
        List<SparsityConfig> cfgs = new ArrayList<>();
        for (Candidate c : chunk) {
            cfgs.add(space.toSparsity(c));
        }
        double[] scores = evaluator.score(Collections.unmodifiableList(cfgs));
        if (scores == null || scores.length != chunk.size()) {
            throw new SparseVitException("search: the evaluator returned " + (scores == null ? "null" : scores.length
                    + " scores") + " for " + chunk.size() + " candidates");
        }
        for (int i = 0; i < scores.length; i++) {
            if (!Double.isFinite(scores[i])) {
                throw new SparseVitException("search: the evaluator scored " + cfgs.get(i).toCompact() + " "
                        + scores[i] + "; scores must be finite numbers");
            }
            known.put(chunk.get(i), new Evaluation(chunk.get(i), scores[i], Double.NaN, Double.NaN));
        }
    }

    // ------------------------------------------------------------------ log

    private ObjectNode header() {
        ObjectNode h = OM.createObjectNode();
        h.put("type", "search");
        h.put("version", 1);
        h.put("model", cfg.toString());
        h.put("size", height + "x" + width);
        h.put("batch", batch);
        h.put("space", space.toString());
        h.put("options", opt.trajectoryKey());
        h.put("gmacs", gmacs == null ? "none" : gmacs.toString());
        h.put("latency_ms", latency == null ? "none" : latency.toString());
        h.put("latency_model", latencyModel == null ? "none" : latencyModel.describe());
        h.put("evaluator", evaluator.describe());
        return h;
    }

    private void logCandidate(Evaluation v) {
        if (log == null) {
            return;
        }
        ObjectNode n = OM.createObjectNode();
        n.put("type", "candidate");
        n.put("generation", generation);
        genes(n, v.candidate());
        n.put("sparsity", space.toSparsity(v.candidate()).toCompact());
        n.put("score", v.score());
        n.put("gmacs", v.gmacs());
        if (!Double.isNaN(v.latencyMs())) {
            n.put("latency_ms", v.latencyMs());
        }
        log.write(n);
    }

    private static void genes(ObjectNode n, Candidate c) {
        ArrayNode a = n.putArray("genes");
        for (int i = 0; i < c.size(); i++) {
            a.add(c.gene(i));
        }
    }

    /**
     * Evaluations and measurements of an earlier run (the header is checked by {@link SearchLog#header}): every
     * candidate must be a point of this space with a finite score, every measurement a finite latency.
     */
    private void load(List<JsonNode> lines) {
        for (JsonNode n : lines) {
            String type = n.path("type").asText();
            if (!type.equals("candidate") && !type.equals("latency")) {
                continue;
            }
            JsonNode g = n.get("genes");
            if (g == null || !g.isArray()) {
                throw new SparseVitException("search log " + logFile + ": a " + type + " line without genes: " + n);
            }
            int[] genes = new int[g.size()];
            for (int i = 0; i < genes.length; i++) {
                if (!g.get(i).isInt()) {
                    throw new SparseVitException("search log " + logFile + ": a " + type + " line with a gene that is"
                            + " not a level index: " + n);
                }
                genes[i] = g.get(i).asInt();
            }
            Candidate c = Candidate.of(genes);
            try {
                space.check(c);
            } catch (SparseVitException e) {
                throw new SparseVitException("search log " + logFile + ": a " + type + " line outside this search's"
                        + " space (" + e.getMessage() + "): " + n + "; give a new log file", e);
            }
            if (type.equals("candidate")) {
                if (!n.path("score").isNumber() || !Double.isFinite(n.get("score").asDouble())) {
                    throw new SparseVitException("search log " + logFile + ": a candidate line without a finite"
                            + " score: " + n);
                }
                known.put(c, new Evaluation(c, n.get("score").asDouble(), Double.NaN, Double.NaN));
                loaded.add(c);
            } else {
                double ms = n.path("latency_ms").asDouble(Double.NaN);
                if (!n.path("latency_ms").isNumber() || !Double.isFinite(ms)) {
                    throw new SparseVitException("search log " + logFile + ": a latency line without a finite"
                            + " latency_ms: " + n);
                }
                latencyCache.put(c, ms);
            }
        }
    }

    /**
     * Writes a result in the pruning JSON form, {@code {"stages": [[...], ...]}}, plus its gmacs,
     * latency_ms (when known), score, candidates, generations and compact form. Readable by
     * {@link SparsityConfig#parse(String)} (extra fields are ignored).
     */
    public static void writeResult(Path file, SearchResult r) {
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
            OM.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), n);
        } catch (IOException e) {
            throw new SparseVitException(file + ": cannot write the search result (" + e.getMessage() + ")", e);
        }
    }
}

package org.sparsevit.search;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Precision;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

/**
 * A latency lookup table for the search, measured once per (device, architecture, input size, batch,
 * precision) and stored as JSON.
 *
 * <p>Model: end-to-end latency = base + the sum over the block pairs of the pair's entry at its level,
 * where the base is the dense latency (patch embedding, merges, norms and every dense block) and a pair's
 * entry is the change in end-to-end latency when only that pair is pruned at that level (0 at level 0).
 * The unit is the block pair because that is what the search space varies: both blocks of a pair always
 * share a level, so the entry of a pair covers both of its blocks.
 *
 * <p>Measurement ({@link #build}): per stage, the dense model is measured, then for each level > 0 the
 * suffixes of the stage's pairs at that level (the last pair alone, the last two, ..., all of them; the other
 * stages dense). A pair cannot be pruned alone when a later pair of its stage is not (levels never decrease
 * within a stage: a later block cannot keep windows an earlier one dropped), so a pair's entry is the
 * difference between the suffix starting at it and the suffix after it (for the last pair: the suffix minus
 * dense). Measuring end to end (rather than timing a block in isolation) keeps everything a pruned pair
 * costs or saves in the entry: the gathers and scatters and the effect on neighbouring kernels; the stage's
 * window importance and sort, computed once at its first pruned block, land in the last pair's entry, which
 * every configuration that prunes the stage includes (its last pair is then pruned too). Re-measuring the
 * dense model for every stage keeps slow drift of the device (clocks, temperature) out of the entries; the
 * base is the median of those dense measurements, and with several rounds every entry is the median of its
 * rounds. What the additive model misses: the pairs of a stage at different levels interact a little (the
 * entries were measured with the later pairs at the same level). {@link #validate} measures how far
 * predictions are from direct measurements over random configurations.
 *
 * <p>Identity: besides the device, size, batch and precision, a table records the model it was measured for (its
 * architecture and task, from the model's {@link SwinConfig}, and the {@link SwinWeights#fingerprint fingerprint}
 * of its weights) and how it was timed ({@link LatencyMeter#mode()}: graph replay or eager passes; a table is
 * timed in one mode throughout). {@link #checkModel} compares a model with it. Tables written before these
 * fields existed lack them; they are still read, and {@link #checkModel} then checks what they have (the
 * stage depths, the precision).
 *
 * <p>Reading ({@link #read}) checks what a table must be to predict anything: the format, a positive finite
 * dense latency, exactly one entry per block pair of its stages (found by its stage and blocks, in any
 * order), every entry finite and 0 at level 0. A measured table can still predict 0 ms or less for some
 * configurations when its timings were mostly noise (a tiny model on a busy CPU; one pair's entry can then
 * exceed the dense latency itself), so that is not refused: {@link #checkPredictions} finds the lowest
 * prediction exactly, and {@code latency --table} and {@code search --table} warn about it but go on (the
 * measurements are not thrown away, and a search's window leaves such configurations out); {@link #validate}
 * says how good the predictions are.
 */
public final class LatencyTable implements LatencyModel {
    /** The "format" field of the JSON form. */
    public static final String FORMAT = "sparsevit-latency-table";

    private final String device;
    private final String arch;
    private final int height;
    private final int width;
    private final int batch;
    private final String precision;
    private final double denseMs;
    /** [gene][level] change in ms relative to dense. */
    private final double[][] delta;
    private final SearchSpace space;
    /** {@link #architectureOf} of the model measured; null in tables written before it was recorded. */
    private final String architecture;
    /** {@link #taskOf} of the model measured; null when not recorded. */
    private final String task;
    /** The weights' fingerprint; null when not recorded. */
    private final String weights;
    /** {@link LatencyMeter#GRAPH_REPLAY} or {@link LatencyMeter#EAGER_PASSES}; null when not recorded. */
    private final String mode;
    /** The file this table was read from, for messages; null for a table built or parsed in memory. */
    private final Path source;

    /**
     * A table from its entries.
     *
     * @param denseMs the base: the dense model's latency
     * @param delta   [pair gene][level index] latency change when only that pair is pruned at that level
     */
    public LatencyTable(String device, String arch, int height, int width, int batch, String precision,
                        double denseMs, SearchSpace space, double[][] delta) {
        this(device, arch, null, null, null, null, null, height, width, batch, precision, denseMs, space, delta);
    }

    private LatencyTable(String device, String arch, String architecture, String task, String weights, String mode,
                         Path source, int height, int width, int batch, String precision, double denseMs,
                         SearchSpace space, double[][] delta) {
        if (delta.length != space.genes()) {
            throw new SparseVitException("latency table: " + delta.length + " entries for " + space.genes()
                    + " block pairs");
        }
        this.delta = new double[delta.length][];
        for (int g = 0; g < delta.length; g++) {
            if (delta[g].length != space.levelCount()) {
                throw new SparseVitException("latency table: pair " + g + " has " + delta[g].length + " entries for "
                        + space.levelCount() + " levels");
            }
            this.delta[g] = delta[g].clone();
        }
        this.device = device;
        this.arch = arch;
        this.height = height;
        this.width = width;
        this.batch = batch;
        this.precision = precision;
        this.denseMs = denseMs;
        this.space = space;
        this.architecture = architecture;
        this.task = task;
        this.weights = weights;
        this.mode = mode;
        this.source = source;
        checkEntries();
    }

    /**
     * Throws SparseVitException unless the entries are numbers a table can have: dense_ms positive and finite,
     * every entry finite and 0 at level 0 (the base is the level-0 configuration).
     */
    private void checkEntries() {
        if (!(denseMs > 0) || !Double.isFinite(denseMs)) {
            throw new SparseVitException("latency table: dense_ms is " + denseMs
                    + "; the dense latency must be a positive, finite number of ms");
        }
        for (int g = 0; g < delta.length; g++) {
            for (int l = 0; l < delta[g].length; l++) {
                double v = delta[g][l];
                if (!Double.isFinite(v) || (l == 0 && v != 0)) {
                    throw new SparseVitException("latency table: " + entryName(g) + ": delta_ms[" + l + "] is " + v
                            + (l == 0 ? "; level 0 is the base itself, its change must be 0"
                            : "; entries must be finite numbers of ms"));
                }
            }
        }
    }

    /**
     * Throws SparseVitException unless every configuration of the space is predicted above 0 ms. The lowest
     * prediction is found exactly: the entries add up, and the levels of a stage's pairs never decrease, so
     * per stage the cheapest non-decreasing choice of levels is a small dynamic programme. A measured table
     * fails this when its timings were mostly noise; {@code latency --table} then warns (see the class comment).
     */
    public void checkPredictions() {
        int[] lowest = lowestConfiguration();
        double t = denseMs;
        int worst = 0;
        for (int g = 0; g < lowest.length; g++) {
            t += delta[g][lowest[g]];
            if (delta[g][lowest[g]] < delta[worst][lowest[worst]]) {
                worst = g;
            }
        }
        if (!(t > 0)) {
            throw new SparseVitException(String.format(Locale.ROOT, "latency table: predicts %.3f ms for %s (dense_ms"
                            + " %.3f plus its entries; the largest saving is %s at %s: %+.3f ms); every prediction must"
                            + " be positive, so these entries cannot be latency changes of this model",
                    t, space.toSparsity(Candidate.of(lowest)).toCompact(), denseMs, entryName(worst),
                    space.levels()[lowest[worst]], delta[worst][lowest[worst]]));
        }
    }

    /**
     * The lowest and the highest prediction over every configuration of the space, exactly (a noisy table's
     * extremes need not be the sparsest and the dense configuration).
     */
    public double[] predictionRange() {
        return new double[]{predict(extremeConfiguration(1)), predict(extremeConfiguration(-1))};
    }

    private double predict(int[] levelIndices) {
        double t = denseMs;
        for (int g = 0; g < levelIndices.length; g++) {
            t += delta[g][levelIndices[g]];
        }
        return t;
    }

    /** The level indices of the configuration of the space with the lowest prediction. */
    private int[] lowestConfiguration() {
        return extremeConfiguration(1);
    }

    /** The configuration with the lowest prediction ({@code sign} 1) or the highest ({@code sign} -1). */
    private int[] extremeConfiguration(double sign) {
        int levels = space.levelCount();
        int[] best = new int[delta.length];
        int g0 = 0;
        for (int depth : space.depths()) {
            int pairs = depth / 2;
            // cost[i][l]: lowest sum of the (signed) entries of pairs i.. of the stage when pair i is at level l or
            // above
            double[][] cost = new double[pairs + 1][levels];
            int[][] pick = new int[pairs][levels];
            for (int i = pairs - 1; i >= 0; i--) {
                for (int l = levels - 1; l >= 0; l--) {
                    double here = sign * delta[g0 + i][l] + cost[i + 1][l];
                    if (l == levels - 1 || here <= cost[i][l + 1]) {
                        cost[i][l] = here;
                        pick[i][l] = l;
                    } else {
                        cost[i][l] = cost[i][l + 1];
                        pick[i][l] = pick[i][l + 1];
                    }
                }
            }
            int from = 0;
            for (int i = 0; i < pairs; i++) {
                best[g0 + i] = pick[i][from];
                from = best[g0 + i];
            }
            g0 += pairs;
        }
        return best;
    }

    /** E.g. "entry stage 2, blocks 4-5". */
    private String entryName(int gene) {
        int[] sb = space.geneBlock(gene);
        return "entry stage " + sb[0] + ", blocks " + sb[1] + "-" + (sb[1] + 1);
    }

    /**
     * Measures a table with {@code meter} (its model, size and batch) over {@code space}: one dense
     * measurement per stage and {@code levels - 1} pruned ones per pair. {@code arch} (the architecture's
     * name) is recorded as given; {@code precision} must be the precision of the meter's backend. The model's
     * architecture, task and weights fingerprint and the measurement mode are recorded from the meter.
     * Progress lines go to {@code progress} (may be null).
     */
    public static LatencyTable build(LatencyMeter meter, SearchSpace space, String arch, String precision,
                                     Consumer<String> progress) {
        return build(meter, space, arch, precision, 1, progress);
    }

    /**
     * {@link #build(LatencyMeter, SearchSpace, String, String, Consumer)} repeated {@code rounds} times over
     * the whole table; every entry and the base are the medians over the rounds, which keeps bursts of
     * noise (other processes, clock changes) in one round out of the table.
     *
     * <p>Every entry is timed in one mode: should a graph capture fail part way (the meter then measures with
     * eager passes for good, see {@link LatencyMeter.ModeChangeException}), the whole table is measured again
     * with eager passes, and a progress line says so.
     */
    public static LatencyTable build(LatencyMeter meter, SearchSpace space, String arch, String precision, int rounds,
                                     Consumer<String> progress) {
        if (rounds <= 0) {
            throw new IllegalArgumentException("latency table: rounds must be positive, got " + rounds);
        }
        SwinModel model = meter.model();
        Precision p = Precision.parse(precision);
        if (p != model.backend().precision()) {
            throw new SparseVitException("latency table: precision " + precision + " given, but the model runs at "
                    + model.backend().precision().name().toLowerCase(Locale.ROOT));
        }
        if (!Arrays.equals(space.depths(), model.config().depths())) {
            throw new SparseVitException("latency table: the search space has depths " + Arrays.toString(space.depths())
                    + ", the model " + Arrays.toString(model.config().depths()));
        }
        try {
            return buildOnce(meter, space, arch, precision, rounds, progress);
        } catch (LatencyMeter.ModeChangeException e) {
            if (progress != null) {
                progress.accept(e.getMessage() + ": measuring the whole table again with eager passes");
            }
            return buildOnce(meter, space, arch, precision, rounds, progress);
        }
    }

    private static LatencyTable buildOnce(LatencyMeter meter, SearchSpace space, String arch, String precision,
                                          int rounds, Consumer<String> progress) {
        double[] levels = space.levels();
        // the pairs of each stage, in order
        List<List<Integer>> stages = new ArrayList<>();
        for (int g = 0; g < space.genes(); g++) {
            int s = space.geneBlock(g)[0];
            while (stages.size() <= s) {
                stages.add(new ArrayList<>());
            }
            stages.get(s).add(g);
        }
        stages.removeIf(List::isEmpty);
        double[][][] d = new double[space.genes()][levels.length][rounds];
        double[] dense = new double[stages.size() * rounds];
        int total = (stages.size() + space.genes() * (levels.length - 1)) * rounds;
        int done = 0;
        SparsityConfig denseConfig = space.toSparsity(space.dense());
        // the mode of the first measurement; every other one must match it (the meter throws where a capture
        // fails after graph replays; this also catches a backend that stops capturing without an error)
        Boolean graphs = null;
        for (int round = 0; round < rounds; round++) {
            for (int si = 0; si < stages.size(); si++) {
                List<Integer> pairs = stages.get(si);
                double base = meter.measure(denseConfig).trimmedMeanMs();
                graphs = sameMode(meter, graphs, denseConfig);
                dense[round * stages.size() + si] = base;
                done++;
                for (int l = 1; l < levels.length; l++) {
                    // suffixes of the stage at level l, the last pair alone first: S(g) = pairs g.. of the stage
                    // at l (a valid configuration: levels never decrease within a stage); entry(g) = S(g) - S(g + 1)
                    double next = base;
                    for (int i = pairs.size() - 1; i >= 0; i--) {
                        int g = pairs.get(i);
                        int[] genes = new int[space.genes()];
                        for (int j = i; j < pairs.size(); j++) {
                            genes[pairs.get(j)] = l;
                        }
                        SparsityConfig sp = space.toSparsity(Candidate.of(genes));
                        double t = meter.measure(sp).trimmedMeanMs();
                        graphs = sameMode(meter, graphs, sp);
                        d[g][l][round] = t - next;
                        next = t;
                        done++;
                        if (progress != null) {
                            int[] sb = space.geneBlock(g);
                            progress.accept(String.format(Locale.ROOT,
                                    "table %d/%d: stage %d, blocks %d-%d at %s: %+.3f ms (dense %.3f ms)", done, total,
                                    sb[0], sb[1], sb[1] + 1, levels[l], d[g][l][round], base));
                        }
                    }
                }
            }
        }
        double[][] entries = new double[space.genes()][levels.length];
        for (int g = 0; g < entries.length; g++) {
            for (int l = 1; l < levels.length; l++) {
                entries[g][l] = median(d[g][l]);
            }
        }
        SwinModel model = meter.model();
        return new LatencyTable(model.backend().device(), arch, architectureOf(model.config()), taskOf(model.config()),
                model.weightsFingerprint(), Boolean.TRUE.equals(graphs) ? LatencyMeter.GRAPH_REPLAY
                : LatencyMeter.EAGER_PASSES, null, meter.height(), meter.width(), meter.batch(), precision,
                median(dense), space, entries);
    }

    /** The mode of the meter's last measurement, checked against the table's so far ({@code null}: none yet). */
    private static Boolean sameMode(LatencyMeter meter, Boolean graphs, SparsityConfig sp) {
        if (graphs != null && graphs != meter.graphs()) {
            throw new SparseVitException("latency table: " + sp.toCompact() + " was measured as " + meter.mode()
                    + ", the configurations before it as " + (graphs ? LatencyMeter.GRAPH_REPLAY
                    : LatencyMeter.EAGER_PASSES) + "; a table must be timed in one mode");
        }
        return meter.graphs();
    }

    /**
     * The architecture of a model as a table records it: everything of its {@link SwinConfig} that shapes the
     * computation except the task (checkpoint layout and merge order only name and order the weights).
     */
    public static String architectureOf(SwinConfig c) {
        return String.format(Locale.ROOT, "C=%d, depths=%s, heads=%s, window=%d, patch=%d, mlp=%d, channels=%d",
                c.embedDim(), Arrays.toString(c.depths()), Arrays.toString(c.heads()), c.window(), c.patchSize(),
                c.mlpRatio(), c.inChans());
    }

    /** The task of a model as a table records it: "backbone" or "classification, N classes". */
    public static String taskOf(SwinConfig c) {
        return c.task() == Task.BACKBONE ? "backbone" : "classification, " + c.numClasses() + " classes";
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /** Predicted latency: base + the entries of the configuration's pairs. */
    @Override
    public double latencyMs(SparsityConfig config) {
        return latencyMs(space.candidate(config));
    }

    /** Predicted latency of a candidate of the table's space. */
    public double latencyMs(Candidate c) {
        space.check(c);
        double t = denseMs;
        for (int i = 0; i < c.size(); i++) {
            t += delta[i][c.gene(i)];
        }
        return t;
    }

    /** A table predicts the same value every time. */
    @Override
    public boolean deterministic() {
        return true;
    }

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "table for %s on %s at %dx%d, batch %d, %s (base %s ms, entries %s)", arch,
                device, height, width, batch, precision, denseMs, org.sparsevit.tensor.Fingerprint.of(delta));
    }


    /**
     * Throws SparseVitException unless the table was measured at this size and batch over this space,
     * i.e. it can predict the configurations of a search with these settings.
     */
    public void checkFor(int height, int width, int batch, SearchSpace space) {
        if (height != this.height || width != this.width || batch != this.batch) {
            throw new SparseVitException(String.format(Locale.ROOT, "latency table: measured at %dx%d, batch %d;"
                            + " the search runs at %dx%d, batch %d (build a table for that size and batch)",
                    this.height, this.width, this.batch, height, width, batch));
        }
        if (!space.sameAs(this.space)) {
            throw new SparseVitException("latency table: measured over " + this.space + "; the search space is "
                    + space);
        }
    }

    /**
     * Throws SparseVitException unless the table was measured for this model at its precision: same
     * architecture, task, weights and precision (the device, size and batch are checked elsewhere:
     * {@link #checkFor}, and a search notes another device). The message names the table's file and every
     * mismatch. Tables written before the model was recorded are checked on what they have: the depths of
     * their stages and the precision.
     */
    public void checkModel(SwinModel model) {
        checkModel(model.config(), model.weightsFingerprint(), model.backend().precision());
    }

    /**
     * {@link #checkModel(SwinModel)} from the model's parts. {@code weightsFingerprint} may be null to accept a
     * table measured with any weights of the architecture (latency does not depend on weight values, so a
     * table measured with seeded random weights predicts the trained model as well).
     */
    public void checkModel(SwinConfig cfg, String weightsFingerprint, Precision precision) {
        List<String> wrong = new ArrayList<>();
        if (architecture != null) {
            if (!architecture.equals(architectureOf(cfg))) {
                wrong.add("architecture: measured for " + architecture + ", the model is " + architectureOf(cfg));
            }
        } else if (!Arrays.equals(space.depths(), cfg.depths())) {
            wrong.add("architecture: measured for depths " + Arrays.toString(space.depths()) + ", the model has "
                    + Arrays.toString(cfg.depths()));
        }
        if (task != null && !task.equals(taskOf(cfg))) {
            wrong.add("task: measured for " + task + ", the model is " + taskOf(cfg));
        }
        if (weights != null && weightsFingerprint != null && !weights.equals(weightsFingerprint)) {
            wrong.add("weights: measured with weights " + weights + ", the model's are " + weightsFingerprint);
        }
        String p = precision.name().toLowerCase(Locale.ROOT);
        if (!this.precision.equalsIgnoreCase(p)) {
            wrong.add("precision: measured at " + this.precision + ", the model runs at " + p);
        }
        if (!wrong.isEmpty()) {
            throw new SparseVitException((source == null ? "latency table" : source.toString())
                    + " was not measured for this model: " + String.join("; ", wrong));
        }
    }

    /** The base: the dense model's latency in ms. */
    public double denseMs() {
        return denseMs;
    }

    /** Entries: [pair gene][level index], milliseconds relative to dense (0 at level 0). */
    public double[][] deltas() {
        double[][] c = new double[delta.length][];
        for (int i = 0; i < delta.length; i++) {
            c[i] = delta[i].clone();
        }
        return c;
    }

    public SearchSpace space() {
        return space;
    }

    public String device() {
        return device;
    }

    public String arch() {
        return arch;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int batch() {
        return batch;
    }

    public String precision() {
        return precision;
    }

    /** {@link #architectureOf} of the model measured; empty for tables written before it was recorded. */
    public String architecture() {
        return architecture == null ? "" : architecture;
    }

    /** {@link #taskOf} of the model measured; empty for tables written before it was recorded. */
    public String task() {
        return task == null ? "" : task;
    }

    /** The fingerprint of the weights measured; empty for tables written before it was recorded. */
    public String weightsFingerprint() {
        return weights == null ? "" : weights;
    }

    /**
     * How every entry was timed: {@link LatencyMeter#GRAPH_REPLAY} or {@link LatencyMeter#EAGER_PASSES}; empty
     * for tables written before it was recorded.
     */
    public String mode() {
        return mode == null ? "" : mode;
    }

    /**
     * Prediction error over {@code n} random configurations of the space (seeded): {mean relative error,
     * max relative error}, each |predicted - measured| / measured. Progress lines go to {@code progress}
     * (may be null).
     */
    public double[] validate(LatencyMeter meter, int n, long seed, Consumer<String> progress) {
        List<Check> checks = validateEach(meter, n, seed, progress);
        double sum = 0;
        double max = 0;
        for (Check c : checks) {
            sum += c.error();
            max = Math.max(max, c.error());
        }
        return new double[]{sum / n, max};
    }

    /**
     * One configuration of {@link #validateEach}: its compact form, the table's prediction, the direct
     * measurement (trimmed mean) and the relative error |predicted - measured| / measured.
     */
    public record Check(String sparsity, double predictedMs, double measuredMs, double error) {
    }

    /** {@link #validate}, configuration by configuration. */
    public List<Check> validateEach(LatencyMeter meter, int n, long seed, Consumer<String> progress) {
        if (n <= 0) {
            throw new IllegalArgumentException("latency table: validate needs at least one configuration");
        }
        Random r = new Random(seed);
        List<Check> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Candidate c = space.random(r);
            SparsityConfig sp = space.toSparsity(c);
            double measured = meter.measure(sp).trimmedMeanMs();
            double predicted = latencyMs(c);
            double e = Math.abs(predicted - measured) / measured;
            out.add(new Check(sp.toCompact(), predicted, measured, e));
            if (progress != null) {
                progress.accept(String.format(Locale.ROOT,
                        "validate %d/%d: %s predicted %.3f ms, measured %.3f ms (%.1f%%)", i + 1, n, sp.toCompact(),
                        predicted, measured, 100 * e));
            }
        }
        return out;
    }

    /** The JSON form (see {@link #write}). */
    public ObjectNode toJsonNode() {
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.put("format", FORMAT);
        n.put("device", device);
        n.put("arch", arch);
        n.put("size", height + "x" + width);
        n.put("batch", batch);
        n.put("precision", precision);
        putIfKnown(n, "architecture", architecture);
        putIfKnown(n, "task", task);
        putIfKnown(n, "weights", weights);
        putIfKnown(n, "mode", mode);
        n.put("prediction", "latency = dense_ms + sum over block pairs of delta_ms[level]; delta measured end to end"
                + " with only that pair pruned");
        n.put("dense_ms", denseMs);
        ArrayNode lv = n.putArray("levels");
        for (double l : space.levels()) {
            lv.add(l);
        }
        ArrayNode depths = n.putArray("depths");
        for (int d : space.depths()) {
            depths.add(d);
        }
        ArrayNode entries = n.putArray("entries");
        for (int g = 0; g < delta.length; g++) {
            int[] sb = space.geneBlock(g);
            ObjectNode e = entries.addObject();
            e.put("stage", sb[0]);
            e.putArray("blocks").add(sb[1]).add(sb[1] + 1);
            ArrayNode ms = e.putArray("delta_ms");
            for (double v : delta[g]) {
                ms.add(v);
            }
        }
        return n;
    }

    private static void putIfKnown(ObjectNode n, String field, String value) {
        if (value != null) {
            n.put(field, value);
        }
    }

    /**
     * Writes the table as JSON: format, device, arch, size ("HxW"), batch, precision, architecture, task,
     * weights (fingerprint), mode, dense_ms, levels, depths and one entry per block pair (stage, blocks,
     * delta_ms per level).
     */
    public void write(Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(file.toFile(), toJsonNode());
        } catch (IOException ex) {
            throw new SparseVitException(file + ": cannot write the latency table (" + ex.getMessage() + ")", ex);
        }
    }

    /**
     * Reads a table written by {@link #write}, checking it as the class comment says; a SparseVitException
     * names the file and the field or entry at fault.
     */
    public static LatencyTable read(Path file) {
        try {
            return fromJson(org.sparsevit.io.Json.read(file, "latency table"), file);
        } catch (SparseVitException e) {
            throw e.getMessage().startsWith(file + ": ") ? e : new SparseVitException(file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new SparseVitException(file + ": not a latency table (" + e.getMessage() + ")", e);
        }
    }

    /** The table of a JSON form made by {@link #toJsonNode}, checked as {@link #read} does. */
    public static LatencyTable fromJson(JsonNode n) {
        return fromJson(n, null);
    }

    private static LatencyTable fromJson(JsonNode n, Path source) {
        if (n == null || !n.isObject()) {
            throw new SparseVitException("not a latency table (expected a JSON object)");
        }
        if (!FORMAT.equals(n.path("format").asText(null))) {
            throw new SparseVitException("not a latency table (format is " + (n.has("format") ? n.get("format")
                    : "missing") + ", expected \"" + FORMAT + "\")");
        }
        if (!n.path("levels").isArray() || !n.path("depths").isArray() || !n.path("entries").isArray()
                || !n.path("dense_ms").isNumber() || !n.path("batch").isInt()) {
            throw new SparseVitException("not a latency table (expected levels, depths, entries, dense_ms, batch)");
        }
        double[] levels = doubles(n.get("levels"), "levels");
        int[] depths = ints(n.get("depths"), "depths");
        SearchSpace space = new SearchSpace(depths, levels);
        int batch = n.get("batch").asInt();
        String sizeText = n.path("size").asText();
        int[] size = sizeText.matches("\\s*\\d{1,9}\\s*x\\s*\\d{1,9}\\s*")
                ? Arrays.stream(sizeText.split("x")).mapToInt(v -> Integer.parseInt(v.strip())).toArray() : null;
        if (size == null || size[0] <= 0 || size[1] <= 0) {
            throw new SparseVitException("latency table: size '" + sizeText + "' is not HxW (positive integers)");
        }
        if (batch <= 0) {
            throw new SparseVitException("latency table: batch is " + batch + ", it must be positive");
        }
        // entries are found by their stage and blocks, not by position
        double[][] rows = new double[space.genes()][];
        int[] from = new int[space.genes()];
        int i = 0;
        for (JsonNode e : n.get("entries")) {
            String at = "latency table: entries[" + i + "]";
            if (!e.isObject() || !e.path("stage").isInt() || !e.path("blocks").isArray()) {
                throw new SparseVitException(at + ": expected an object with stage, blocks and delta_ms, got " + e);
            }
            int stage = e.get("stage").asInt();
            int[] blocks = ints(e.get("blocks"), "entries[" + i + "].blocks");
            if (stage < 0 || stage >= depths.length) {
                throw new SparseVitException(at + ": stage " + stage + " is not a stage of the table (0.."
                        + (depths.length - 1) + ")");
            }
            if (blocks.length != 2 || blocks[0] < 0 || blocks[0] % 2 != 0 || blocks[1] != blocks[0] + 1
                    || blocks[1] >= depths[stage]) {
                throw new SparseVitException(at + ": blocks " + Arrays.toString(blocks) + " are not a block pair of"
                        + " stage " + stage + " (" + pairs(depths[stage]) + ")");
            }
            int g = 0;
            while (space.geneBlock(g)[0] != stage || space.geneBlock(g)[1] != blocks[0]) {
                g++;
            }
            if (rows[g] != null) {
                throw new SparseVitException(at + ": stage " + stage + ", blocks " + Arrays.toString(blocks)
                        + " already has an entry (entries[" + from[g] + "])");
            }
            double[] row = doubles(e.path("delta_ms"), "entries[" + i + "].delta_ms");
            if (row.length != levels.length) {
                throw new SparseVitException(at + ": " + row.length + " delta_ms values for " + levels.length
                        + " levels");
            }
            rows[g] = row;
            from[g] = i;
            i++;
        }
        for (int g = 0; g < rows.length; g++) {
            if (rows[g] == null) {
                int[] sb = space.geneBlock(g);
                throw new SparseVitException("latency table: no entry for stage " + sb[0] + ", blocks [" + sb[1] + ", "
                        + (sb[1] + 1) + "] (" + i + " entries for " + rows.length + " block pairs)");
            }
        }
        LatencyTable t = new LatencyTable(n.path("device").asText(), n.path("arch").asText(), text(n, "architecture"),
                text(n, "task"), text(n, "weights"), text(n, "mode"), source, size[0], size[1], batch,
                n.path("precision").asText(), n.get("dense_ms").asDouble(), space, rows);
        return t;
    }

    /** A recorded text field; null where the table does not have it. */
    private static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw new SparseVitException("latency table: " + field + " must be a string, got " + v);
        }
        return v.asText();
    }

    private static double[] doubles(JsonNode a, String field) {
        if (!a.isArray()) {
            throw new SparseVitException("latency table: " + field + ": expected an array of numbers, got " + a);
        }
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) {
            if (!a.get(i).isNumber() || !Double.isFinite(a.get(i).asDouble())) {
                throw new SparseVitException("latency table: " + field + "[" + i + "]: " + a.get(i)
                        + " is not a finite number");
            }
            v[i] = a.get(i).asDouble();
        }
        return v;
    }

    /** The block pairs of a stage of {@code depth} blocks, in words: "its only pair is [0, 1]", "... [2, 3] and [4, 5]". */
    static String pairs(int depth) {
        int n = depth / 2;
        if (n == 0) {
            return "it has no block pair";
        }
        if (n == 1) {
            return "its only pair is [0, 1]";
        }
        StringBuilder sb = new StringBuilder("its pairs are ");
        for (int p = 0; p < Math.min(n, 3); p++) {
            if (p > 0) {
                sb.append(p == n - 1 ? " and " : ", ");
            }
            sb.append('[').append(2 * p).append(", ").append(2 * p + 1).append(']');
        }
        if (n > 3) {
            sb.append(", ... up to [").append(2 * n - 2).append(", ").append(2 * n - 1).append(']');
        }
        return sb.toString();
    }

    private static int[] ints(JsonNode a, String field) {
        if (!a.isArray()) {
            throw new SparseVitException("latency table: " + field + ": expected an array of integers, got " + a);
        }
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            if (!a.get(i).isInt()) {
                throw new SparseVitException("latency table: " + field + "[" + i + "]: " + a.get(i)
                        + " is not an integer");
            }
            v[i] = a.get(i).asInt();
        }
        return v;
    }
}

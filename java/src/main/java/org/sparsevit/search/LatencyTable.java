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

    /**
     * A table from its entries.
     *
     * @param denseMs the base: the dense model's latency
     * @param delta   [pair gene][level index] latency change when only that pair is pruned at that level
     */
    public LatencyTable(String device, String arch, int height, int width, int batch, String precision,
                        double denseMs, SearchSpace space, double[][] delta) {
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
    }

    /**
     * Measures a table with {@code meter} (its model, size and batch) over {@code space}: one dense
     * measurement per stage and {@code levels - 1} pruned ones per pair. {@code arch} and {@code precision} are recorded as
     * given; progress lines go to {@code progress} (may be null).
     */
    public static LatencyTable build(LatencyMeter meter, SearchSpace space, String arch, String precision,
                                     Consumer<String> progress) {
        return build(meter, space, arch, precision, 1, progress);
    }

    /**
     * {@link #build(LatencyMeter, SearchSpace, String, String, Consumer)} repeated {@code rounds} times over
     * the whole table; every entry and the base are the medians over the rounds, which keeps bursts of
     * noise (other processes, clock changes) in one round out of the table.
     */
    public static LatencyTable build(LatencyMeter meter, SearchSpace space, String arch, String precision, int rounds,
                                     Consumer<String> progress) {
        if (rounds <= 0) {
            throw new IllegalArgumentException("latency table: rounds must be positive, got " + rounds);
        }
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
        for (int round = 0; round < rounds; round++) {
            for (int si = 0; si < stages.size(); si++) {
                List<Integer> pairs = stages.get(si);
                double base = meter.measure(denseConfig).trimmedMeanMs();
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
                        double t = meter.measure(space.toSparsity(Candidate.of(genes))).trimmedMeanMs();
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
        return new LatencyTable(meter.model().backend().device(), arch, meter.height(), meter.width(), meter.batch(),
                precision, median(dense), space, entries);
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
        return String.format(Locale.ROOT, "table for %s on %s at %dx%d, batch %d, %s (base %s ms)", arch, device,
                height, width, batch, precision, denseMs);
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

    /**
     * Writes the table as JSON: device, arch, size ("HxW"), batch, precision, dense_ms, levels, depths and
     * one entry per block pair (stage, blocks, delta_ms per level).
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

    /** Reads a table written by {@link #write}. */
    public static LatencyTable read(Path file) {
        try {
            return fromJson(new ObjectMapper().readTree(file.toFile()));
        } catch (IOException | RuntimeException e) {
            if (e instanceof SparseVitException s) {
                throw new SparseVitException(file + ": " + s.getMessage(), s);
            }
            throw new SparseVitException(file + ": not a latency table (" + e.getMessage() + ")", e);
        }
    }

    /** The table of a JSON form made by {@link #toJsonNode}. */
    public static LatencyTable fromJson(JsonNode n) {
        if (n == null || !n.isObject() || !n.path("levels").isArray() || !n.path("depths").isArray()
                || !n.path("entries").isArray() || !n.path("dense_ms").isNumber() || !n.path("batch").isInt()) {
            throw new SparseVitException("not a latency table (expected levels, depths, entries, dense_ms, batch)");
        }
        double[] levels = doubles(n.get("levels"));
        int[] depths = Arrays.stream(doubles(n.get("depths"))).mapToInt(v -> (int) v).toArray();
        SearchSpace space = new SearchSpace(depths, levels);
        List<double[]> rows = new ArrayList<>();
        for (JsonNode e : n.get("entries")) {
            rows.add(doubles(e.path("delta_ms")));
        }
        String[] size = n.path("size").asText().split("x");
        if (size.length != 2) {
            throw new SparseVitException("latency table: size '" + n.path("size").asText() + "' is not HxW");
        }
        return new LatencyTable(n.path("device").asText(), n.path("arch").asText(), Integer.parseInt(size[0].strip()),
                Integer.parseInt(size[1].strip()), n.get("batch").asInt(), n.path("precision").asText(),
                n.get("dense_ms").asDouble(), space, rows.toArray(new double[0][]));
    }

    private static double[] doubles(JsonNode a) {
        if (!a.isArray()) {
            throw new SparseVitException("latency table: expected an array of numbers, got " + a);
        }
        double[] v = new double[a.size()];
        for (int i = 0; i < v.length; i++) {
            if (!a.get(i).isNumber()) {
                throw new SparseVitException("latency table: " + a.get(i) + " is not a number");
            }
            v[i] = a.get(i).asDouble();
        }
        return v;
    }
}

package org.sparsevit.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import org.sparsevit.SparseVitException;

/**
 * The report of one measurement run: machine facts, the targets of the benchmark issue marked met / missed /
 * not measured, every case with the peers' numbers beside ours, achieved TFLOP/s against the GPU's peak, the
 * pruning overhead, the latency table and search of the search issue, and what ran or was skipped.
 *
 * <p>Input is the {@code results.json} that {@code run-gpu.sh} writes (fields {@code date, device, driver,
 * cuda, commit, tests_*, rows, peers}, and where those stages ran {@code latency_table, latency_direct,
 * search, search_measured, stages, cases}), possibly completed by row files ({@link #addRows}).
 */
public final class ResultsReport {
    private static final List<String> SPARSITY_ORDER = List.of("dense", "uniform:0.3", "uniform:0.5", "uniform:0.6",
            "uniform:0.8", "paper-1", "paper-2", "paper-3");

    private final ObjectNode results;
    private final List<BenchResult> ours = new ArrayList<>();
    private final List<BenchResult> peers = new ArrayList<>();

    private ResultsReport(ObjectNode results) {
        this.results = results;
    }

    /** An empty run (no facts, no rows). */
    public static ResultsReport empty() {
        ObjectNode n = new ObjectMapper().createObjectNode();
        n.putArray("rows");
        n.putArray("peers");
        return new ResultsReport(n);
    }

    /** Reads a results.json (a file, or a directory holding one). */
    public static ResultsReport read(Path fileOrDir) {
        Path f = Files.isDirectory(fileOrDir) ? fileOrDir.resolve("results.json") : fileOrDir;
        if (!Files.isRegularFile(f)) {
            throw new SparseVitException(f + ": no such file (expected run-gpu.sh's results.json)");
        }
        JsonNode n;
        n = org.sparsevit.io.Json.read(f, "results");
        if (n == null || !n.isObject()) {
            throw new SparseVitException(f + ": expected a JSON object with date, device, rows, ...");
        }
        ResultsReport r = new ResultsReport((ObjectNode) n);
        // which device call ran a stage (run-gpu.sh's OUTDIR is named after it: call1, call2, ...)
        Path dir = f.toAbsolutePath().getParent();
        if (dir != null && dir.getFileName() != null && n.path("stages").isArray()) {
            for (JsonNode st : n.get("stages")) {
                if (st.isObject() && !st.has("call")) {
                    ((ObjectNode) st).put("call", dir.getFileName().toString());
                }
            }
        }
        r.addRows(Report.rows(n.path("rows"), f + ": rows"));
        r.addRows(Report.rows(n.path("peers"), f + ": peers"));
        return r;
    }

    /** Adds rows; ours (impl sparsevit-j...) and the peers' are told apart by impl. */
    public ResultsReport addRows(List<BenchResult> rows) {
        for (BenchResult b : rows) {
            (Targets.ours(b) ? ours : peers).add(b);
        }
        return this;
    }

    /**
     * Adds another call's results (run-gpu.sh run once per device call): its rows and peers; the stages and
     * cases appended; its test parts (one JUnit JVM each, {@code tests_parts}) beside this run's, the other
     * call's counts replacing a part both ran (a rerun), and the totals ({@code tests_passed, tests_failed,
     * tests_skipped, tests_source}) summed again over the parts; any other field this run lacks (latency
     * table, search, ...).
     */
    public ResultsReport merge(ResultsReport other) {
        addRows(other.ours).addRows(other.peers);
        ObjectNode parts = testParts(results);
        ObjectNode otherParts = testParts(other.results);
        other.results.fields().forEachRemaining(e -> {
            String k = e.getKey();
            if (k.equals("rows") || k.equals("peers")) {
                return;
            }
            if ((k.equals("stages") || k.equals("cases")) && e.getValue().isArray()) {
                ArrayNode mine = results.has(k) && results.get(k).isArray() ? (ArrayNode) results.get(k) : results.putArray(k);
                e.getValue().forEach(mine::add);
            } else if (k.startsWith("tests_")) {
                if (otherParts.isEmpty() && parts.isEmpty() && !results.has(k)) {
                    results.set(k, e.getValue());    // totals without parts (a hand-made file): kept as they are
                }
            } else if (!results.has(k) || results.get(k).isNull() || results.get(k).asText().isEmpty()) {
                results.set(k, e.getValue());
            }
        });
        if (!otherParts.isEmpty()) {
            parts.setAll(otherParts);
            results.set("tests_parts", parts);
            int passed = 0;
            int failed = 0;
            int skipped = 0;
            List<String> sources = new ArrayList<>();
            for (var it = parts.fields(); it.hasNext(); ) {
                var e = it.next();
                JsonNode c = e.getValue();
                passed += c.path("passed").asInt();
                failed += c.path("failed").asInt() + c.path("containers_failed").asInt();
                skipped += c.path("skipped").asInt() + c.path("aborted").asInt();
                sources.add(e.getKey() + ": " + c.path("source").asText("?"));
            }
            results.put("tests_passed", passed);
            results.put("tests_failed", failed);
            results.put("tests_skipped", skipped);
            results.put("tests_source", String.join("; ", sources));
            for (String k : new String[]{"gpu", "cpu"}) {
                if (parts.has(k)) {
                    results.set("tests_" + k, parts.get(k));
                }
            }
        }
        return this;
    }

    /** How the machine section names a test part (run-gpu.sh's SVJ_TESTS). */
    static String partLabel(String part) {
        return switch (part) {
            case "gpu" -> "GPU-tagged tests";
            case "cpu" -> "other tests";
            case "gpu-ops" -> "GPU tests without fixtures";
            case "gpu-golden" -> "GPU tests on the fixtures";
            case "gpu-sv" -> "GPU tests but those on swin-reference";
            case "gpu-swin" -> "GPU tests on swin-reference";
            default -> "tests, part " + part;
        };
    }

    /** A run's test parts: {@code tests_parts}, or for files written before it existed tests_gpu / tests_cpu. */
    private static ObjectNode testParts(ObjectNode r) {
        ObjectNode parts = new ObjectMapper().createObjectNode();
        if (r.path("tests_parts").isObject()) {
            parts.setAll((ObjectNode) r.get("tests_parts").deepCopy());
        } else {
            for (String k : new String[]{"gpu", "cpu"}) {
                if (r.path("tests_" + k).isObject()) {
                    parts.set(k, r.get("tests_" + k).deepCopy());
                }
            }
        }
        return parts;
    }

    /** Sets a machine fact (date, device, driver, cuda, host, ...). */
    public ResultsReport fact(String key, String value) {
        if (value != null) {
            results.put(key, value);
        }
        return this;
    }

    public List<BenchResult> ours() {
        return List.copyOf(ours);
    }

    public List<BenchResult> peers() {
        return List.copyOf(peers);
    }

    public String text(String field) {
        JsonNode v = results.get(field);
        return v == null || v.isNull() ? "" : v.asText();
    }

    /** The targets of the benchmark issue on this run's rows. */
    public List<Targets.Result> targets() {
        List<BenchResult> all = new ArrayList<>(ours);
        all.addAll(peers);
        return Targets.evaluate(all);
    }

    /** The GPU's peaks where the run's device is a known H100/H200. */
    public Optional<GpuPeaks> peaks() {
        Optional<GpuPeaks> p = GpuPeaks.of(text("device"));
        if (p.isPresent()) {
            return p;
        }
        return ours.stream().filter(r -> "cuda".equals(r.backend())).map(r -> GpuPeaks.of(r.device()))
                .flatMap(Optional::stream).findFirst();
    }

    /** The combined results (facts, rows, peers, targets) as written next to the report. */
    public ObjectNode json() {
        ObjectMapper om = Report.mapper();
        ObjectNode n = results.deepCopy();
        n.set("rows", om.valueToTree(ours));
        n.set("peers", om.valueToTree(peers));
        ArrayNode t = n.putArray("targets");
        for (Targets.Result r : targets()) {
            ObjectNode o = t.addObject();
            o.put("id", r.id());
            o.put("target", r.target());
            o.put("status", r.status().word());
            if (!Double.isNaN(r.measured())) {
                o.put("measured", r.measured());
                o.put("ratio", r.ratio());
            }
            o.put("threshold", r.threshold());
            o.put("unit", r.unit());
            o.put("at_least", r.atLeast());
            o.put("detail", r.detail());
        }
        peaks().ifPresent(p -> {
            ObjectNode o = n.putObject("gpu_peaks");
            o.put("model", p.model());
            o.put("fp32_tflops", p.fp32Tflops());
            o.put("tf32_tflops", p.tf32Tflops());
            o.put("fp16_bf16_tflops", p.fp16Tflops());
            o.put("bandwidth_tb_s", p.bandwidthTBs());
            o.put("source", GpuPeaks.SOURCE);
        });
        return n;
    }

    // ------------------------------------------------------------------------------------------ Markdown

    private static String f(double v, int digits) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return "-";
        }
        return String.format(Locale.ROOT, "%." + digits + "f", v);
    }

    private static String group(BenchResult r) {
        return r.backend() + " | " + r.arch() + " " + r.task() + " " + r.size() + " b" + r.batch() + " " + r.precision();
    }

    private static final java.util.regex.Pattern THREADS = java.util.regex.Pattern.compile("(\\d+) threads?\\b");

    /** The thread count a CPU row's device names ("CPU, 2 threads, ..."), or -1. */
    static int threadsOf(BenchResult r) {
        java.util.regex.Matcher m = THREADS.matcher(r.device() == null ? "" : r.device());
        return m.find() ? Integer.parseInt(m.group(1)) : -1;
    }

    /**
     * Our row to put beside a peer's: the same case, backend and sparsity, on as many threads where both rows name
     * a thread count (CPU peers); of several such rows (repeats, or the same case in two runs), the median by p50
     * (the lower of the two middle ones).
     */
    public static Optional<BenchResult> ourRowFor(BenchResult peer, List<BenchResult> ours) {
        return median(ours.stream().filter(o -> sameCase(o, peer) && ourBackend(o).equals(ourBackend(peer))
                && o.sparsity().equalsIgnoreCase(peer.sparsity()) && sameThreads(o, peer)).toList());
    }

    private static boolean sameCase(BenchResult a, BenchResult b) {
        return a.arch().equalsIgnoreCase(b.arch()) && a.task().equals(b.task()) && a.size().equals(b.size())
                && a.batch() == b.batch() && a.precision().equalsIgnoreCase(b.precision());
    }

    private static int sparsityRank(String s) {
        int i = SPARSITY_ORDER.indexOf(s.toLowerCase(Locale.ROOT));
        return i < 0 ? SPARSITY_ORDER.size() : i;
    }

    /**
     * Our dense row for a row's "vs dense": the same case on as many threads; for one of ours, the nearest before it
     * (its own run), else the first; for a peer's, the median of them.
     */
    private Optional<BenchResult> ourDense(BenchResult r) {
        java.util.function.Predicate<BenchResult> like = o -> sameCase(o, r) && o.backend().equals(ourBackend(r))
                && o.sparsity().equalsIgnoreCase("dense") && sameThreads(o, r);
        if (!Targets.ours(r)) {
            return median(ours.stream().filter(like).toList());
        }
        int at = ours.indexOf(r);
        for (int i = at; i >= 0; i--) {
            if (like.test(ours.get(i))) {
                return Optional.of(ours.get(i));
            }
        }
        return ours.stream().filter(like).findFirst();
    }

    private static boolean sameThreads(BenchResult a, BenchResult b) {
        return threadsOf(a) < 0 || threadsOf(b) < 0 || threadsOf(a) == threadsOf(b);
    }

    /** The median row by p50 (the lower of the two middle ones), or empty. */
    private static Optional<BenchResult> median(List<BenchResult> rows) {
        List<BenchResult> sorted = rows.stream().sorted(Comparator.comparingDouble(BenchResult::p50Ms)).toList();
        return sorted.isEmpty() ? Optional.empty() : Optional.of(sorted.get((sorted.size() - 1) / 2));
    }

    /** The backend our rows of a peer's case have (peers run on cuda, or on the CPU for ONNX Runtime). */
    private static String ourBackend(BenchResult r) {
        return r.backend() != null && r.backend().contains("cpu") ? "cpu" : r.backend();
    }

    /** GMACs of a row, or of our row of the same case and sparsity when the row has none (peers). */
    double gmacs(BenchResult r) {
        if (r.gmacs() > 0) {
            return r.gmacs();
        }
        return ours.stream().filter(o -> sameCase(o, r) && o.sparsity().equalsIgnoreCase(r.sparsity()))
                .mapToDouble(BenchResult::gmacs).filter(g -> g > 0).findFirst().orElse(0);
    }

    /** The whole report in Markdown; {@code plots} are file names relative to the report, {@code notes} verbatim. */
    public String markdown(String title, List<String> plots, String notes) {
        StringBuilder sb = new StringBuilder();
        String device = text("device").isEmpty() ? ours.stream().map(BenchResult::device).findFirst()
                .orElse("no GPU reported") : text("device");
        sb.append("# ").append(title == null || title.isBlank() ? "Benchmark: " + device + ", " + text("date") : title)
                .append("\n\n");
        sb.append("Generated by `sparsevit report` from `results.json` (raw rows, peers and targets in this directory's"
                + " `results.json`).\n\n");
        machine(sb, device);
        targetsSection(sb);
        casesSection(sb);
        overheadSection(sb);
        latencySection(sb);
        if (!plots.isEmpty()) {
            sb.append("## Plots\n\n");
            for (String p : plots) {
                sb.append("![").append(p).append("](").append(p).append(")\n\n");
            }
        }
        runSection(sb);
        if (notes != null && !notes.isBlank()) {
            sb.append("## Notes\n\n").append(notes.strip()).append("\n");
        }
        return sb.toString();
    }

    private void machine(StringBuilder sb, String device) {
        sb.append("## Machine\n\n| fact | value |\n| --- | --- |\n");
        Map<String, String> facts = new LinkedHashMap<>();
        facts.put("date", text("date"));
        facts.put("device", device);
        facts.put("driver", text("driver"));
        facts.put("CUDA (driver)", text("cuda"));
        facts.put("host", text("host"));
        facts.put("software", text("software"));
        facts.put("commit", text("commit"));
        facts.put("peers (PyTorch)", peersFact(results.path("peers_meta")));
        if (results.has("tests_passed") || results.has("tests_failed")) {
            facts.put("tests", String.format(Locale.ROOT, "%d passed, %d failed, %d skipped%s",
                    results.path("tests_passed").asInt(), results.path("tests_failed").asInt(),
                    results.path("tests_skipped").asInt(), results.hasNonNull("tests_source")
                            ? " (" + results.get("tests_source").asText() + ")" : ""));
        }
        for (var part = testParts(results).fields(); part.hasNext(); ) {
            var e = part.next();
            JsonNode t = e.getValue();
            if (t.isObject()) {
                StringBuilder v = new StringBuilder(String.format(Locale.ROOT, "%d passed, %d failed, %d skipped"
                                + " (%d of them aborted by an assumption), %d containers failed; read from the %s",
                        t.path("passed").asInt(), t.path("failed").asInt(), t.path("skipped").asInt() + t.path("aborted").asInt(),
                        t.path("aborted").asInt(), t.path("containers_failed").asInt(), t.path("source").asText("?")));
                if (t.path("undiscovered").size() > 0) {
                    v.append("; classes that could not be loaded: ");
                    for (JsonNode c : t.path("undiscovered")) {
                        v.append(c.asText()).append(' ');
                    }
                }
                facts.put(partLabel(e.getKey()), v.toString().strip());
            }
        }
        Optional<GpuPeaks> p = peaks();
        p.ifPresent(g -> facts.put("peaks used (dense)", String.format(Locale.ROOT,
                "%s: FP32 %s, TF32 %s, FP16/BF16 %s TFLOP/s, HBM %s TB/s%s", g.model(), f(g.fp32Tflops(), 1),
                f(g.tf32Tflops(), 1), f(g.fp16Tflops(), 1), f(g.bandwidthTBs(), 2),
                g.assumption().isEmpty() ? "" : " (" + g.assumption() + ")")));
        facts.forEach((k, v) -> {
            if (v != null && !v.isEmpty()) {
                sb.append("| ").append(k).append(" | ").append(v.replace("|", "/")).append(" |\n");
            }
        });
        p.ifPresent(g -> sb.append("\nPeak figures: ").append(GpuPeaks.SOURCE).append(".\n"));
        sb.append('\n');
    }

    /**
     * The PyTorch peers' software (timm_peers.py's peers-meta.json) and whether its SparseViT baseline reproduced
     * the official implementation's outputs and kept windows (its {@code reference_check}); empty without them.
     */
    static String peersFact(JsonNode meta) {
        if (!meta.isObject()) {
            return "";
        }
        List<String> parts = new ArrayList<>();
        for (String[] k : new String[][]{{"torch", "PyTorch"}, {"timm", "timm"}, {"cuda", "CUDA"},
                {"compile_mode", "torch.compile mode"}}) {
            if (meta.hasNonNull(k[0]) && !meta.get(k[0]).asText().isEmpty()) {
                parts.add(k[1] + " " + meta.get(k[0]).asText());
            }
        }
        if (meta.hasNonNull("device_error")) {
            parts.add("PyTorch could not use CUDA: " + meta.get("device_error").asText());
        }
        JsonNode c = meta.path("reference_check");
        if (c.isObject()) {
            if (c.hasNonNull("error")) {
                parts.add("SparseViT baseline check against the official implementation not run: "
                        + c.get("error").asText());
            } else {
                double worst = 0;
                int lists = 0;
                int cases = 0;
                boolean keptEqual = true;
                for (JsonNode k : c.path("cases")) {
                    cases++;
                    for (JsonNode d : k.path("max_abs_diff")) {
                        worst = Math.max(worst, d.asDouble());
                    }
                    lists += k.path("kept_lists").asInt();
                    keptEqual &= k.path("kept_equal").asBoolean();
                }
                parts.add(String.format(Locale.ROOT, "SparseViT baseline %s the official implementation (%s, %d cases,"
                                + " float64): outputs within %s (tolerance %s), %d kept lists %s",
                        c.path("ok").asBoolean() ? "reproduces" : "does NOT reproduce", c.path("fixture").asText("?"),
                        cases, twoDigits(worst), twoDigits(c.path("tolerance").asDouble()), lists,
                        keptEqual ? "equal" : "NOT all equal"));
            }
        }
        return String.join("; ", parts);
    }

    /** A number to two significant digits, as 3.5, 2.4E-7, 1E-4. */
    private static String twoDigits(double v) {
        return Double.isFinite(v) ? new java.math.BigDecimal(v).round(new java.math.MathContext(2)).stripTrailingZeros()
                .toString() : String.valueOf(v);
    }

    private void targetsSection(StringBuilder sb) {
        sb.append("## Targets (issue #5)\n\n| target | status | measured | target value | ratio | detail |\n"
                + "| --- | --- | ---: | ---: | ---: | --- |\n");
        for (Targets.Result r : targets()) {
            String status = switch (r.status()) {
                case MET -> "**met**";
                case MISSED -> "**missed**";
                case NOT_MEASURED -> "not measured";
            };
            String measured = Double.isNaN(r.measured()) ? "-" : fmtValue(r.measured(), r.unit());
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s %s | %s | %s |%n", r.target(), status, measured,
                    r.atLeast() ? ">=" : "<=", fmtValue(r.threshold(), r.unit()), f(r.ratio(), 2), r.detail()));
        }
        sb.append("\nratio = measured / target value (at least: met when >= 1; at most: met when <= 1).\n\n");
    }

    private static String fmtValue(double v, String unit) {
        if (unit.equals("of dense")) {
            return f(100 * v, 2) + "% of dense";
        }
        if (unit.equals("images/s")) {
            return String.format(Locale.ROOT, "%,.0f images/s", v);
        }
        if (unit.equals("ms")) {
            return f(v, 3) + " ms";
        }
        return f(v, 2) + unit;
    }

    private void casesSection(StringBuilder sb) {
        sb.append("## Results\n\np50/p90/p99 in ms per forward pass of the whole batch; TFLOP/s = 2 x GMACs / p50");
        Optional<GpuPeaks> pk = peaks();
        pk.ifPresent(g -> sb.append(" (% of the ").append(g.model()).append("'s dense peak for the precision)"));
        sb.append("; \"vs dense\" = our dense p50 / this p50; for a peer, \"ours x faster\" = its p50 / our p50 at the"
                + " same sparsity (on as many threads for CPU peers; of several rows of ours, the median). Peers' GMACs are"
                + " ours for the same case. Where a case has rows from more than one device (CPU thread counts), the impl"
                + " column names the device. \"host to host ms\" (ours): one call from float32 images in Java arrays to"
                + " float32 outputs in Java arrays (upload, pass, download), wall clock.\n\n");
        Map<String, List<BenchResult>> groups = new LinkedHashMap<>();
        List<BenchResult> all = new ArrayList<>(ours);
        all.addAll(peers);
        for (BenchResult r : all) {
            BenchResult key = r;
            groups.computeIfAbsent(ourBackend(key) + " | " + key.arch() + " " + key.task() + " " + key.size() + " b"
                    + key.batch() + " " + key.precision(), k -> new ArrayList<>()).add(r);
        }
        for (Map.Entry<String, List<BenchResult>> e : groups.entrySet()) {
            List<BenchResult> rs = new ArrayList<>(e.getValue());
            rs.sort(Comparator.comparingInt((BenchResult r) -> sparsityRank(r.sparsity()))
                    .thenComparing(r -> Targets.ours(r) ? 0 : 1).thenComparing(BenchResult::impl));
            boolean manyDevices = rs.stream().map(BenchResult::device).distinct().count() > 1;
            sb.append("### ").append(e.getKey().replace(" | ", ": ")).append("\n\n");
            sb.append("| impl | sparsity | GMACs | p50 ms | p90 ms | p99 ms | images/s | TFLOP/s | vs dense | ours x faster"
                    + " | host to host ms |\n");
            sb.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
            for (BenchResult r : rs) {
                double g = gmacs(r);
                double tf = GpuPeaks.achievedTflops(g, r.p50Ms());
                String tfs = tf > 0 ? f(tf, tf >= 10 ? 1 : 2) : "-";
                if (tf > 0 && pk.isPresent() && !r.backend().contains("cpu")) {
                    double peak = pk.get().tflops(r.precision());
                    if (!Double.isNaN(peak)) {
                        tfs += " (" + f(100 * tf / peak, 1) + "%)";
                    }
                }
                Optional<BenchResult> dense = ourDense(r);
                String vsDense = dense.map(d -> f(d.p50Ms() / r.p50Ms(), 2)).orElse("-");
                String oursFaster = "-";
                if (!Targets.ours(r)) {
                    Optional<BenchResult> mine = ourRowFor(r, ours);
                    oursFaster = mine.map(m -> f(r.p50Ms() / m.p50Ms(), 2)).orElse("-");
                }
                String impl = manyDevices ? r.impl() + " (" + r.device() + ")" : r.impl();
                sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", impl,
                        r.sparsity(), g > 0 ? f(g, 2) : "-", f(r.p50Ms(), 3), f(r.p90Ms(), 3), f(r.p99Ms(), 3),
                        f(r.imagesPerS(), 1), tfs, vsDense, oursFaster, r.hostP50Ms() == null ? "-" : f(r.hostP50Ms(), 3)));
            }
            sb.append('\n');
        }
        if (groups.isEmpty()) {
            sb.append("No benchmark rows.\n\n");
        }
    }

    private void overheadSection(StringBuilder sb) {
        List<BenchResult> withOps = ours.stream().filter(r -> r.opsMs() != null && !r.opsMs().isEmpty()).toList();
        if (withOps.isEmpty()) {
            return;
        }
        sb.append("## Where the time goes\n\nFrom each case's profiled passes (ops one at a time: CUDA events on the GPU,"
                + " wall clock + synchronise on the CPU, so short ops carry their launch latency). Pruning overhead ="
                + " tokenImportance + windowScores + sortWindows + gatherWindows + scatterWindows (on the GPU the block's"
                + " gather is fused with LayerNorm in the timed passes; the profile times it apart).\n\n");
        sb.append("| case | sparsity | profiled sum ms | overhead ms | % of our dense p50 | top ops (share of profiled sum) |\n");
        sb.append("| --- | --- | ---: | ---: | ---: | --- |\n");
        for (BenchResult r : withOps) {
            double sum = r.opsMs().values().stream().mapToDouble(Double::doubleValue).sum();
            double ov = Targets.overheadMs(r);
            Optional<BenchResult> dense = ourDense(r);
            StringBuilder top = new StringBuilder();
            r.opsMs().entrySet().stream().sorted((a, b) -> Double.compare(b.getValue(), a.getValue())).limit(4)
                    .forEach(e -> top.append(top.length() == 0 ? "" : ", ").append(e.getKey()).append(' ')
                            .append(f(100 * e.getValue() / sum, 0)).append('%'));
            int th = threadsOf(r);
            String kase = group(r).replace(" | ", " ") + (th > 0 ? ", " + th + " thread" + (th == 1 ? "" : "s") : "");
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", kase, r.sparsity(), f(sum, 3),
                    f(ov, 3), dense.map(d -> f(100 * ov / d.p50Ms(), 2)).orElse("-"), top));
        }
        sb.append("\nFull per-op and per-node breakdowns of every row: `results.json` (`ops_ms`, `stages_ms`).\n\n");
    }

    private void latencySection(StringBuilder sb) {
        JsonNode t = results.path("latency_table");
        JsonNode s = results.path("search");
        if (!t.isObject() && !s.isObject() && !results.path("latency_direct").isObject()) {
            return;
        }
        sb.append("## Latency table and search (issue #6)\n\n");
        if (t.isObject()) {
            sb.append(String.format(Locale.ROOT, "Table: %s %s %s batch %s %s on %s: dense %s ms, %s round(s) of %s timed"
                            + " passes per entry, built in %s s (%s).%n%n", t.path("arch").asText(), t.path("task").asText(),
                    t.path("size").asText(), t.path("batch").asText(), t.path("precision").asText(),
                    t.path("device").asText(), f(t.path("dense_ms").asDouble(), 3), t.path("rounds").asText(),
                    t.path("iters").asText(), f(t.path("build_seconds").asDouble(), 0), t.path("mode").asText()));
            if (t.has("mean_error")) {
                double mean = t.path("mean_error").asDouble();
                double max = t.path("max_error").asDouble();
                sb.append(String.format(Locale.ROOT, "Prediction error against direct measurement over %d random"
                                + " configurations: mean **%s%%**, max %s%% (target: under 5%%: **%s**).%n%n",
                        t.path("validated").asInt(), f(100 * mean, 2), f(100 * max, 2), mean < 0.05 ? "met" : "missed"));
                sb.append("| configuration | predicted ms | measured ms | error |\n| --- | ---: | ---: | ---: |\n");
                for (JsonNode c : t.path("validation")) {
                    sb.append(String.format(Locale.ROOT, "| `%s` | %s | %s | %s%% |%n", c.path("sparsity").asText(),
                            f(c.path("predicted_ms").asDouble(), 3), f(c.path("measured_ms").asDouble(), 3),
                            f(100 * c.path("error").asDouble(), 2)));
                }
                sb.append('\n');
            }
        }
        if (s.isObject()) {
            sb.append(String.format(Locale.ROOT, "Search (%s evaluator, latency window %s ms from the table): best `%s`,"
                            + " score %s, %s GMACs, predicted %s ms; %s candidates in %s generations.%n",
                    results.path("search_evaluator").asText("fidelity"), results.path("search_window").asText("?"),
                    s.path("compact").asText(), f(s.path("score").asDouble(), 5), f(s.path("gmacs").asDouble(), 2),
                    f(s.path("latency_ms").asDouble(Double.NaN), 3), s.path("candidates").asText(),
                    s.path("generations").asText()));
            JsonNode m = results.path("search_measured");
            if (m.isObject()) {
                double meas = m.path("trimmed_mean_ms").asDouble();
                double pred = s.path("latency_ms").asDouble(Double.NaN);
                String[] win = results.path("search_window").asText("").split(":");
                String inside = "";
                if (win.length == 2) {
                    try {
                        double lo = Double.parseDouble(win[0]);
                        double hi = Double.parseDouble(win[1]);
                        inside = meas >= lo && meas <= hi ? " (inside the window)" : " (outside the window)";
                    } catch (NumberFormatException e) {
                        inside = "";
                    }
                }
                sb.append(String.format(Locale.ROOT, "Measured directly: %s ms%s (p50 %s, min %s, max %s); the table"
                                + " predicted %s ms (error %s%%).%n", f(meas, 3), inside, f(m.path("p50_ms").asDouble(), 3),
                        f(m.path("min_ms").asDouble(), 3), f(m.path("max_ms").asDouble(), 3), f(pred, 3),
                        f(100 * Math.abs(pred - meas) / meas, 2)));
            }
            sb.append('\n');
        }
        JsonNode d = results.path("latency_direct");
        if (d.isObject()) {
            sb.append(String.format(Locale.ROOT, "Direct measurement (`sparsevit latency`): %s %s batch %s %s, sparsity"
                            + " `%s`: %s ms (trimmed mean of %s; %s).%n%n", d.path("arch").asText(), d.path("size").asText(),
                    d.path("batch").asText(), d.path("precision").asText(), d.path("sparsity").asText(),
                    f(d.path("trimmed_mean_ms").asDouble(), 3), d.path("iters").asText(), d.path("mode").asText()));
        }
    }

    private void runSection(StringBuilder sb) {
        JsonNode stages = results.path("stages");
        JsonNode cases = results.path("cases");
        List<JsonNode> notMeasured = new ArrayList<>();
        for (JsonNode c : cases) {
            if (!"measured".equals(c.path("status").asText())) {
                notMeasured.add(c);
            }
        }
        if (!stages.isArray() && notMeasured.isEmpty()) {
            return;
        }
        sb.append("## What ran\n\n");
        if (stages.isArray() && stages.size() > 0) {
            sb.append("| call | stage | status | seconds | budget s | note |\n| --- | --- | --- | ---: | ---: | --- |\n");
            for (JsonNode st : stages) {
                sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", st.path("call").asText("-"),
                        st.path("name").asText(), st.path("status").asText(), st.path("seconds").asText("-"),
                        st.path("budget").asText("-"), st.path("note").asText("").replace("|", "/").replace("\n", " ")));
            }
            sb.append('\n');
        }
        if (!notMeasured.isEmpty()) {
            sb.append("Cases not measured (").append(notMeasured.size()).append("), by reason:\n\n");
            Map<String, List<String>> byReason = new LinkedHashMap<>();
            for (JsonNode c : notMeasured) {
                byReason.computeIfAbsent(c.path("status").asText() + ": " + c.path("reason").asText().replace("\n", " "),
                        k -> new ArrayList<>()).add(c.path("label").asText());
            }
            byReason.forEach((reason, labels) -> sb.append("- ").append(reason).append(" (").append(labels.size())
                    .append("): ").append(String.join("; ", labels)).append('\n'));
            sb.append('\n');
        }
    }
}

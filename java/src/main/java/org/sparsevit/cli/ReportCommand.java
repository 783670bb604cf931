package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;

import org.sparsevit.SparseVitException;
import org.sparsevit.bench.Plots;
import org.sparsevit.bench.Report;
import org.sparsevit.bench.ResultsReport;
import org.sparsevit.bench.Targets;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code sparsevit report}: turns a measurement run (run-gpu.sh's results directory, or benchmark row files)
 * into a dated report directory: README.md, results.json (facts, rows, peers, targets) and PNG plots.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write the report of a benchmark run (Markdown, JSON, plots, targets met / missed / not measured).")
public final class ReportCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Parameters(arity = "1..*", paramLabel = "INPUT",
            description = "run-gpu.sh's output directories (or their results.json; one per device call, merged: rows,"
                    + " peers, stages and cases together, the first one's facts first), and/or JSON arrays of benchmark"
                    + " rows (ours or peers').")
    List<Path> inputs;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Report directory (created).")
    Path out;

    @Option(names = "--title", description = "Report title (default: device and date).")
    String title;

    @Option(names = "--notes", paramLabel = "FILE.md", description = "Markdown appended verbatim (method, remarks).")
    Path notes;

    @Option(names = "--date", description = "Date of the measurements, where the inputs do not say.")
    String date;

    @Option(names = "--device", description = "The machine in words, where the inputs do not say.")
    String device;

    @Option(names = "--host", description = "Host CPU / memory in words.")
    String host;

    @Option(names = "--software", description = "Software versions in words.")
    String software;

    @Option(names = "--no-plots", description = "Skip the PNG plots.")
    boolean noPlots;

    @Override
    public Integer call() {
        // options first: nothing is read or written before they are known to be usable
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new SparseVitException("--out " + out + ": a file exists there (the report is a directory)");
        }
        if (notes != null && Files.isDirectory(notes)) {
            throw new SparseVitException("--notes " + notes + ": is a directory, not a Markdown file");
        }
        if (notes != null && !Files.isRegularFile(notes)) {
            throw new SparseVitException("--notes " + notes + ": no such file");
        }
        ResultsReport rep = null;
        List<Path> rowFiles = new ArrayList<>();
        for (Path p : inputs) {
            boolean dir = Files.isDirectory(p);
            if (dir && Files.isRegularFile(p.resolve("results.json"))) {
                isResultsObject(p.resolve("results.json"));   // refuses anything but a results object
            }
            if (dir || isResultsObject(p)) {
                if (rep == null) {
                    rep = ResultsReport.read(p);
                } else {
                    rep.merge(ResultsReport.read(p));
                }
            } else {
                rowFiles.add(p);
            }
        }
        if (rep == null) {
            rep = ResultsReport.empty();
        }
        for (Path p : rowFiles) {
            rep.addRows(Report.readJson(p));
        }
        rep.fact("date", date).fact("device", device).fact("host", host).fact("software", software);
        if (rep.ours().isEmpty() && rep.peers().isEmpty()) {
            System.err.println("report: note: the inputs hold no benchmark rows; every target is 'not measured'");
        }
        String notesText = null;
        if (notes != null) {
            try {
                notesText = Files.readString(notes);
            } catch (java.nio.charset.MalformedInputException e) {
                throw new SparseVitException("--notes " + notes + ": not UTF-8 text");
            } catch (IOException e) {
                throw new SparseVitException("--notes " + notes + ": cannot read (" + Main.reason(e) + ")", e);
            }
        }
        List<String> plots;
        try {
            Files.createDirectories(out);
        } catch (IOException e) {
            throw new SparseVitException("--out " + out + ": cannot create the report directory (" + Main.reason(e) + ")", e);
        }
        Path file = out.resolve("README.md");
        try {
            plots = noPlots ? List.of() : Plots.report(out, rep);
            Files.writeString(file, rep.markdown(title, plots, notesText));
            file = out.resolve("results.json");
            Report.mapper().writeValue(file.toFile(), rep.json());
        } catch (IOException e) {
            throw new SparseVitException("cannot write " + file + " (" + Main.reason(e) + ")", e);
        }
        int met = 0;
        int missed = 0;
        int none = 0;
        for (Targets.Result r : rep.targets()) {
            switch (r.status()) {
                case MET -> met++;
                case MISSED -> missed++;
                default -> none++;
            }
        }
        System.out.printf("wrote %s (README.md, results.json, %d plots): %d rows, %d peer rows; targets: %d met, %d missed,"
                + " %d not measured%n", out, plots.size(), rep.ours().size(), rep.peers().size(), met, missed, none);
        return 0;
    }

    /** Whether a file is a results object (run-gpu.sh's results.json) rather than an array of rows. */
    private static boolean isResultsObject(Path p) {
        if (!Files.isRegularFile(p)) {
            throw new SparseVitException(p + ": no such file or directory");
        }
        JsonNode n = org.sparsevit.io.Json.read(p, "results or benchmark rows");
        {
            if (n == null || !(n.isObject() || n.isArray())) {
                throw new SparseVitException(p + ": expected results.json (an object) or benchmark rows (an array)");
            }
            if (n.isObject() && !n.has("rows") && !n.has("peers")) {
                throw new SparseVitException(p + ": a JSON object without \"rows\" or \"peers\" is not a results.json"
                        + " (run-gpu.sh's) nor benchmark rows (a JSON array); a kept.json, a latency table or a search"
                        + " log cannot be reported");
            }
            return n.isObject();
        }
    }
}

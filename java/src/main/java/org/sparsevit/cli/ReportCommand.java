package org.sparsevit.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

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
    public Integer call() throws IOException {
        ResultsReport rep = null;
        List<Path> rowFiles = new ArrayList<>();
        for (Path p : inputs) {
            if (Files.isDirectory(p) || isResultsObject(p)) {
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
            if (!Files.isRegularFile(notes)) {
                throw new SparseVitException(notes + ": no such file");
            }
            notesText = Files.readString(notes);
        }
        Files.createDirectories(out);
        List<String> plots = noPlots ? List.of() : Plots.report(out, rep);
        Files.writeString(out.resolve("README.md"), rep.markdown(title, plots, notesText));
        Report.mapper().writeValue(out.resolve("results.json").toFile(), rep.json());
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
        try {
            JsonNode n = new ObjectMapper().readTree(p.toFile());
            if (n == null || !(n.isObject() || n.isArray())) {
                throw new SparseVitException(p + ": expected results.json (an object) or benchmark rows (an array)");
            }
            return n.isObject();
        } catch (IOException e) {
            throw new SparseVitException(p + ": not valid JSON (" + e.getMessage() + ")", e);
        }
    }
}

package org.sparsevit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sparsevit search}: options checked before any work, and a table's latencies reported. */
class SearchCommandTest {
    @TempDir
    Path tmp;

    static CliTest.Result search(Path out, String... more) {
        String[] base = {"search", "--arch", "swin-t", "--backbone", "--size", "64x64", "--backend", "cpu",
                "--out", out.toString()};
        String[] args = new String[base.length + more.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(more, 0, args, base.length, more.length);
        return CliTest.run(args);
    }

    static void refused(CliTest.Result r, String part) {
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: search: ") && r.err().contains(part), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void badOptionsAreRefusedBeforeAnyWork() {
        Path out = tmp.resolve("best.json");
        refused(search(out, "--gmacs", "0.1:0.3", "--budget", "0"), "--budget must be a positive number");
        refused(search(out, "--gmacs", "0.1:0.3", "--calib", "0"), "--calib must be a positive number of images");
        refused(search(out, "--gmacs", "0.1:0.3", "--images", tmp.toString()), "--images is for --evaluator top1");
        refused(search(out, "--gmacs", "0.1:0.3", "--evaluator", "top1"), "--evaluator top1 needs --images DIR");
        refused(CliTest.run("search", "--arch", "swin-t", "--size", "64x96", "--gmacs", "0.1:0.3", "--evaluator", "top1",
                "--images", tmp.toString(), "--out", out.toString()), "give a square --size");
        refused(search(out, "--gmacs", "0.1:0.3", "--evaluator", "mAP"), "unknown evaluator 'mAP'");
        refused(search(out, "--gmacs", "0.1:0.3", "--novelty-tries", "-1"), "--novelty-tries must be >= 0");
        CliTest.Result r = search(out, "--gmacs", "0.3:0.1");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("--gmacs"), r.err());
        assertFalse(Files.exists(out));
        assertFalse(Files.exists(tmp.resolve("best.json.log")), "no log is started");
    }

    /** An --arch or --backbone that contradicts --weights is refused by search and latency, as by bench. */
    @Test
    void anArchitectureContradictingTheWeightsIsRefused() {
        String mini = CliTest.swin("swin-mini-cls.safetensors").toString();
        Path out = tmp.resolve("best.json");
        for (String cmd : new String[]{"search", "latency"}) {
            String[] more = cmd.equals("search")
                    ? new String[]{"--gmacs", "0:100", "--calib", "1", "--budget", "4", "--out", out.toString()}
                    : new String[]{"--iters", "4", "--warmup", "0"};
            CliTest.Result r = CliTest.run(concat(new String[]{cmd, "--size", "64x64", "--backend", "cpu", "--weights",
                    mini, "--arch", "swin-b"}, more));
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().startsWith("error: --arch swin-b does not match the weights ("), r.err());
            r = CliTest.run(concat(new String[]{cmd, "--size", "64x64", "--backend", "cpu", "--weights", mini,
                    "--backbone"}, more));
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("is a classifier"), r.err());
        }
        assertFalse(Files.exists(out));
    }

    /** The result and log paths are checked before the model loads, not after the search. */
    @Test
    void anUnwritableOutIsRefusedBeforeTheSearch() throws Exception {
        Path file = Files.writeString(tmp.resolve("plain"), "x");
        refusedAnywhere(search(file.resolve("best.json"), "--gmacs", "0.1:0.3", "--calib", "1"),
                "cannot write --out " + file.resolve("best.json"));
        refusedAnywhere(search(tmp, "--gmacs", "0.1:0.3", "--calib", "1"), "it is a directory");
        assertFalse(Files.exists(Path.of(tmp + ".log")));
    }

    /** A batch whose input overflows Java's int range is a user error with a message, not exit 3. */
    @Test
    void anInputTooLargeIsAUserError() {
        CliTest.Result r = CliTest.run("latency", "--size", "20000x20000", "--batch", "2", "--iters", "4", "--warmup",
                "0", "--backend", "cpu");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains("too large"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    static void refusedAnywhere(CliTest.Result r, String part) {
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(part), r.err());
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** With --gmacs alone, a --table reports each candidate's predicted latency (it was ignored before). */
    @Test
    void aTableReportsLatenciesInAMacsSearch() throws Exception {
        Path table = tmp.resolve("table.json");
        CliTest.Result t = CliTest.run("latency", "--arch", "swin-t", "--backbone", "--size", "64x64", "--iters", "4",
                "--warmup", "0", "--backend", "cpu", "--levels", "0,0.5", "--validate", "0", "--table",
                table.toString());
        assertEquals(0, t.code(), t.err());
        Path out = tmp.resolve("best.json");
        CliTest.Result r = search(out, "--gmacs", "0.05:0.5", "--calib", "1", "--budget", "8", "--levels", "0,0.5",
                "--table", table.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode best = new ObjectMapper().readTree(out.toFile());
        assertTrue(best.path("latency_ms").isNumber(), best.toString());
        for (String line : Files.readAllLines(tmp.resolve("best.json.log"))) {
            if (line.contains("\"type\":\"candidate\"")) {
                assertTrue(line.contains("\"latency_ms\":"), line);
            }
        }
    }
}

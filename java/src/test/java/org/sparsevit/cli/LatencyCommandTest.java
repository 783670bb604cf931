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
import org.sparsevit.cli.CliTest.Result;

/** {@code sparsevit latency}: options that do not go together, outputs checked before measuring, the model named. */
class LatencyCommandTest {
    @TempDir
    Path tmp;

    static final String[] CASE = {"latency", "--arch", "swin-t", "--backbone", "--size", "64x64", "--iters", "4",
            "--warmup", "0", "--backend", "cpu"};

    static Result latency(String... more) {
        String[] a = new String[CASE.length + more.length];
        System.arraycopy(CASE, 0, a, 0, CASE.length);
        System.arraycopy(more, 0, a, CASE.length, more.length);
        return CliTest.run(a);
    }

    static void refused(Result r, String message) {
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(message), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line, nothing measured: " + r.err());
    }

    @Test
    void optionsOfTheOtherModeAreRefused() {
        refused(latency("--table", tmp.resolve("t.json").toString(), "--sparsity", "uniform:0.5"),
                "--sparsity measures one configuration and --table the whole table");
        refused(latency("--levels", "0,0.5"), "--levels is an option of --table, which is not given");
        refused(latency("--rounds", "2"), "--rounds is an option of --table");
        // levels that are no search space: the option is named, not "search"
        Result r = latency("--table", tmp.resolve("t.json").toString(), "--levels", "0.5,0");
        refused(r, "error: --levels '0.5,0': levels must be increasing values in [0, 1]");
        assertFalse(r.err().contains("search"), r.err());
        Path same = tmp.resolve("same.json");
        refused(latency("--table", same.toString(), "--json", same.toString(), "--levels", "0,0.5"),
                "--table and --json name the same file");
        assertFalse(Files.exists(tmp.resolve("t.json")));
    }

    @Test
    void outputsThatCannotBeWrittenAreRefusedBeforeMeasuring() throws Exception {
        refused(latency("--table", tmp.toString(), "--levels", "0,0.5"),
                "cannot write --table " + tmp + " (it is a directory, not a file)");
        Path notDir = tmp.resolve("plain");
        Files.writeString(notDir, "x");
        refused(latency("--table", notDir.resolve("t.json").toString(), "--levels", "0,0.5"),
                "cannot write --table " + notDir.resolve("t.json") + " (");
        refused(latency("--table", tmp.resolve("t.json").toString(), "--levels", "0,0.5", "--json",
                notDir.resolve("v.json").toString()), "cannot write --json " + notDir.resolve("v.json") + " (");
        assertFalse(Files.exists(tmp.resolve("t.json")));
        // an existing file is checked without being changed
        Result r = latency("--sparsity", "dense", "--json", notDir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(notDir).contains("\"trimmed_mean_ms\""));
    }

    @Test
    void helpDescribesEveryOptionOfATable() {
        Result r = CliTest.run("latency", "--help");
        assertEquals(0, r.code(), r.err());
        for (String o : new String[]{"--levels", "--precision", "--sparsity"}) {
            // the option's own line in the list (not the synopsis): its name, then a description beside it or
            // (where the name is long) on the next line
            java.util.List<String> lines = r.out().lines().toList();
            int i = 0;
            while (!lines.get(i).strip().startsWith(o)) {
                i++;
            }
            String[] parts = lines.get(i).strip().split("\\s{2,}", 2);
            String described = parts.length == 2 ? parts[1] : lines.get(i + 1).strip();
            assertTrue(!described.startsWith("-") && described.split(" ").length >= 4,
                    "no description: " + lines.get(i));
        }
        assertTrue(r.out().contains("the pruning ratio levels"), r.out());
    }

    @Test
    void theMeasuredModelIsNamedByItsWeights() throws Exception {
        Path json = tmp.resolve("m.json");
        Result r = CliTest.run("latency", "--weights", CliTest.swin("swin-mini-cls.safetensors").toString(), "--size",
                "64x64", "--iters", "4", "--warmup", "0", "--backend", "cpu", "--json", json.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertEquals("custom", j.get("arch").asText(), "not --arch's default swin-t");
        assertEquals("classification", j.get("task").asText());
        assertTrue(r.out().startsWith("custom 64x64"), r.out());
        assertEquals("swin-t", LatencyCommand.archName(org.sparsevit.model.SwinConfig.preset("swin-t")
                .withTask(org.sparsevit.model.Task.BACKBONE, 0)));
    }
}

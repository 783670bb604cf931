package org.sparsevit.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad options and files end with one line naming the problem (exit 1, or 2 for the command line), never a trace. */
class CliChecksTest {
    @TempDir
    Path tmp;

    /** Exit code 1 with exactly one line on stderr (after the backend's note, if any) holding {@code expected}. */
    static CliTest.Result fails(String expected, String... args) {
        CliTest.Result r = CliTest.run(args);
        assertEquals(1, r.code(), r.err());
        String[] lines = r.err().strip().lines().filter(l -> !l.startsWith("backend auto:")).toArray(String[]::new);
        assertEquals(1, lines.length, r.err());
        assertTrue(lines[0].startsWith("error: ") && lines[0].contains(expected), r.err());
        return r;
    }

    static String lastLine(String s) {
        String[] l = s.strip().split("\n");
        return l[l.length - 1];
    }

    @Test
    @Tag("awt")
    void vizWritesTheFormatItsNameSaysAndNamesAnUnwritableOutput() throws Exception {
        Path img = CliTest.png(tmp, 64, 48);
        String w = CliTest.sv("sparsevit-mini.safetensors").toString();
        // a directory, empty or not, is refused and left as it was (ImageIO.write(File) deleted an empty one)
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        fails(empty + ": cannot write the image (Is a directory)", "viz", "--weights", w, "--image", img.toString(),
                "--sparsity", "dense", "--output", empty.toString(), "--backend", "cpu");
        assertTrue(Files.isDirectory(empty));
        Path full = Files.createDirectories(tmp.resolve("full.png"));
        Files.writeString(full.resolve("keep.txt"), "keep");
        fails(full + ": cannot write the image (Is a directory)", "viz", "--weights", w, "--image", img.toString(),
                "--sparsity", "dense", "--output", full.toString(), "--backend", "cpu");
        assertEquals("keep", Files.readString(full.resolve("keep.txt")));
        // a path below a regular file
        Path below = img.resolve("v.png");
        fails(below + ": cannot write the image (", "viz", "--weights", w, "--image", img.toString(),
                "--sparsity", "dense", "--output", below.toString(), "--backend", "cpu");
        // a name that is no image format is refused before anything runs; .jpg gets JPEG data, .png PNG data
        fails(tmp.resolve("v.txt") + ": --output must name a .png, .jpg or .jpeg file", "viz", "--weights", w,
                "--image", img.toString(), "--sparsity", "dense", "--output", tmp.resolve("v.txt").toString());
        assertFalse(Files.exists(tmp.resolve("v.txt")));
        for (String name : new String[]{"v.jpg", "v.png"}) {
            CliTest.Result r = CliTest.run("viz", "--weights", w, "--image", img.toString(), "--sparsity", "dense",
                    "--output", tmp.resolve(name).toString(), "--backend", "cpu");
            assertEquals(0, r.code(), r.err());
            byte[] b = Files.readAllBytes(tmp.resolve(name));
            if (name.endsWith(".jpg")) {
                assertTrue((b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8, "JPEG data expected in " + name);
            } else {
                assertTrue((b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G', "PNG data expected in " + name);
            }
        }
    }

    /** paper-1..3, which bench takes, are accepted by every command that reads --sparsity. */
    @Test
    void paperConfigurationsAreAcceptedWhereverASparsityIs() {
        for (String name : new String[]{"paper-1", "paper-2", "paper-3"}) {
            CliTest.Result byName = CliTest.run("macs", "--arch", "swin-t", "--backbone", "--size", "672x672", "--batch", "4",
                    "--sparsity", name);
            assertEquals(0, byName.code(), byName.err());
            CliTest.Result spelled = CliTest.run("macs", "--arch", "swin-t", "--backbone", "--size", "672x672", "--batch",
                    "4", "--sparsity", org.sparsevit.sparse.SparsityConfig.PAPER.get(name));
            assertEquals(spelled.out(), byName.out());
        }
        CliTest.Result dense = CliTest.run("macs", "--arch", "swin-t", "--backbone", "--size", "672x672");
        CliTest.Result p3 = CliTest.run("macs", "--arch", "swin-t", "--backbone", "--size", "672x672", "--sparsity", "Paper-3");
        assertEquals(0, p3.code(), p3.err());
        assertFalse(lastLine(dense.out()).equals(lastLine(p3.out())), p3.out());
        fails("sparsity: paper-2 is the SparseViT paper's configuration for Swin-T (depths [2, 2, 6, 2]), but this"
                        + " model's depths are [2, 2, 4, 2]", "run", "--weights", CliTest.sv("sparsevit-mini.safetensors").toString(),
                "--input", CliTest.sv("sv-224-cfg.input.npy").toString(), "--output", tmp.resolve("o").toString(),
                "--sparsity", "paper-2", "--backend", "cpu");
    }

    /** Sizes whose images no tensor can hold, and MAC totals past a long, are refused naming the size. */
    @Test
    void sizesAndBatchesTooLargeAreRefusedNamingThem() {
        fails("--size 30000x30000: the images [1, 3, 30000, 30000] would hold 2.700e+09 values, more than one tensor"
                + " can (2^31 - 1)", "latency", "--arch", "swin-t", "--size", "30000x30000", "--iters", "4", "--warmup", "0");
        fails("--size 2147483647x2147483647: the images [1, 3, 2147483647, 2147483647]", "macs", "--arch", "swin-t",
                "--size", "2147483647x2147483647");
        fails("--backbone-size 100000x100000: the images", "demo", "--backbone-size", "100000x100000", "--iters", "1");
        Path x = tmp.resolve("x.npy");
        fails("--input-size 100000x100000: the images", "demo", "--save-input", x.toString(), "--input-size",
                "100000x100000", "--input-batch", "1000");
        fails("--save-input with --input-batch 10 and --input-size 20000x20000: the images [10, 3, 20000, 20000]",
                "demo", "--save-input", x.toString(), "--input-size", "20000x20000", "--input-batch", "10");
        assertFalse(Files.exists(x));
        // the batch's MACs past 2^63 - 1 (the total printed was negative)
        fails("batch 2147483647 at 224x224: 9.651e+18 MACs, more than a count can hold (2^63 - 1)", "macs", "--arch",
                "swin-t", "--size", "224x224", "--batch", "2147483647");
        // the largest batch that fits: the total is the batch times the one-image total
        long one = org.sparsevit.macs.MacCounter.count(org.sparsevit.model.SwinConfig.preset("swin-t"), 224, 224, 1).total();
        int batch = (int) Math.min(Integer.MAX_VALUE, Long.MAX_VALUE / one);
        assertEquals(one * batch, org.sparsevit.macs.MacCounter.count(org.sparsevit.model.SwinConfig.preset("swin-t"),
                224, 224, batch).total());
        CliTest.Result r = CliTest.run("macs", "--arch", "swin-t", "--size", "224x224", "--batch", Integer.toString(batch));
        assertEquals(0, r.code(), r.err());
        assertEquals(String.format(java.util.Locale.ROOT, "total GMACs: %.2f", one * (double) batch / 1e9), lastLine(r.out()));
    }

    /** demo checks every option before it runs or writes anything. */
    @Test
    void demoChecksItsOptionsFirst() {
        for (String it : new String[]{"0", "-3"}) {
            CliTest.Result r = fails("--iters must be positive, got " + it, "demo", "--iters", it, "--backend", "cpu");
            assertFalse(r.out().contains("classify"), r.out());
        }
        CliTest.Result r = fails("--backbone-size '0x0' is not HxW with positive integers", "demo", "--backbone-size", "0x0",
                "--backend", "cpu");
        assertEquals("", r.out());
        r = fails("sparsity: ", "demo", "--sparsity", "0.5,0.5/0,0", "--backend", "cpu");
        assertEquals("", r.out());
        fails("--input-size sets the images that --save-input writes, but no --save-input is given", "demo",
                "--input-size", "64x64");
        fails("--input-batch sets the images that --save-input writes, but no --save-input is given", "demo",
                "--save-weights", tmp.resolve("w.safetensors").toString(), "--input-batch", "2");
        assertFalse(Files.exists(tmp.resolve("w.safetensors")));
    }

    /** One NaN or infinite input value made every output NaN with exit 0; it is refused naming the file and where. */
    @Test
    void nonFiniteInputsAreRefused() {
        org.sparsevit.tensor.HostTensor x = org.sparsevit.io.Npy.read(CliTest.sv("sv-200x300-cfg.input.npy"));
        float[] d = x.data().clone();
        d[(2 * 200 + 7) * 300 + 11] = Float.NaN;
        d[d.length - 1] = Float.NEGATIVE_INFINITY;
        Path bad = tmp.resolve("bad.npy");
        org.sparsevit.io.Npy.write(bad, new org.sparsevit.tensor.HostTensor(d, x.shape()));
        Path out = tmp.resolve("out");
        fails(bad + ": input holds 1 NaN value(s) and 1 infinite value(s), the first at [0, 2, 7, 11]", "run", "--weights",
                CliTest.sv("sparsevit-mini.safetensors").toString(), "--input", bad.toString(), "--output", out.toString(),
                "--backend", "cpu");
        assertFalse(Files.exists(out.resolve("out0.npy")));
        d[(2 * 200 + 7) * 300 + 11] = 0;
        d[d.length - 1] = Float.POSITIVE_INFINITY;
        org.sparsevit.io.Npy.write(bad, new org.sparsevit.tensor.HostTensor(d, x.shape()));
        fails(bad + ": input holds 1 infinite value(s), the first at [0, 2, 199, 299]", "run", "--weights",
                CliTest.sv("sparsevit-mini.safetensors").toString(), "--input", bad.toString(), "--output", out.toString(),
                "--backend", "cpu");
    }

    static String rows(String p50) {
        return "[{\"impl\": \"onnxruntime-cpu\", \"arch\": \"swin-t\", \"task\": \"classification\", \"size\":"
                + " \"224x224\", \"batch\": 1, \"precision\": \"fp32\", \"backend\": \"cpu\", \"sparsity\": \"dense\","
                + " \"gmacs\": 0, \"p50_ms\": 240, \"p90_ms\": 250, \"iters\": 3}, {\"impl\": \"onnxruntime-cpu\","
                + " \"arch\": \"swin-t\", \"size\": \"224x224\", \"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\","
                + " \"p50_ms\": " + p50 + "}]";
    }

    /** report: what is not a results file or rows, bad row values, and unwritable places are named. */
    @Test
    void reportRefusesWhatItCannotReportAndNamesWhereItCannotWrite() throws Exception {
        Path good = tmp.resolve("rows.json");
        Files.writeString(good, rows("480"));
        Path out = tmp.resolve("rep");
        CliTest.Result ok = CliTest.run("report", good.toString(), "--out", out.toString(), "--no-plots");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(ok.out().contains("0 rows, 2 peer rows"), ok.out());
        // peer rows whose timings are not positive numbers
        for (String p50 : new String[]{"\"fast\"", "-5", "0", "null"}) {
            Path bad = tmp.resolve("bad.json");
            Files.writeString(bad, rows(p50));
            fails(bad + ": row 1 (onnxruntime-cpu 224x224 dense): p50_ms " + p50 + " is not a positive number", "report",
                    bad.toString(), "--out", tmp.resolve("r2").toString(), "--no-plots");
        }
        Path batch = tmp.resolve("batch.json");
        Files.writeString(batch, rows("480").replace("\"batch\": 2", "\"batch\": 1.5"));
        fails(batch + ": row 1 (onnxruntime-cpu 224x224 dense): batch 1.5 is not a positive integer", "report",
                batch.toString(), "--out", tmp.resolve("r2").toString(), "--no-plots");
        // the case of a row: size, batch, arch, precision and sparsity as bench and the peers' scripts write them
        String[][] cases = {
            {"\"size\": \"224x224\", \"batch\": 2", "\"size\": \"abc\", \"batch\": 2",
                "(onnxruntime-cpu abc dense): size \"abc\" is not HxW with positive integers"},
            {"\"size\": \"224x224\", \"batch\": 2", "\"size\": \"0x224\", \"batch\": 2",
                "size \"0x224\" is not HxW"},
            {"\"size\": \"224x224\", \"batch\": 2", "\"size\": 224, \"batch\": 2", "size 224 is not HxW"},
            {"\"size\": \"224x224\", \"batch\": 2", "\"size\": \"224x99999999999\", \"batch\": 2",
                "size \"224x99999999999\" is not HxW"},
            {"\"batch\": 2, ", "", "(onnxruntime-cpu 224x224 dense): no batch"},
            {"\"batch\": 2", "\"batch\": -3", "batch -3 is not a positive integer"},
            {"\"arch\": \"swin-t\", \"size\": \"224x224\", \"batch\": 2", "\"size\": \"224x224\", \"batch\": 2",
                "(onnxruntime-cpu 224x224 dense): no arch"},
            {"\"arch\": \"swin-t\", \"size\": \"224x224\", \"batch\": 2",
                "\"arch\": \"\", \"size\": \"224x224\", \"batch\": 2", "arch \"\" is not a name"},
            {"\"batch\": 2, \"precision\": \"fp32\"", "\"batch\": 2", "no precision"},
            {"\"batch\": 2, \"precision\": \"fp32\"", "\"batch\": 2, \"precision\": 16", "precision 16 is not a name"},
            {"\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\"",
                "\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"0.5,banana\"",
                "(onnxruntime-cpu 224x224 0.5,banana): sparsity \"0.5,banana\" is not dense, uniform:R"},
            {"\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\"",
                "\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"uniform:1.5\"", "sparsity \"uniform:1.5\""},
            {"\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\"",
                "\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"paper-9\"", "sparsity \"paper-9\""},
            {"\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\"",
                "\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": 0.5", "sparsity 0.5 is not"},
        };
        for (String[] c : cases) {
            String second = rows("480").substring(rows("480").indexOf("}, {"));
            assertTrue(second.contains(c[0]), c[0]);
            Path bad = tmp.resolve("case.json");
            Files.writeString(bad, rows("480").replace(second, second.replace(c[0], c[1])));
            CliTest.Result r = fails(bad + ": row 1 (onnxruntime-cpu ", "report", bad.toString(), "--out",
                    tmp.resolve("r2").toString(), "--no-plots");
            assertTrue(r.err().contains(c[2]), r.err());
        }
        assertFalse(Files.exists(tmp.resolve("r2")));
        // the forms a row's sparsity really takes (bench labels rows with the --sparsity given)
        for (String sp : new String[]{"uniform:0.6", "paper-3", "0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0",
            "configs/searched.json", "{\\\"stages\\\": [[0.5, 0.5]]}"}) {
            Path fine = tmp.resolve("fine.json");
            Files.writeString(fine, rows("480").replace("\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"dense\"",
                    "\"batch\": 2, \"precision\": \"fp32\", \"sparsity\": \"" + sp + "\""));
            CliTest.Result r = CliTest.run("report", fine.toString(), "--out", tmp.resolve("fine").toString(), "--no-plots");
            assertEquals(0, r.code(), sp + ": " + r.err());
        }
        // a JSON object that is not a results.json (a kept.json), given as a file or in a directory
        Path kept = CliTest.sv("sv-224-cfg.kept.json");
        fails(kept + ": a JSON object without \"rows\" or \"peers\" is not a results.json", "report", kept.toString(),
                "--out", tmp.resolve("r3").toString(), "--no-plots");
        Path dir = Files.createDirectories(tmp.resolve("call1"));
        Files.writeString(dir.resolve("results.json"), "{\"arch\": \"swin-t\", \"entries\": []}");
        fails(dir.resolve("results.json") + ": a JSON object without \"rows\" or \"peers\"", "report", dir.toString(),
                "--out", tmp.resolve("r3").toString(), "--no-plots");
        assertFalse(Files.exists(tmp.resolve("r3")));
        // --out a file, below a file, a report file that cannot be written; --notes a directory
        Path afile = Files.writeString(tmp.resolve("afile"), "x");
        fails("--out " + afile + ": a file exists there (the report is a directory)", "report", good.toString(), "--out",
                afile.toString(), "--no-plots");
        assertEquals("x", Files.readString(afile));
        fails("--out " + afile.resolve("rep") + ": cannot create the report directory (", "report", good.toString(),
                "--out", afile.resolve("rep").toString(), "--no-plots");
        Path blocked = Files.createDirectories(tmp.resolve("blocked").resolve("README.md"));
        fails("cannot write " + blocked + " (Is a directory)", "report", good.toString(), "--out",
                blocked.getParent().toString(), "--no-plots");
        fails("--notes " + tmp + ": is a directory, not a Markdown file", "report", good.toString(), "--out",
                tmp.resolve("r4").toString(), "--notes", tmp.toString(), "--no-plots");
        assertFalse(Files.exists(tmp.resolve("r4")));
    }

    /** info checks --batch before printing anything; options have --help descriptions. */
    @Test
    void infoChecksFirstAndEveryOptionIsDescribed() {
        CliTest.Result r = fails("--batch must be positive, got 0", "info", "--weights",
                CliTest.sv("sparsevit-mini.safetensors").toString(), "--batch", "0");
        assertEquals("", r.out());
        r = fails("--size '0x4' is not HxW", "info", "--weights", CliTest.sv("sparsevit-mini.safetensors").toString(),
                "--size", "0x4");
        assertEquals("", r.out());
        for (String cmd : new String[]{"info", "viz", "demo", "macs", "run", "report"}) {
            picocli.CommandLine.Model.CommandSpec spec = new picocli.CommandLine(new Main()).getSubcommands().get(cmd)
                    .getCommandSpec();
            for (picocli.CommandLine.Model.OptionSpec o : spec.options()) {
                String d = String.join(" ", o.description()).strip();
                assertFalse(d.isEmpty(), cmd + " " + o.longestName() + " has no --help description");
            }
        }
    }

    /** File errors that reach the command line's handler name the file and the reason, with exit code 1. */
    @Test
    void fileErrorsAreNamed() {
        assertEquals("/x/y: permission denied", Main.message(new java.nio.file.AccessDeniedException("/x/y")));
        assertEquals("/x/y: Is a directory", Main.message(new java.io.UncheckedIOException(
                new java.nio.file.FileSystemException("/x/y", null, "Is a directory"))));
        assertEquals("/x/y: no such file or directory", Main.message(new java.nio.file.NoSuchFileException("/x/y")));
    }
}

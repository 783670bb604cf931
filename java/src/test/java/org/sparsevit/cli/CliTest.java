package org.sparsevit.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.Fixtures;
import org.sparsevit.Golden;
import org.sparsevit.TestImages;
import org.sparsevit.io.Npy;
import org.sparsevit.tensor.HostTensor;

/** The command-line contract: outputs, and one clear line for bad input. */
class CliTest {
    @TempDir
    Path tmp;

    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.execute(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Path swin(String n) {
        return Fixtures.file("swin-reference", n);
    }

    static Path sv(String n) {
        return Fixtures.file("sparsevit-reference", n);
    }

    @Test
    void runWritesLogitsForAClassifier() {
        Path out = tmp.resolve("cls");
        Result r = run("run", "--weights", swin("swin-mini-cls.safetensors").toString(), "--input",
                swin("swin-mini-cls.input.npy").toString(), "--output", out.toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        Golden.assertClose("logits", Npy.read(swin("swin-mini-cls.logits.npy")), Npy.read(out.resolve("logits.npy")), 1e-4);
    }

    static Path hf(String n) {
        return Fixtures.resource("hf", n);
    }

    /** --labels names the top-5: Hugging Face config.json (id2label) or one name per line; bad files are named. */
    @Test
    void runNamesTheTopClassesFromALabelsFile() throws Exception {
        HostTensor logits = Npy.read(hf("hf-cls.logits.npy"));
        int best = 0;
        for (int i = 1; i < logits.dim(1); i++) {
            best = logits.data()[i] > logits.data()[best] ? i : best;
        }
        StringBuilder id2label = new StringBuilder("{\"model_type\": \"swin\", \"id2label\": {");
        StringBuilder lines = new StringBuilder();
        for (int i = 0; i < 10; i++) {
            id2label.append(i == 0 ? "" : ", ").append('"').append(9 - i).append("\": \"class").append(9 - i).append('"');
            lines.append("name").append(i).append('\n');
        }
        Path config = java.nio.file.Files.writeString(tmp.resolve("config.json"), id2label + "}}");
        Path txt = java.nio.file.Files.writeString(tmp.resolve("labels.txt"), lines.toString());
        String[] base = {"run", "--weights", hf("hf-cls.safetensors").toString(), "--input", hf("hf-cls.input.npy").toString(),
                "--output", tmp.resolve("o").toString(), "--backend", "cpu", "--labels"};
        Result r = run(concat(base, config.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("top-5 classes (image 0): " + best + " class" + best + " ("), r.out());
        Result t = run(concat(base, txt.toString()));
        assertEquals(0, t.code(), t.err());
        assertTrue(t.out().contains("top-5 classes (image 0): " + best + " name" + best + " ("), t.out());

        Path few = java.nio.file.Files.writeString(tmp.resolve("few.txt"), "a\nb\n");
        Result f = run(concat(base, few.toString()));
        assertEquals(1, f.code());
        assertTrue(f.err().contains(few + ": 2 class names, but the classifier has 10 classes"), f.err());
        Path bom = java.nio.file.Files.writeString(tmp.resolve("bom.txt"), "\uFEFF\r\n" + lines.toString().replace("\n", "\r\n")
                .replaceFirst("name0\r\n", "") + "\r\n\r\n");   // a BOM, CRLF, class 0 unnamed, trailing blank lines
        Result bo = run(concat(base, bom.toString()));
        assertEquals(0, bo.code(), bo.err());
        assertTrue(bo.out().contains("top-5 classes (image 0): " + best + " " + (best == 0 ? "" : "name" + best) + " ("),
                bo.out());
        Path nul = java.nio.file.Files.writeString(tmp.resolve("null.json"), "[\"a\", null]");
        assertTrue(run(concat(base, nul.toString())).err().contains(nul + ": class names must be strings or numbers, found null"));
        Path noMap = java.nio.file.Files.writeString(tmp.resolve("nomap.json"), "{\"model_type\": \"swin\"}");
        Result n = run(concat(base, noMap.toString()));
        assertTrue(n.err().contains(noMap + ": a JSON object without id2label"), n.err());
        Result bb = run("run", "--weights", hf("hf-bb.safetensors").toString(), "--input", hf("hf-bb.input.npy").toString(),
                "--output", tmp.resolve("b").toString(), "--backend", "cpu", "--labels", txt.toString());
        assertEquals(1, bb.code());
        assertTrue(bb.err().contains("--labels: " + hf("hf-bb.safetensors") + " is a backbone"), bb.err());
    }

    static String[] concat(String[] a, String b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + 1);
        out[a.length] = b;
        return out;
    }

    @Test
    void runWritesFourBackboneOutputsAndKeptWindows() throws Exception {
        Path out = tmp.resolve("sv");
        Path kept = tmp.resolve("kept.json");
        Result r = run("run", "--weights", sv("sparsevit-mini.safetensors").toString(), "--input",
                sv("sv-200x300-cfg.input.npy").toString(), "--output", out.toString(), "--backend", "auto",
                "--sparsity", "0.3,0.3/0.4,0.4/0.1,0.1,0.6,0.6/0.5,0.5", "--dump-kept", kept.toString());
        assertEquals(0, r.code(), r.err());
        for (int s = 0; s < 4; s++) {
            Golden.assertClose("out" + s, Npy.read(sv("sv-200x300-cfg.out" + s + ".npy")),
                    Npy.read(out.resolve("out" + s + ".npy")), 1e-4);
        }
        String json = Files.readString(kept);
        assertTrue(json.contains("\"selection_computed_here\""), json.substring(0, Math.min(200, json.length())));
        // the file the fixture's sparsity.json form is also accepted
        Result r2 = run("run", "--weights", sv("sparsevit-mini.safetensors").toString(), "--input",
                sv("sv-224-cfg.input.npy").toString(), "--output", tmp.resolve("sv2").toString(), "--backend", "cpu",
                "--sparsity", sv("sv-224-cfg.sparsity.json").toString());
        assertEquals(0, r2.code(), r2.err());
        Golden.assertClose("out0", Npy.read(sv("sv-224-cfg.out0.npy")), Npy.read(tmp.resolve("sv2").resolve("out0.npy")), 1e-4);
    }

    @Test
    void runReproducesTheBackboneFromAPrefixedCopyWithoutMetadata() {
        // a detector-style checkpoint: every key under "backbone.", no __metadata__ (architecture from shapes)
        java.util.Map<String, org.sparsevit.tensor.HostTensor> m = new java.util.LinkedHashMap<>();
        try (org.sparsevit.io.Safetensors st = org.sparsevit.io.Safetensors.open(swin("swin-mini-backbone.safetensors"))) {
            for (String n : st.names()) {
                m.put("backbone." + n, st.read(n));
            }
        }
        Path w = tmp.resolve("detector.safetensors");
        org.sparsevit.io.Safetensors.write(w, m, java.util.Map.of(), org.sparsevit.tensor.DType.F32);
        Path out = tmp.resolve("bb");
        Result r = run("run", "--weights", w.toString(), "--input", swin("swin-mini-backbone.input.npy").toString(),
                "--output", out.toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        for (int s = 0; s < 4; s++) {
            Golden.assertClose("out" + s, Npy.read(swin("swin-mini-backbone.out" + s + ".npy")),
                    Npy.read(out.resolve("out" + s + ".npy")), 1e-4);
        }
    }

    @Test
    void searchAndLatencyCommands() throws Exception {
        Path best = tmp.resolve("best.json");
        Result r = run("search", "--arch", "swin-t", "--backbone", "--size", "64x64", "--gmacs", "0.1:0.3",
                "--calib", "1", "--budget", "12", "--backend", "cpu", "--out", best.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("generation 0: best score"), r.out());
        String json = Files.readString(best);
        assertTrue(json.contains("\"stages\"") && json.contains("\"gmacs\""), json);
        Result l = run("latency", "--arch", "swin-t", "--backbone", "--size", "64x64", "--iters", "4", "--warmup", "1",
                "--backend", "cpu", "--sparsity", "uniform:0.5", "--json", tmp.resolve("lat.json").toString());
        assertEquals(0, l.code(), l.err());
        assertTrue(l.out().contains("trimmed mean of 4"), l.out());
        Result bad = run("search", "--size", "64x64", "--out", best.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("give a constraint window"), bad.err());
        bad = run("search", "--size", "64x64", "--gmacs", "0.1:0.3", "--time-limit", "-1", "--out", best.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--time-limit must be a number of seconds >= 0, got -1.0"), bad.err());
    }

    @Test
    void badInputGetsOneLineAndNonZeroExit() throws Exception {
        Path bogus = tmp.resolve("bogus.safetensors");
        Files.write(bogus, new byte[]{1, 2, 3});
        Result r = run("run", "--weights", bogus.toString(), "--input", swin("swin-mini-cls.input.npy").toString(),
                "--output", tmp.resolve("o").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("error: ") && r.err().contains("bogus.safetensors"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose");

        Result bad = run("run", "--weights", sv("sparsevit-mini.safetensors").toString(), "--input",
                sv("sv-224-cfg.input.npy").toString(), "--output", tmp.resolve("o2").toString(), "--backend", "cpu",
                "--sparsity", "0.3,0.3/0,0/0.1,0.1,0.2/0,0");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("stage 2"), bad.err());

        Result cuda = run("run", "--weights", sv("sparsevit-mini.safetensors").toString(), "--input",
                sv("sv-224-cfg.input.npy").toString(), "--output", tmp.resolve("o3").toString(), "--backend", "cuda");
        if (cuda.code() != 0) {
            assertTrue(cuda.err().startsWith("error: --backend cuda: no usable GPU"), cuda.err());
        }
    }

    static Path png(Path dir, int w, int h) throws Exception {
        Path p = dir.resolve("frame.png");
        TestImages.write(p, w, h, (x, y) -> ((x * 255 / w) << 16) | ((y * 255 / h) << 8) | 90);
        return p;
    }

    @Test
    @Tag("awt")
    void imagesRunThroughTheClassifierAndTheViz() throws Exception {
        Path img = png(tmp, 320, 240);
        Result r = run("run", "--weights", swin("swin-mini-cls.safetensors").toString(), "--input", img.toString(),
                "--output", tmp.resolve("img").toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("top-5 classes (image 0):"), r.out());
        assertEquals(10, Npy.read(tmp.resolve("img").resolve("logits.npy")).dim(1));
        Path kept = tmp.resolve("kept.png");
        Result v = run("viz", "--weights", sv("sparsevit-mini.safetensors").toString(), "--image", img.toString(),
                "--sparsity", "0.5,0.5/0.5,0.5/0.3,0.3,0.5,0.5/0,0", "--output", kept.toString(), "--backend", "cpu");
        assertEquals(0, v.code(), v.err());
        int width = TestImages.size(kept)[0];
        assertTrue(width >= 4 * 320, "one panel per stage, got width " + width);
        Result bad = run("run", "--weights", swin("swin-mini-cls.safetensors").toString(), "--input",
                tmp.resolve("missing.png").toString(), "--output", tmp.resolve("x").toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("no such image file"), bad.err());
    }

    /** A small backbone image: each stage's caption stays in its own panel, apart from the next one's. */
    @Test
    @Tag("awt")
    void vizCaptionsOfSmallImagesDoNotOverlap() throws Exception {
        Path img = png(tmp, 96, 80);
        Path kept = tmp.resolve("small.png");
        Result v = run("viz", "--weights", sv("sparsevit-mini.safetensors").toString(), "--image", img.toString(),
                "--sparsity", "uniform:0.5", "--output", kept.toString(), "--backend", "cpu");
        assertEquals(0, v.code(), v.err());
        java.awt.image.BufferedImage out = javax.imageio.ImageIO.read(kept.toFile());
        // the columns of the caption band holding text, in runs: one run per caption, apart by more than a space
        int runs = 0;
        int blank = out.getWidth();
        for (int x = 0; x < out.getWidth(); x++) {
            boolean ink = false;
            for (int y = 0; y < 26; y++) {
                int rgb = out.getRGB(x, y);
                ink |= ((rgb >> 16) & 0xff) + ((rgb >> 8) & 0xff) + (rgb & 0xff) < 3 * 160;
            }
            if (ink && blank >= 12) {
                runs++;
            }
            blank = ink ? 0 : blank + 1;
        }
        assertEquals(4, runs, "four captions apart from each other in a " + out.getWidth() + "x" + out.getHeight()
                + " picture");
        assertEquals(80 + 28, out.getHeight());
    }

    @Test
    void demoSavesWeightsAndAnInputThatRunReads() {
        Path w = tmp.resolve("t.safetensors");
        Path x = tmp.resolve("x.npy");
        Result r = run("demo", "--save-weights", w.toString(), "--save-input", x.toString(), "--input-size", "64x48",
                "--input-batch", "2", "--seed", "9");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("28,288,354 parameters"), r.out());
        assertFalse(r.out().contains("classify"), "nothing is run when saving: " + r.out());
        org.sparsevit.model.SwinWeights loaded = org.sparsevit.model.SwinWeights.load(w);
        assertEquals(org.sparsevit.model.SwinConfig.preset("swin-t"), loaded.config());
        org.sparsevit.model.SwinWeights seeded = org.sparsevit.model.SwinWeights.random(loaded.config(), 9);
        assertEquals(seeded.get("head.weight"), loaded.get("head.weight"));
        assertEquals(DemoCommand.randomImages(2, 64, 48, 10), Npy.read(x));
        Path out = tmp.resolve("out");
        r = run("run", "--weights", w.toString(), "--input", x.toString(), "--output", out.toString(), "--backend", "cpu");
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new int[]{2, 1000}, Npy.read(out.resolve("logits.npy")).shape());
        r = run("demo", "--save-input", x.toString(), "--input-batch", "0");
        assertEquals(1, r.code());
        assertEquals("error: --input-batch must be positive, got 0", r.err().strip());
    }

    @Test
    void macsPrintsTotalLast() {
        Result r = run("macs", "--arch", "swin-t", "--backbone", "--size", "672x672", "--batch", "4", "--sparsity",
                "0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0");
        assertEquals(0, r.code(), r.err());
        String last = r.out().strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("total GMACs: "), last);
        double g = Double.parseDouble(last.substring("total GMACs: ".length()));
        assertEquals(139.5, g, 0.2);
    }

    @Test
    void infoPrintsInferredArchitecture() {
        Result r = run("info", "--weights", swin("swin-mini-backbone.safetensors").toString(), "--size", "200x300");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("backbone"), r.out());
        assertTrue(r.out().contains("depths=[2, 2, 4, 2]"), r.out());
    }
}

package org.sparsevit.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparsevit.SparseVitException;
import org.sparsevit.TestImages;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.io.Images;
import org.sparsevit.model.CheckpointLayout;
import org.sparsevit.model.MergeOrder;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;

/** The built-in evaluators on tiny random models (CPU). */
class SearchEvaluatorTest {
    static final SwinConfig BACKBONE = new SwinConfig(16, new int[]{2, 2, 2, 2}, new int[]{1, 1, 2, 2}, 7, 4, 4, 3,
            0, Task.BACKBONE, 64, CheckpointLayout.SWIN_DETECTION, MergeOrder.CONCAT, 1e-5f);
    static final SwinConfig CLASSIFIER = BACKBONE.withTask(Task.CLASSIFICATION, 3);

    @TempDir
    Path tmp;

    /**
     * A built-in evaluator names its measure, its data and its model (weights, precision), so a search log is only
     * resumed with the same: the same setup describes itself the same way, another seed, input or precision does not.
     */
    @Test
    @Tag("awt")
    void evaluatorsDescribeTheirDataAndModel() throws IOException {
        HostTensor x = FidelityEvaluator.syntheticInputs(2, 64, 64, 7);
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(BACKBONE, 2), be);
             SwinModel same = new SwinModel(SwinWeights.random(BACKBONE, 2), be);
             SwinModel other = new SwinModel(SwinWeights.random(BACKBONE, 3), be);
             CpuBackend half = new CpuBackend(org.sparsevit.backend.Precision.FP16);
             SwinModel fp16 = new SwinModel(SwinWeights.random(BACKBONE, 2), half)) {
            String d = new FidelityEvaluator(m, x, BACKBONE.defaultPadding()).describe();
            assertTrue(d.startsWith("fidelity (cosine similarity of backbone features) on 2 calibration images "), d);
            assertTrue(d.contains("weights " + SwinWeights.random(BACKBONE, 2).fingerprint() + ", FP32 on cpu"), d);
            assertEquals(d, new FidelityEvaluator(same, x, BACKBONE.defaultPadding()).describe());
            assertNotEquals(d, new FidelityEvaluator(m, x, BACKBONE.defaultPadding(), 1).describe(), "batch size");
            assertNotEquals(d, new FidelityEvaluator(other, x, BACKBONE.defaultPadding()).describe());
            assertNotEquals(d, new FidelityEvaluator(m, FidelityEvaluator.syntheticInputs(2, 64, 64, 8),
                    BACKBONE.defaultPadding()).describe());
            assertNotEquals(d, new FidelityEvaluator(fp16, x, BACKBONE.defaultPadding()).describe());
        }
        Path folder = tmp.resolve("labelled");
        Random r = new Random(1);
        for (String cls : new String[]{"a", "b"}) {
            Files.createDirectories(folder.resolve(cls));
            TestImages.random(folder.resolve(cls + "/0.png"), 40, 40, r);
        }
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(CLASSIFIER, 2), be)) {
            String d = new Top1Evaluator(m, folder, 2, CLASSIFIER.defaultPadding()).describe();
            assertTrue(d.startsWith("top-1 accuracy on " + folder.toAbsolutePath() + " (2 images of 2 classes "), d);
            TestImages.random(folder.resolve("b/0.png"), 40, 40, r);
            assertNotEquals(d, new Top1Evaluator(m, folder, 2, CLASSIFIER.defaultPadding()).describe(),
                    "another image");
        }
    }

    @Test
    void fidelityOfABackboneIsOneWhenDenseAndLowerWhenPruned() {
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(BACKBONE, 2), be)) {
            HostTensor x = FidelityEvaluator.syntheticInputs(3, 64, 64, 7);
            FidelityEvaluator one = new FidelityEvaluator(m, x, BACKBONE.defaultPadding());
            FidelityEvaluator two = new FidelityEvaluator(m, x, BACKBONE.defaultPadding(), 2);
            assertEquals(3, two.images());
            List<SparsityConfig> cs = List.of(SparsityConfig.dense(BACKBONE),
                    SparsityConfig.parseCompact("0.5,0.5/0.3,0.3/0,0/0,0"),
                    SparsityConfig.parseCompact("0.8,0.8/0.8,0.8/0.8,0.8/0.8,0.8"));
            double[] a = one.score(cs);
            double[] b = two.score(cs);
            assertEquals(1.0, a[0], 1e-6);
            assertTrue(a[1] < 1 - 1e-4 && a[2] < a[1], java.util.Arrays.toString(a));
            for (int i = 0; i < a.length; i++) {
                assertEquals(a[i], b[i], 1e-5, "batching changes the score of " + cs.get(i));
            }
            assertEquals(FidelityEvaluator.syntheticInputs(3, 64, 64, 7), x);
        }
    }

    @Test
    void fidelityOfAClassifierIsTopOneAgreement() {
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(CLASSIFIER, 2), be)) {
            FidelityEvaluator f = new FidelityEvaluator(m, FidelityEvaluator.syntheticInputs(4, 64, 64, 1),
                    CLASSIFIER.defaultPadding(), 3);
            double[] s = f.score(List.of(SparsityConfig.dense(CLASSIFIER),
                    SparsityConfig.uniform(CLASSIFIER.depths(), 0.8)));
            // agreement 1 plus 1e-3 times a cosine of 1
            assertEquals(1.001, s[0], 1e-6);
            assertTrue(s[1] <= s[0], java.util.Arrays.toString(s));
            double agreement = Math.floor(s[1] * 4 + 1e-9) / 4;
            assertTrue(s[1] - agreement <= 1e-3 + 1e-9, java.util.Arrays.toString(s));
        }
    }

    @Test
    @Tag("awt")
    void topOneOnALabelledFolder() throws IOException {
        Random r = new Random(3);
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (String cls : new String[]{"apple", "banana"}) {
            Path dir = Files.createDirectories(tmp.resolve("data").resolve(cls));
            for (int i = 0; i < 3; i++) {
                Path p = dir.resolve("img" + i + ".png");
                TestImages.random(p, 80, 72, r);
                files.add(p);
                labels.add(cls.equals("apple") ? 0 : 1);
            }
            Files.writeString(dir.resolve("notes.txt"), "not an image");
        }
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(CLASSIFIER, 5), be)) {
            Top1Evaluator t = new Top1Evaluator(m, tmp.resolve("data"), 4, CLASSIFIER.defaultPadding());
            assertEquals(6, t.images());
            List<SparsityConfig> cs = List.of(SparsityConfig.dense(CLASSIFIER),
                    SparsityConfig.uniform(CLASSIFIER.depths(), 0.5));
            double[] acc = t.score(cs);
            for (int c = 0; c < cs.size(); c++) {
                int correct = 0;
                for (int i = 0; i < files.size(); i++) {
                    HostTensor logits = m.forward(Images.load(files.get(i), 64), cs.get(c).ratios(),
                            CLASSIFIER.defaultPadding(), null, null).logits();
                    correct += FidelityEvaluator.argmax(logits.data(), 0, 3) == labels.get(i) ? 1 : 0;
                }
                assertEquals(correct / 6.0, acc[c], 1e-12, "accuracy of " + cs.get(c));
            }
            // more class folders than the model has classes
            for (String extra : new String[]{"cherry", "date"}) {
                Files.createDirectories(tmp.resolve("data").resolve(extra));
            }
            SparseVitException e = assertThrows(SparseVitException.class,
                    () -> new Top1Evaluator(m, tmp.resolve("data"), 4, CLASSIFIER.defaultPadding()));
            assertTrue(e.getMessage().contains("4 class folders, but the model has 3 classes"), e.getMessage());
        }
        try (CpuBackend be = new CpuBackend(); SwinModel m = new SwinModel(SwinWeights.random(BACKBONE, 5), be)) {
            assertThrows(SparseVitException.class,
                    () -> new Top1Evaluator(m, tmp.resolve("data"), 4, BACKBONE.defaultPadding()));
        }
    }

    @Test
    @Tag("awt")
    void calibrationImagesFromAFolder() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("calib/sub"));
        for (int i = 0; i < 3; i++) {
            TestImages.write(dir.resolve("c" + i + ".png"), 50 + i, 40, (x, y) -> 0);
        }
        HostTensor t = FidelityEvaluator.images(tmp.resolve("calib"), 32, 2);
        assertEquals(List.of(2, 3, 32, 32), java.util.Arrays.stream(t.shape()).boxed().toList());
        assertThrows(SparseVitException.class, () -> FidelityEvaluator.images(tmp.resolve("calib/none"), 32, 0));
    }
}

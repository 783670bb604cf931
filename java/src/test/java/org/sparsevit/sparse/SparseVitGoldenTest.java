package org.sparsevit.sparse;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparsevit.Fixtures;
import org.sparsevit.Golden;
import org.sparsevit.backend.cpu.CpuBackend;
import org.sparsevit.io.Npy;
import org.sparsevit.model.KeptListener.BlockRecord;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinOutput;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.tensor.HostTensor;

/** The pruned backbone against the official SparseViT implementation: outputs and kept windows. */
class SparseVitGoldenTest {
    static CpuBackend cpu;
    static SwinModel model;

    @BeforeAll
    static void setUp() {
        cpu = new CpuBackend();
        model = new SwinModel(SwinWeights.load(sv("sparsevit-mini.safetensors")), cpu);
    }

    @AfterAll
    static void tearDown() {
        model.close();
        cpu.close();
    }

    static Path sv(String name) {
        return Fixtures.file("sparsevit-reference", name);
    }

    static double[][] ratios(JsonNode json) {
        JsonNode stages = json.get("stages");
        double[][] r = new double[stages.size()][];
        for (int s = 0; s < r.length; s++) {
            r[s] = new double[stages.get(s).size()];
            for (int j = 0; j < r[s].length; j++) {
                r[s][j] = stages.get(s).get(j).asDouble();
            }
        }
        return r;
    }

    @ParameterizedTest
    @ValueSource(strings = {"sv-224-cfg", "sv-224-dense", "sv-200x300-cfg"})
    void outputsAndKeptWindowsMatchOfficialSparseViT(String name) throws IOException {
        ObjectMapper m = new ObjectMapper();
        double[][] r = ratios(m.readTree(sv(name + ".sparsity.json").toFile()));
        HostTensor input = Npy.read(sv(name + ".input.npy"));
        KeptDump dump = new KeptDump(7, input.dim(0));
        SwinOutput out = model.forward(input, r, PaddingMode.SPARSEVIT, dump, null);
        for (int s = 0; s < 4; s++) {
            Golden.assertClose(name + " out" + s, Npy.read(sv(name + ".out" + s + ".npy")), out.features().get(s), 1e-4);
        }
        JsonNode ref = m.readTree(sv(name + ".kept.json").toFile());
        List<BlockRecord> recs = dump.records();
        int i = 0;
        for (JsonNode stage : ref.get("stages")) {
            for (JsonNode blk : stage.get("blocks")) {
                BlockRecord rec = recs.get(i++);
                String where = name + " stage " + stage.get("stage").asInt() + " block " + blk.get("block").asInt();
                assertEquals(stage.get("stage").asInt(), rec.stage(), where);
                assertEquals(blk.get("block").asInt(), rec.block(), where);
                assertEquals(stage.get("nW").asInt(), rec.grid().numWindows(), where);
                assertEquals(blk.get("pruned").asBoolean(), rec.pruned(), where + " pruned");
                assertEquals(blk.get("k").asInt(), rec.k(), where + " k");
                if (rec.pruned()) {
                    assertEquals(blk.get("selection_computed_here").asBoolean(), rec.builtHere(), where);
                    JsonNode kept = blk.get("kept");
                    for (int b = 0; b < kept.size(); b++) {
                        int[] exp = new int[kept.get(b).size()];
                        for (int q = 0; q < exp.length; q++) {
                            exp[q] = kept.get(b).get(q).asInt();
                        }
                        assertArrayEquals(exp, rec.kept()[b], where + " image " + b + " kept windows");
                    }
                    if (rec.builtHere()) {
                        JsonNode sc = blk.get("window_scores");
                        for (int b = 0; b < sc.size(); b++) {
                            for (int q = 0; q < sc.get(b).size(); q++) {
                                double e = sc.get(b).get(q).asDouble();
                                assertEquals(e, rec.windowScores()[b][q], 1e-5 * Math.max(1, Math.abs(e)), where + " score");
                            }
                        }
                    }
                } else {
                    assertTrue(blk.get("kept").isNull(), where);
                }
            }
        }
        assertEquals(i, recs.size());
    }

    /** With every ratio 0 the pruned path in Swin padding mode is the dense Swin backbone. */
    @Test
    void swinPaddingDiffersFromSparseVitPaddingOnlyWhenGridsPad() {
        HostTensor input = Npy.read(sv("sv-200x300-cfg.input.npy"));
        SwinOutput a = model.forward(input, model.denseRatios(), PaddingMode.SWIN, null, null);
        SwinOutput b = model.forward(input, model.denseRatios(), PaddingMode.SPARSEVIT, null, null);
        double d = Golden.maxAbsDiff(a.features().get(0), b.features().get(0));
        assertTrue(d > 1e-3, "padding modes should differ on a 200x300 input, max diff " + d);
        HostTensor sq = Npy.read(sv("sv-224-dense.input.npy"));
        SwinOutput c = model.forward(sq, model.denseRatios(), PaddingMode.SWIN, null, null);
        SwinOutput e = model.forward(sq, model.denseRatios(), PaddingMode.SPARSEVIT, null, null);
        for (int s = 0; s < 4; s++) {
            assertArrayEquals(c.features().get(s).data(), e.features().get(s).data());
        }
    }
}

package org.sparsevit.cli;

import java.nio.file.Path;
import java.util.Arrays;

import org.sparsevit.SparseVitException;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.model.Task;

/**
 * The model a command runs: a weights file's architecture and task, which an {@code --arch} or {@code --backbone}
 * given beside it must not contradict, or a preset with seeded random weights.
 */
final class ModelChoice {
    private ModelChoice() {
    }

    /**
     * {@code file}'s weights when given (checked with {@link #checkAgainst}), else seeded random weights of
     * {@code arch} (swin-t when null), as a backbone with {@code backbone}.
     */
    static SwinWeights weights(Path file, String arch, boolean backbone, long seed) {
        if (file != null) {
            SwinWeights w = SwinWeights.load(file);
            checkAgainst(file, w.config(), arch, backbone);
            return w;
        }
        SwinConfig cfg = SwinConfig.preset(arch == null ? "swin-t" : arch.strip());
        return SwinWeights.random(backbone ? cfg.withTask(Task.BACKBONE, 0) : cfg, seed);
    }

    /** Refuses an explicit {@code --arch} (null: none given) or {@code --backbone} that contradicts the file. */
    static void checkAgainst(Path file, SwinConfig cfg, String arch, boolean backbone) {
        if (arch != null) {
            String a = arch.strip();
            SwinConfig given = SwinConfig.preset(a);
            if (!sameShape(given, cfg)) {
                throw new SparseVitException("--arch " + a + " does not match the weights (" + file + " is "
                        + shape(cfg) + "; " + a + " is " + shape(given) + ")");
            }
        }
        if (backbone && !cfg.isBackbone()) {
            throw new SparseVitException("--backbone: " + file + " is a classifier (" + cfg.numClasses()
                    + " classes), not a detection backbone; leave out --backbone or give backbone weights");
        }
    }

    /** The architecture presets, by name. */
    private static final String[] PRESETS = {"swin-t", "swin-s", "swin-b", "swin-l", "swin-t-384", "swin-s-384",
            "swin-b-384", "swin-l-384"};

    /** The preset a model has the layers of (swin-t for a Swin-T checkpoint, whatever --arch said), or null. */
    static String presetOf(SwinConfig cfg) {
        for (String p : PRESETS) {
            SwinConfig preset = SwinConfig.preset(p);
            if (sameShape(preset, cfg) && preset.inChans() == cfg.inChans()) {
                return p;
            }
        }
        return null;
    }

    /** Same layers (width, depths, heads, window, patch, MLP ratio): what a sparsity configuration and MACs need. */
    static boolean sameShape(SwinConfig a, SwinConfig b) {
        return a.embedDim() == b.embedDim() && Arrays.equals(a.depths(), b.depths())
                && Arrays.equals(a.heads(), b.heads()) && a.window() == b.window() && a.patchSize() == b.patchSize()
                && a.mlpRatio() == b.mlpRatio();
    }

    static String shape(SwinConfig c) {
        return "C=" + c.embedDim() + ", depths " + Arrays.toString(c.depths()) + ", heads " + Arrays.toString(c.heads())
                + ", window " + c.window();
    }
}

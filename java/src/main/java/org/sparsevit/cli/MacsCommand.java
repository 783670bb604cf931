package org.sparsevit.cli;

import java.util.Locale;
import java.util.concurrent.Callable;

import org.sparsevit.SparseVitException;
import org.sparsevit.macs.MacCounter;
import org.sparsevit.macs.MacReport;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.Task;
import org.sparsevit.sparse.SparsityConfig;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code sparsevit macs}: analytic MACs per stage; the last line is {@code total GMACs: <value>}. */
@Command(name = "macs", mixinStandardHelpOptions = true, description = "Count the MACs a (pruned) Swin executes.")
public final class MacsCommand implements Callable<Integer> {
    @Mixin
    Main.Common common;

    @Option(names = "--arch", required = true, description = "swin-t, swin-s, swin-b, swin-l (or -384 variants).")
    String arch;

    @Option(names = "--backbone", description = "Count the detection backbone (four output norms, no head).")
    boolean backbone;

    @Option(names = "--size", required = true, paramLabel = "HxW", description = "Input height x width (or one number for a square).")
    String size;

    @Option(names = "--batch", defaultValue = "1", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--sparsity", paramLabel = "FILE|COMPACT", description = "Per-block ratios: a JSON file, a compact form like 0.3,0.3/0,0/0.1,0.1,0.2,0.2,0.2,0.2/0,0,"
            + " uniform:R, paper-1..3 (Swin-T) or dense (default).")
    String sparsity;

    @Override
    public Integer call() {
        SwinConfig cfg = SwinConfig.preset(arch);
        if (backbone) {
            cfg = cfg.withTask(Task.BACKBONE, 0);
        }
        int[] hw = parseSize(size);
        if (batch <= 0) {
            throw new SparseVitException("--batch must be positive, got " + batch);
        }
        SparsityConfig sp = sparsity == null ? SparsityConfig.dense(cfg) : SparsityConfig.parse(sparsity, cfg);
        sp.validate(cfg, hw[0], hw[1]);
        MacReport r = MacCounter.count(cfg, hw[0], hw[1], batch, sp);
        System.out.print(r.toTable());
        System.out.printf(Locale.ROOT, "total GMACs: %.2f%n", r.totalGMacs());
        return 0;
    }

    /** The most values one tensor can hold (its data is one Java array). */
    static final long MAX_TENSOR = Integer.MAX_VALUE - 8;

    /** "HxW" (or a single number for a square) to {H, W}, for {@code --size}. */
    static int[] parseSize(String s) {
        return parseSize("--size", s);
    }

    /**
     * "HxW" (or a single number for a square) to {H, W}; {@code option} names the option in errors. A size whose
     * 3-channel image alone would hold more values than one tensor can ({@link #MAX_TENSOR}) is refused.
     */
    static int[] parseSize(String option, String s) {
        String[] p = s.toLowerCase(Locale.ROOT).split("x");
        int h;
        int w;
        try {
            h = Integer.parseInt(p[0].trim());
            w = p.length > 1 ? Integer.parseInt(p[1].trim()) : h;
            if (p.length > 2 || h <= 0 || w <= 0) {
                throw new NumberFormatException();
            }
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            throw new SparseVitException(option + " '" + s + "' is not HxW with positive integers (e.g. 672x672)");
        }
        checkTensor(option + " " + h + "x" + w, new long[]{1, 3, h, w});
        return new int[]{h, w};
    }

    /** Refuses a tensor of more than {@link #MAX_TENSOR} values; {@code what} names what asks for it. */
    static void checkTensor(String what, long[] shape) {
        double n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n > MAX_TENSOR) {
            StringBuilder sb = new StringBuilder();
            for (long d : shape) {
                sb.append(sb.length() == 0 ? "[" : ", ").append(d);
            }
            throw new SparseVitException(String.format(Locale.ROOT, "%s: the images %s] would hold %.4g values, more"
                    + " than one tensor can (2^31 - 1); use a smaller size or batch", what, sb, n));
        }
    }
}

package org.sparsevit.cli;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import javax.imageio.ImageIO;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Backends;
import org.sparsevit.backend.WindowGrid;
import org.sparsevit.io.Images;
import org.sparsevit.model.KeptListener.BlockRecord;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinConfig;
import org.sparsevit.model.SwinModel;
import org.sparsevit.model.SwinWeights;
import org.sparsevit.sparse.KeptDump;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;


/** Renders the kept windows of each stage over the image (used by {@code sparsevit viz}). */
final class KeptImage {
    private KeptImage() {
    }

    static void write(Path weights, Path image, String sparsity, Path output, String backend, String padding) {
        if (Files.isDirectory(output)) {
            throw new SparseVitException(output + ": cannot write the image (Is a directory)");
        }
        String format = format(output);
        SwinWeights w = SwinWeights.load(weights);
        SwinConfig cfg = w.config();
        BufferedImage img = Images.read(image);
        if (!cfg.isBackbone()) {
            img = Images.resizeAndCrop(img, cfg.imgSize());
        }
        HostTensor x = Images.toTensor(img);
        SparsityConfig sp = SparsityConfig.parse(sparsity, cfg);
        sp.validate(cfg, x.dim(2), x.dim(3));
        PaddingMode pad = padding == null ? cfg.defaultPadding() : PaddingMode.parse(padding);
        KeptDump dump = new KeptDump(cfg.window(), 1);
        try (Backend be = Backends.create(backend, System.err::println); SwinModel m = new SwinModel(w, be)) {
            m.forward(x, sp.ratios(), pad, dump, null);
        }
        BufferedImage out = render(img, cfg, dump.records());
        // encoded in memory and written through our own stream: ImageIO.write(File) deletes what is there first
        // (an empty directory too) and prints a stack trace of its own when it cannot open the file
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(out, format, bytes)) {
                throw new SparseVitException(output + ": no " + format + " image writer in this Java runtime");
            }
        } catch (IOException e) {
            throw new SparseVitException(output + ": cannot encode the image (" + e.getMessage() + ")", e);
        }
        try {
            Path parent = output.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.write(output, bytes.toByteArray());
        } catch (IOException e) {
            throw new SparseVitException(output + ": cannot write the image (" + Main.reason(e) + ")", e);
        }
        System.out.println("wrote " + output + " (" + out.getWidth() + "x" + out.getHeight() + ")");
    }

    /** The image format {@code output}'s name asks for: png, or jpeg for .jpg / .jpeg. */
    static String format(Path output) {
        Path name = output.getFileName();
        String n = name == null ? "" : name.toString().toLowerCase(Locale.ROOT);
        if (n.endsWith(".png")) {
            return "png";
        }
        if (n.endsWith(".jpg") || n.endsWith(".jpeg")) {
            return "jpeg";
        }
        throw new SparseVitException(output + ": --output must name a .png, .jpg or .jpeg file");
    }

    static BufferedImage render(BufferedImage img, SwinConfig cfg, List<BlockRecord> records) {
        int ns = cfg.numStages();
        int pw = img.getWidth();
        int ph = img.getHeight();
        int title = 28;
        int gap = 8;
        Font font = new Font(Font.SANS_SERIF, Font.BOLD, 14);
        // per stage: the grid of its first (regular-grid) block, and the pruned block whose kept windows are shown
        WindowGrid[] grids = new WindowGrid[ns];
        BlockRecord[] recs = new BlockRecord[ns];
        String[] labels = new String[ns];
        for (int s = 0; s < ns; s++) {
            for (BlockRecord r : records) {
                if (r.stage() == s && r.block() % 2 == 0) {
                    grids[s] = r.grid();
                    if (r.pruned()) {
                        recs[s] = r;
                        break;
                    }
                }
            }
            if (grids[s] == null) {
                labels[s] = "stage " + s;
            } else {
                int nW = grids[s].numWindows();
                labels[s] = String.format(Locale.ROOT, "stage %d: %d/%d windows kept", s,
                        recs[s] == null ? nW : recs[s].k(), nW);
            }
        }
        // a panel is as wide as its image, or as the widest caption (a small image is centred in it), so that
        // the captions of small backbone images do not run into each other
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        java.awt.FontMetrics fm = pg.getFontMetrics(font);
        int panel = pw;
        for (String label : labels) {
            panel = Math.max(panel, fm.stringWidth(label) + 8);
        }
        pg.dispose();
        BufferedImage out = new BufferedImage(ns * panel + (ns - 1) * gap, ph + title, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, out.getWidth(), out.getHeight());
        g.setFont(font);
        for (int s = 0; s < ns; s++) {
            int p0 = s * (panel + gap);
            int x0 = p0 + (panel - pw) / 2;
            g.drawImage(img, x0, title, null);
            WindowGrid grid = grids[s];
            BlockRecord rec = recs[s];
            if (grid != null) {
                int nW = grid.numWindows();
                boolean[] kept = new boolean[nW];
                if (rec == null) {
                    java.util.Arrays.fill(kept, true);
                } else {
                    for (int wnd : rec.kept()[0]) {
                        kept[wnd] = true;
                    }
                }
                double stride = (double) cfg.patchSize() * (1 << s);
                int side = (int) Math.round(grid.window() * stride);
                for (int wnd = 0; wnd < nW; wnd++) {
                    int wx = x0 + (int) Math.round((wnd % grid.windowCols()) * grid.window() * stride);
                    int wy = title + (int) Math.round((wnd / grid.windowCols()) * grid.window() * stride);
                    int cw = Math.min(side, x0 + pw - wx);
                    int chh = Math.min(side, title + ph - wy);
                    if (cw <= 0 || chh <= 0) {
                        continue;
                    }
                    if (!kept[wnd]) {
                        g.setColor(new Color(0, 0, 0, 170));
                        g.fillRect(wx, wy, cw, chh);
                    } else {
                        g.setColor(new Color(40, 220, 90));
                        g.setStroke(new BasicStroke(Math.max(1f, side / 40f)));
                        g.drawRect(wx, wy, cw - 1, chh - 1);
                    }
                }
            }
            g.setColor(Color.BLACK);
            g.drawString(labels[s], p0 + 4, 19);
        }
        g.dispose();
        return out;
    }
}

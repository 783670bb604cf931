package org.sparsevit.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Minimal PNG charts (Java2D, headless): line charts with several series and horizontal bar charts. */
public final class Charts {
    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(255, 127, 14), new Color(44, 160, 44),
        new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75), new Color(227, 119, 194),
        new Color(127, 127, 127)};

    private Charts() {
    }

    private static Graphics2D canvas(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    private static String num(double v) {
        return Math.abs(v) >= 100 ? String.format(Locale.ROOT, "%.0f", v)
                : Math.abs(v) >= 10 ? String.format(Locale.ROOT, "%.1f", v) : String.format(Locale.ROOT, "%.2f", v);
    }

    /** A line chart: series name to points {x, y}. */
    public static BufferedImage line(String title, String xLabel, String yLabel, Map<String, List<double[]>> series) {
        int w = 900;
        int h = 560;
        int l = 80;
        int r = 330;
        int t = 50;
        int b = 60;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        double xmin = Double.MAX_VALUE;
        double xmax = -Double.MAX_VALUE;
        double ymax = 0;
        for (List<double[]> pts : series.values()) {
            for (double[] p : pts) {
                xmin = Math.min(xmin, p[0]);
                xmax = Math.max(xmax, p[0]);
                ymax = Math.max(ymax, p[1]);
            }
        }
        if (xmin == Double.MAX_VALUE) {
            xmin = 0;
            xmax = 1;
        }
        if (xmax == xmin) {
            xmax = xmin + 1;
        }
        ymax = ymax <= 0 ? 1 : ymax * 1.1;
        int pw = w - l - r;
        int ph = h - t - b;
        axes(g, title, xLabel, yLabel, l, t, pw, ph, xmin, xmax, 0, ymax);
        int i = 0;
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (Map.Entry<String, List<double[]>> e : series.entrySet()) {
            Color c = PALETTE[i % PALETTE.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(2.2f));
            List<double[]> pts = e.getValue().stream().sorted((p, q) -> Double.compare(p[0], q[0])).toList();
            int px = -1;
            int py = -1;
            for (double[] p : pts) {
                int x = l + (int) ((p[0] - xmin) / (xmax - xmin) * pw);
                int y = t + ph - (int) (p[1] / ymax * ph);
                g.fillOval(x - 4, y - 4, 8, 8);
                if (px >= 0) {
                    g.drawLine(px, py, x, y);
                }
                px = x;
                py = y;
            }
            g.fillRect(w - r + 15, t + 10 + 20 * i, 14, 10);
            g.setColor(Color.BLACK);
            g.drawString(e.getKey(), w - r + 35, t + 20 + 20 * i);
            i++;
        }
        g.dispose();
        return img;
    }

    private static void axes(Graphics2D g, String title, String xLabel, String yLabel, int l, int t, int pw, int ph,
                             double xmin, double xmax, double ymin, double ymax) {
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, l, t - 20);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setStroke(new BasicStroke(1f));
        g.drawRect(l, t, pw, ph);
        FontMetrics fm = g.getFontMetrics();
        for (int k = 0; k <= 5; k++) {
            double yv = ymin + (ymax - ymin) * k / 5;
            int y = t + ph - (int) (ph * k / 5.0);
            g.setColor(new Color(225, 225, 225));
            g.drawLine(l + 1, y, l + pw - 1, y);
            g.setColor(Color.BLACK);
            String s = num(yv);
            g.drawString(s, l - 8 - fm.stringWidth(s), y + 4);
            double xv = xmin + (xmax - xmin) * k / 5;
            int x = l + (int) (pw * k / 5.0);
            String xs = num(xv);
            g.drawString(xs, x - fm.stringWidth(xs) / 2, t + ph + 18);
        }
        g.drawString(xLabel, l + pw / 2 - fm.stringWidth(xLabel) / 2, t + ph + 42);
        AffineTransform old = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yLabel, -(t + ph / 2 + fm.stringWidth(yLabel) / 2), l - 55);
        g.setTransform(old);
    }

    /** Horizontal bars: one per label, with its value printed; colors index into the palette per bar group. */
    public static BufferedImage bars(String title, String valueLabel, List<String> labels, double[] values, int[] group) {
        int rowH = 26;
        int r = 90;
        int t = 56;
        // the left margin fits the longest label
        Graphics2D probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB).createGraphics();
        probe.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int longest = 0;
        for (String s : labels) {
            longest = Math.max(longest, probe.getFontMetrics().stringWidth(s));
        }
        probe.dispose();
        int l = Math.max(200, longest + 20);
        int w = l + 640;
        int h = t + 40 + rowH * Math.max(1, labels.size());
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img);
        double max = 0;
        for (double v : values) {
            max = Math.max(max, v);
        }
        max = max <= 0 ? 1 : max;
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
        g.drawString(title, 20, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.drawString(valueLabel, l, t - 8);
        FontMetrics fm = g.getFontMetrics();
        int pw = w - l - r;
        for (int i = 0; i < labels.size(); i++) {
            int y = t + i * rowH;
            int bw = (int) (values[i] / max * pw);
            g.setColor(PALETTE[(group == null ? 0 : group[i]) % PALETTE.length]);
            g.fillRect(l, y + 4, Math.max(1, bw), rowH - 8);
            g.setColor(Color.BLACK);
            String s = labels.get(i);
            g.drawString(s, l - 8 - fm.stringWidth(s), y + rowH / 2 + 4);
            g.drawString(num(values[i]), l + bw + 6, y + rowH / 2 + 4);
        }
        g.dispose();
        return img;
    }
}

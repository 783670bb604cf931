package org.sparsevit.tensor;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * A short identity of host tensors for logs and tables (16 hex digits): SHA-256 over each tensor's name, shape and
 * up to {@value #SAMPLES} of its values, evenly spaced with the first and the last included. Weights of different
 * trainings, or inputs of different images or seeds, differ in every sampled value; a change of a few values
 * between samples goes unseen, so it tells sets apart, it does not prove two sets equal. Costs microseconds per
 * tensor, whatever its size.
 */
public final class Fingerprint {
    /** Values read per tensor at most. */
    public static final int SAMPLES = 4096;

    private Fingerprint() {
    }

    /** Named tensors, in the map's order. */
    public static String of(Map<String, HostTensor> tensors) {
        MessageDigest md = sha256();
        tensors.forEach((name, t) -> add(md, name, t));
        return hex(md);
    }

    /** Unnamed tensors, in order. */
    public static String of(List<HostTensor> tensors) {
        MessageDigest md = sha256();
        for (int i = 0; i < tensors.size(); i++) {
            add(md, Integer.toString(i), tensors.get(i));
        }
        return hex(md);
    }

    /** Rows of doubles, every value (for small tables of numbers, e.g. a latency table's entries). */
    public static String of(double[][] rows) {
        MessageDigest md = sha256();
        ByteBuffer b = ByteBuffer.allocate(8);
        for (double[] row : rows) {
            b.clear();
            md.update(b.putInt(0, row.length).array(), 0, 4);
            for (double v : row) {
                b.clear();
                md.update(b.putDouble(v).array());
            }
        }
        return hex(md);
    }

    private static void add(MessageDigest md, String name, HostTensor t) {
        md.update(name.getBytes(StandardCharsets.UTF_8));
        int[] shape = t.shape();
        float[] d = t.data();
        int n = d.length;
        int k = Math.min(n, SAMPLES);
        ByteBuffer b = ByteBuffer.allocate(4 * (2 + shape.length + k));
        b.putInt(shape.length);
        for (int s : shape) {
            b.putInt(s);
        }
        b.putInt(k);
        for (int i = 0; i < k; i++) {
            long idx = k == 1 ? 0 : (long) i * (n - 1) / (k - 1);
            b.putInt(Float.floatToIntBits(d[(int) idx]));
        }
        md.update(b.array());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java runtime has no SHA-256", e);
        }
    }

    private static String hex(MessageDigest md) {
        return HexFormat.of().formatHex(md.digest(), 0, 8);
    }
}

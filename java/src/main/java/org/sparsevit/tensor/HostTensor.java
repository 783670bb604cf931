package org.sparsevit.tensor;

import java.util.Arrays;

/**
 * A float32 array with a shape, living on the Java heap. Used for weights as loaded from disk,
 * for inputs and outputs crossing the API, and by tests. Row-major (C order).
 *
 * @param data   the values, row-major, length = product of shape
 * @param shape  dimensions, outermost first
 */
public record HostTensor(float[] data, int[] shape) {

    public HostTensor {
        long n = Shapes.numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("HostTensor: shape " + Arrays.toString(shape)
                    + " holds " + n + " elements but data has " + data.length);
        }
    }

    public static HostTensor zeros(int... shape) {
        return new HostTensor(new float[Math.toIntExact(Shapes.numel(shape))], shape.clone());
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long numel() {
        return data.length;
    }

    /** Same data, new shape (same element count). */
    public HostTensor reshape(int... newShape) {
        return new HostTensor(data, newShape.clone());
    }

    /** Largest absolute value (0 for an empty tensor). */
    public float maxAbs() {
        float m = 0;
        for (float v : data) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Override
    public String toString() {
        return "HostTensor" + Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HostTensor h && Arrays.equals(shape, h.shape) && Arrays.equals(data, h.data);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
    }
}

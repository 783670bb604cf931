package org.sparsevit.search;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.sparsevit.backend.CudaTimer;
import org.sparsevit.model.PaddingMode;
import org.sparsevit.model.SwinModel;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * Latency as a service: measures a loaded model at one input size and batch, per sparsity configuration.
 * Warm-up passes, then a fixed number of timed passes (each synchronised; device time from CUDA events on
 * the GPU), reported as the trimmed mean of the middle 50% with p50, min and max. The model is never
 * reloaded; inputs are seeded random.
 */
public final class LatencyMeter implements LatencyModel, AutoCloseable {
    private final SwinModel model;
    private final int warmup;
    private final int iters;
    private final Tensor input;
    private final int height;
    private final int width;
    private final int batch;

    /**
     * One measurement in milliseconds.
     *
     * @param trimmedMeanMs mean of the middle 50% of the timed passes
     * @param p50Ms         median
     * @param minMs         fastest pass
     * @param maxMs         slowest pass
     * @param iters         timed passes
     */
    public record Measurement(double trimmedMeanMs, double p50Ms, double minMs, double maxMs, int iters) {
        /** Relative spread (max - min) / trimmed mean. */
        public double spread() {
            return (maxMs - minMs) / trimmedMeanMs;
        }
    }

    public LatencyMeter(SwinModel model, int height, int width, int batch, int warmup, int iters) {
        if (iters < 4 || warmup < 0) {
            throw new IllegalArgumentException("latency: at least 4 timed iterations and a non-negative warm-up are needed");
        }
        this.model = model;
        this.warmup = warmup;
        this.iters = iters;
        this.height = height;
        this.width = width;
        this.batch = batch;
        HostTensor x = HostTensor.zeros(batch, model.config().inChans(), height, width);
        Random r = new Random(5);
        for (int i = 0; i < x.data().length; i++) {
            x.data()[i] = (float) r.nextGaussian();
        }
        this.input = model.backend().upload(x);
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int batch() {
        return batch;
    }

    public SwinModel model() {
        return model;
    }

    public Measurement measure(SparsityConfig sp) {
        sp.validate(model.config(), height, width);
        double[][] ratios = sp.ratios();
        Runnable pass = () -> model.forwardTensors(input, ratios, PaddingMode.SWIN, null, null).forEach(Tensor::close);
        for (int i = 0; i < warmup; i++) {
            pass.run();
        }
        model.backend().synchronize();
        double[] ms = new double[iters];
        for (int i = 0; i < iters; i++) {
            ms[i] = CudaTimer.timeMs(model.backend(), pass);
        }
        Arrays.sort(ms);
        int lo = iters / 4;
        int hi = iters - iters / 4;
        double sum = 0;
        for (int i = lo; i < hi; i++) {
            sum += ms[i];
        }
        return new Measurement(sum / (hi - lo), ms[iters / 2], ms[0], ms[iters - 1], iters);
    }

    @Override
    public double latencyMs(SparsityConfig config) {
        return measure(config).trimmedMeanMs();
    }

    /** Measures several configurations. */
    public List<Measurement> measureAll(List<SparsityConfig> configs) {
        return configs.stream().map(this::measure).toList();
    }

    @Override
    public void close() {
        input.close();
    }
}

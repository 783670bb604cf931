package org.sparsevit.model;

import java.util.Arrays;
import java.util.List;

import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Captured;
import org.sparsevit.sparse.SparsityConfig;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * One forward configuration of a model (input shape, sparsity, padding) made ready to run many times: on
 * CUDA the whole pass is captured once as a CUDA graph and every {@link #run} is one graph launch (no
 * per-kernel host work, no allocation); on backends that cannot capture (the CPU) each run is an ordinary
 * forward pass. Inputs are copied into the pass's own input buffer. Obtain one with
 * {@link SwinModel#compile} and close it. Threads may share one: their runs take turns (one input buffer, one set
 * of outputs), and on CUDA they also wait for other passes on the same session ({@link Backend#exclusive}).
 */
public final class CompiledForward implements AutoCloseable {
    private final SwinModel model;
    private final Backend be;
    private final int[] inputShape;
    private final double[][] ratios;
    private final PaddingMode padding;
    private final Tensor input;
    private Captured graph;
    private List<Tensor> eagerOutputs = List.of();
    private final String captureFailure;
    private volatile boolean closed;

    CompiledForward(SwinModel model, int[] inputShape, double[][] ratios, PaddingMode padding, boolean allowGraph) {
        this.model = model;
        this.be = model.backend();
        this.inputShape = inputShape.clone();
        this.ratios = ratios;
        this.padding = padding;
        new SparsityConfig(ratios).validate(model.config(), inputShape[2], inputShape[3]);
        this.input = be.zeros(be.storage(), inputShape);
        String failure = null;
        try {
            if (allowGraph && be.capturesGraphs()) {
                // one eager pass first: it loads every kernel and lets the workspace plan the pass
                model.forwardTensors(input, ratios, padding, null, null).forEach(Tensor::close);
                be.synchronize();
                try {
                    graph = be.capture(() -> model.forwardTensors(input, ratios, padding, null, null));
                } catch (RuntimeException e) {
                    failure = e.getMessage();
                    graph = null;
                }
            }
        } catch (RuntimeException e) {
            input.close();
            throw e;
        }
        this.captureFailure = failure;
    }

    /** Whether runs replay a captured CUDA graph (false: eager passes, see {@link #mode}). */
    public boolean captured() {
        return graph != null;
    }

    /** "graph replay", or "eager passes" with the reason when a capture was attempted and failed. */
    public String mode() {
        return graph != null ? "graph replay"
                : "eager passes" + (captureFailure == null ? "" : " (capture failed: " + captureFailure + ")");
    }

    /** The input shape this pass was compiled for, [B, C, H, W]. */
    public int[] inputShape() {
        return inputShape.clone();
    }

    /**
     * Runs the pass on images already on the backend (copied into the pass's input buffer; same shape and
     * storage dtype). The returned tensors belong to this object: they are rewritten by the next run and
     * released by {@link #close}; do not close them. Where threads share this object, one thread's next run can
     * rewrite them while another still reads them: use {@link #run}, which downloads within its turn, or run the
     * upload, this call and the reads in {@link Backend#exclusive}.
     */
    public List<Tensor> runTensors(Tensor images) {
        checkShape(images.shape());
        if (images.dtype() != input.dtype()) {
            throw new IllegalArgumentException("input images are " + images.dtype() + " but this pass stores "
                    + input.dtype());
        }
        return be.exclusive(() -> {
            synchronized (this) {
                checkOpen();
                be.copy(images, input);
                return launch();
            }
        });
    }

    /**
     * Uploads host images, runs the pass and downloads the outputs ([logits] or the four feature maps). Safe to
     * call from several threads: each gets the outputs of its own images.
     */
    public SwinOutput run(HostTensor images) {
        checkShape(images.shape());
        return runFromHost(() -> be.upload(images, be.storage()));
    }

    /**
     * Runs the pass on 8-bit frames: as {@link #run(HostTensor)} on {@code frames.toHostTensor()} (bitwise the same
     * outputs), the input built by the backend ({@link Backend#uploadFrames}: on CUDA from the bytes, on the device).
     * Their {@link Frames#tensorShape()} must be the shape this pass was compiled for.
     */
    public SwinOutput run(Frames frames) {
        if (frames == null) {
            throw new IllegalArgumentException("frames must not be null");
        }
        checkShape(frames.tensorShape());
        return runFromHost(() -> be.uploadFrames(frames, be.storage()));
    }

    /** The host entry points: the upload into the pass's input, the pass and the download, in one turn. */
    private SwinOutput runFromHost(java.util.function.Supplier<Tensor> upload) {
        return be.exclusive(() -> {
            synchronized (this) {
                checkOpen();
                try (Tensor t = upload.get()) {
                    be.copy(t, input);
                }
                return SwinModel.download(be, launch(), model.head() != null);
            }
        });
    }

    private List<Tensor> launch() {
        if (graph != null) {
            graph.replay();
            return graph.outputs();
        }
        eagerOutputs.forEach(Tensor::close);
        eagerOutputs = List.of();
        eagerOutputs = model.forwardTensors(input, ratios, padding, null, null);
        return eagerOutputs;
    }

    private void checkShape(int[] shape) {
        if (!Arrays.equals(shape, inputShape)) {
            throw new IllegalArgumentException("this pass was compiled for input " + Arrays.toString(inputShape)
                    + ", got " + Arrays.toString(shape));
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("compiled forward pass is closed (closing its model closes it too)");
        }
    }

    boolean matches(int[] shape, double[][] r, PaddingMode p) {
        return Arrays.equals(shape, inputShape) && Arrays.deepEquals(r, ratios) && p == padding;
    }

    @Override
    public void close() {
        boolean closedNow = be.exclusive(() -> {
            synchronized (this) {
                if (closed) {
                    return false;
                }
                closed = true;
                if (graph != null) {
                    graph.close();
                }
                eagerOutputs.forEach(Tensor::close);
                input.close();
                return true;
            }
        });
        if (closedNow) {
            model.passClosed(this); // (outside this pass's lock: the model closes its passes holding its own)
        }
    }
}

package org.sparsevit.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.sparsevit.SparseVitException;
import org.sparsevit.backend.Backend;
import org.sparsevit.backend.Workspace;
import org.sparsevit.tensor.DType;
import org.sparsevit.tensor.Frames;
import org.sparsevit.tensor.HostTensor;
import org.sparsevit.tensor.Tensor;

/**
 * A Swin model on one backend, assembled from explicit nodes: patch embedding, then per stage a
 * {@link StageNode} (blocks + SparseViT window selector) followed by {@link PatchMergingNode} (all but the
 * last stage), and either four {@link OutputNormNode}s (backbone) or a {@link HeadNode} (classification).
 * The nodes are public, so callers can run the model stage by stage and take only the features they need.
 *
 * <pre>
 * images [B, 3, H, W]
 *   patch_embed            -> [B, H/4 * W/4, C]
 *   stage0 (+ norm0)       -> [B, H/4 * W/4, C]      (out0: [B, C, H/4, W/4])
 *   merge0, stage1 (+norm1) -> [B, H/8 * W/8, 2C]
 *   merge1, stage2 (+norm2) -> [B, H/16 * W/16, 4C]
 *   merge2, stage3 (+norm3) -> [B, H/32 * W/32, 8C]
 *   head (classification)  -> [B, classes]
 * </pre>
 */
public final class SwinModel implements AutoCloseable {
    private final SwinConfig cfg;
    private final Backend be;
    private final PatchEmbedNode embed;
    private final List<StageNode> stages = new ArrayList<>();
    private final List<PatchMergingNode> merges = new ArrayList<>();
    private final List<OutputNormNode> norms = new ArrayList<>();
    private final HeadNode head;
    private volatile boolean closed;
    /** Compiled passes used by {@link #forward(HostTensor, double[][], PaddingMode, KeptListener, StageObserver)}, most recent last. */
    private final List<CompiledForward> compiled = new ArrayList<>();
    /** Configurations forward() has run once (eagerly) and would compile on their next use. */
    private final List<String> seenOnce = new ArrayList<>();
    private static final int COMPILED_CACHE = 4;
    /** false for a session view (see {@link #session}) */
    private final boolean owner;
    /**
     * Passes handed out by {@link #compile} and not yet closed: closed with this model. Held weakly: one its holder
     * dropped unclosed is not kept alive here.
     */
    private final java.util.Set<CompiledForward> handedOut = Collections.newSetFromMap(new java.util.WeakHashMap<>());
    /** An owner's open session views: closed with it (their passes read its weights). Held weakly, as above. */
    private final java.util.Set<SwinModel> views = Collections.newSetFromMap(new java.util.WeakHashMap<>());
    /** The model a view was made from; null for an owner. */
    private final SwinModel parent;
    /** {@link SwinWeights#fingerprint} of the weights. */
    private final String weightsFingerprint;

    /** Observes the token map after each stage's last block (before patch merging). */
    @FunctionalInterface
    public interface StageObserver {
        void afterStage(int stage, FeatureMap x);
    }

    public SwinModel(SwinWeights weights, Backend backend) {
        this.cfg = weights.config();
        this.be = backend;
        this.embed = new PatchEmbedNode(backend, weights);
        for (int s = 0; s < cfg.numStages(); s++) {
            stages.add(new StageNode(backend, weights, s));
            if (s < cfg.numStages() - 1) {
                merges.add(new PatchMergingNode(backend, weights, s));
            }
            if (cfg.isBackbone()) {
                norms.add(new OutputNormNode(backend, weights, s));
            }
        }
        this.head = cfg.isBackbone() ? null : new HeadNode(backend, weights);
        this.owner = true;
        this.parent = null;
        this.weightsFingerprint = weights.fingerprint();
    }

    private SwinModel(SwinModel src, Backend backend) {
        this.cfg = src.cfg;
        this.be = backend;
        this.embed = new PatchEmbedNode(src.embed, backend);
        src.stages.forEach(s -> stages.add(new StageNode(s, backend)));
        src.merges.forEach(m -> merges.add(new PatchMergingNode(m, backend)));
        src.norms.forEach(n -> norms.add(new OutputNormNode(n, backend)));
        this.head = src.head == null ? null : new HeadNode(src.head, backend);
        this.owner = false;
        this.parent = src.owner ? src : src.parent;
        this.weightsFingerprint = src.weightsFingerprint;
    }

    /**
     * A session view: the same weights (not copied) with every op running on {@code session}, e.g. another
     * {@code CudaBackend} (its own stream, cuBLAS handle and memory) on the same device, so several threads
     * can serve one loaded model. Closing a view releases its own passes (cached and compiled), not the weights:
     * they live until this model is closed, which should come last: closing it closes its open views too (and
     * their passes), so that nothing runs on freed weights (they then say they are closed).
     */
    public SwinModel session(Backend session) {
        checkOpen();
        if (!session.name().equals(be.name())) {
            throw new IllegalArgumentException("a " + be.name() + " model cannot run on a " + session.name() + " session");
        }
        if (session.storage() != be.storage()) {
            throw new IllegalArgumentException("a model stored in " + be.storage() + " cannot run on a session storing "
                    + session.storage() + " (create the session with the model backend's precision)");
        }
        SwinModel view = new SwinModel(this, session);
        synchronized (view.parent) {
            view.parent.checkOpen();
            view.parent.views.add(view);
        }
        return view;
    }

    public SwinConfig config() {
        return cfg;
    }

    /** The {@link SwinWeights#fingerprint fingerprint} of the weights this model was built from. */
    public String weightsFingerprint() {
        return weightsFingerprint;
    }

    public Backend backend() {
        return be;
    }

    public PatchEmbedNode patchEmbed() {
        return embed;
    }

    public List<StageNode> stages() {
        return Collections.unmodifiableList(stages);
    }

    /** Patch merging after stage s (s &lt; numStages - 1). */
    public List<PatchMergingNode> merges() {
        return Collections.unmodifiableList(merges);
    }

    /** Output norms of a backbone (empty for classification). */
    public List<OutputNormNode> outputNorms() {
        return Collections.unmodifiableList(norms);
    }

    /** The classification head, or null for a backbone. */
    public HeadNode head() {
        return head;
    }

    /** Dense forward with the default padding of the checkpoint layout. */
    public SwinOutput forward(HostTensor images) {
        return forward(images, null, cfg.defaultPadding(), null, null);
    }

    /**
     * Forward pass.
     *
     * @param images    [B, inChans, H, W], any H and W
     * @param ratios    per stage, per block sparsity ratios; null for dense
     * @param padding   padding mode
     * @param listener  receives kept windows per block, or null
     * @param observer  receives each stage's final token map, or null
     *
     * <p>Threads may share a model: on a one-stream backend (CUDA) each call has the session to itself from its
     * upload to its download ({@link Backend#exclusive}), so a listener or observer, which runs inside that turn,
     * must not wait for another thread that uses the same session.
     */
    public SwinOutput forward(HostTensor images, double[][] ratios, PaddingMode padding, KeptListener listener,
                              StageObserver observer) {
        return forwardFromHost(images.shape(), ratios, padding, listener, observer, c -> c.run(images),
                () -> be.upload(images, be.storage()));
    }

    /** Dense forward of 8-bit frames with the default padding of the checkpoint layout; see the next method. */
    public SwinOutput forward(Frames frames) {
        return forward(frames, null, cfg.defaultPadding(), null, null);
    }

    /**
     * Forward pass on 8-bit frames (camera frames, decoded JPEGs): as
     * {@link #forward(HostTensor, double[][], PaddingMode, KeptListener, StageObserver)} on
     * {@code frames.toHostTensor()}, with bitwise the same results, but the backend builds the input itself
     * ({@link Backend#uploadFrames}): on CUDA the bytes are copied (a quarter of the float32 input) and normalised
     * on the device, with no float conversion on the host. The input shape is {@link Frames#tensorShape()}
     * [B, 3, H, W]; the same rules (the model's input channels, sparsity, thread sharing) apply.
     */
    public SwinOutput forward(Frames frames, double[][] ratios, PaddingMode padding, KeptListener listener,
                              StageObserver observer) {
        if (frames == null) {
            throw new IllegalArgumentException("frames must not be null");
        }
        return forwardFromHost(frames.tensorShape(), ratios, padding, listener, observer, c -> c.run(frames),
                () -> be.uploadFrames(frames, be.storage()));
    }

    /**
     * The host entry points' pass: a compiled pass of this configuration where one is cached (it takes the input
     * itself, {@code compiledRun}), else {@code upload} and an eager pass; the session held throughout.
     */
    private SwinOutput forwardFromHost(int[] shape, double[][] ratios, PaddingMode padding, KeptListener listener,
                                       StageObserver observer,
                                       java.util.function.Function<CompiledForward, SwinOutput> compiledRun,
                                       java.util.function.Supplier<Tensor> upload) {
        checkOpen();
        checkImages(shape);
        double[][] r = ratios == null ? denseRatios() : ratios;
        // threads sharing this model take turns on a one-stream backend (Backend.exclusive): the cached pass's
        // input and output buffers are one set, and another thread's launches must not land in a capture
        return be.exclusive(() -> {
            checkOpen();
            if (listener == null && observer == null && be.capturesGraphs()
                    && !"false".equalsIgnoreCase(System.getProperty("sparsevit.graphs", "true"))) {
                CompiledForward c = cached(shape, r, padding);
                if (c != null) {
                    return compiledRun.apply(c);
                }
            }
            try (Tensor img = upload.get()) {
                return forward(img, r, padding, listener, observer);
            }
        });
    }

    /**
     * This configuration (input shape [B, C, H, W], per-block ratios or null for dense, padding) prepared to
     * run many times: captured once as a CUDA graph where the backend can, eager passes otherwise. The
     * caller closes it. {@link #forward(HostTensor, double[][], PaddingMode, KeptListener, StageObserver)}
     * keeps a few of these itself (compiled on a configuration's second use; the {@value #COMPILED_CACHE} most
     * recent are kept; disable with {@code -Dsparsevit.graphs=false}), so repeated calls replay a graph.
     */
    public CompiledForward compile(int[] inputShape, double[][] ratios, PaddingMode padding) {
        checkOpen();
        checkImages(inputShape);
        return be.exclusive(() -> {
            checkOpen();
            CompiledForward c = new CompiledForward(this, inputShape, ratios == null ? denseRatios() : ratios,
                    padding, true);
            synchronized (this) {
                handedOut.add(c);
            }
            return c;
        });
    }

    /** Passes {@link #compile} handed out and session views made from this model that are still open (tests). */
    synchronized int openPassesAndViews() {
        return handedOut.size() + views.size();
    }

    /** A pass of this model was closed (by its holder, or by this model's cache). */
    synchronized void passClosed(CompiledForward c) {
        handedOut.remove(c);
    }

    /**
     * The compiled pass of a configuration, compiled on its second use (a configuration seen once, e.g. one
     * candidate of a search, runs eagerly: capturing it would cost more than it saves); null for "run eagerly".
     */
    private synchronized CompiledForward cached(int[] shape, double[][] r, PaddingMode padding) {
        for (int i = 0; i < compiled.size(); i++) {
            CompiledForward c = compiled.get(i);
            if (c.matches(shape, r, padding)) {
                compiled.remove(i);
                compiled.add(c);
                return c;
            }
        }
        String key = Arrays.toString(shape) + Arrays.deepToString(r) + padding;
        if (!seenOnce.remove(key)) {
            seenOnce.add(key);
            if (seenOnce.size() > 16) {
                seenOnce.remove(0);
            }
            return null;
        }
        if (compiled.size() == COMPILED_CACHE) {
            compiled.remove(0).close();
        }
        double[][] copy = new double[r.length][];
        for (int s = 0; s < r.length; s++) {
            copy[s] = r[s].clone();
        }
        CompiledForward c = new CompiledForward(this, shape, copy, padding, true);
        compiled.add(c);
        return c;
    }

    /** Configurations {@link #forward(HostTensor)} currently keeps compiled (on backends that capture graphs). */
    public synchronized int compiledPasses() {
        return compiled.size();
    }

    /**
     * How each configuration {@link #forward(HostTensor)} keeps compiled runs, least recently used first:
     * "graph replay", or "eager passes" with the reason the capture failed ({@link CompiledForward#mode}).
     */
    public synchronized List<String> compiledModes() {
        return compiled.stream().map(CompiledForward::mode).toList();
    }

    /** The outputs of a pass on the host: [logits] of a classifier, or the feature maps of a backbone. */
    static SwinOutput download(Backend be, List<Tensor> outs, boolean classifier) {
        if (classifier) {
            return new SwinOutput(be.download(outs.get(0)), List.of());
        }
        List<HostTensor> feats = new ArrayList<>();
        for (Tensor t : outs) {
            feats.add(be.download(t));
        }
        return new SwinOutput(null, List.copyOf(feats));
    }

    /**
     * Forward on a tensor already on this backend; see {@link #forward(HostTensor, double[][], PaddingMode, KeptListener, StageObserver)}.
     * The pass and its downloads have the session to itself, but not the caller's upload and closing of
     * {@code images}: where threads share a CUDA session, run the whole use in {@link Backend#exclusive}.
     */
    public SwinOutput forward(Tensor images, double[][] ratios, PaddingMode padding, KeptListener listener,
                              StageObserver observer) {
        return be.exclusive(() -> {
            List<Tensor> outs = forwardTensors(images, ratios, padding, listener, observer);
            try {
                return download(be, outs, head != null);
            } finally {
                outs.forEach(Tensor::close);
            }
        });
    }

    /**
     * Forward pass that leaves its results on the backend (no copy to the host, so on a GPU nothing
     * synchronises unless a listener is attached): [logits] for a classifier, or the four NCHW feature maps
     * of a backbone. The caller closes the returned tensors.
     *
     * <p>The pass runs in a workspace scope of the backend ({@link Backend#workspace}) keyed by
     * {@link #workspaceKey}: on CUDA its temporaries come from one slab planned on the first pass with that key,
     * so later passes allocate nothing. The returned tensors come from the backend's pool (they outlive the
     * scope); closing them before the next pass lets it reuse them. An observer runs inside the scope: tensors
     * it allocates and closes there are planned like the model's own.
     *
     * <p>Only the pass has the session to itself ({@link Backend#exclusive}): where threads share a CUDA session,
     * run the caller's upload, use and closing of the tensors in {@code exclusive} too, or a capture another thread
     * runs meanwhile breaks (copies and frees are not allowed while a stream captures).
     */
    public List<Tensor> forwardTensors(Tensor images, double[][] ratios0, PaddingMode padding, KeptListener listener,
                                       StageObserver observer) {
        return be.exclusive(() -> {
            try (Workspace ws = be.workspace(workspaceKey(images, ratios0, padding, listener, observer))) {
                List<Tensor> outs = forwardInScope(images, ratios0, padding, listener, observer);
                ws.finished();
                return outs;
            }
        });
    }

    /**
     * What determines the allocations of a forward pass, the workspace key: the architecture (the weight
     * values do not matter, so a model and its session views share it), the input's shape and storage dtype
     * (batch, size, precision), the sparsity, the padding mode, whether a listener or an observer is attached,
     * and whether dense blocks hand their tiles over (StageNode.REWINDOW_PROPERTY). The backend session adds its
     * own precision.
     */
    public Object workspaceKey(Tensor images, double[][] ratios, PaddingMode padding, KeptListener listener,
                               StageObserver observer) {
        return new ForwardKey(cfg, Arrays.toString(images.shape()), images.dtype(),
                Arrays.deepToString(ratios == null ? denseRatios() : ratios), padding, listener != null,
                observer != null, stages.get(0).handover());
    }

    /** handover: the stages' tile handover (StageNode.REWINDOW_PROPERTY), which changes the buffers' lifetimes. */
    private record ForwardKey(SwinConfig config, String input, DType dtype, String sparsity, PaddingMode padding,
                              boolean listener, boolean observer, boolean handover) {
    }

    private List<Tensor> forwardInScope(Tensor images, double[][] ratios0, PaddingMode padding, KeptListener listener,
                                        StageObserver observer) {
        checkOpen();
        checkImages(images.shape());
        if (images.dtype() != be.storage()) {
            throw new IllegalArgumentException("input images are " + images.dtype() + " but this model stores "
                    + be.storage() + " (upload them with backend.upload(images, backend.storage()))");
        }
        double[][] ratios = ratios0 == null ? denseRatios() : ratios0;
        new org.sparsevit.sparse.SparsityConfig(ratios).validate(cfg, images.dim(2), images.dim(3));
        List<Tensor> outs = new ArrayList<>();
        FeatureMap x = embed.forward(images);
        boolean ok = false;
        try {
            for (int s = 0; s < stages.size(); s++) {
                stages.get(s).forward(x, ratios[s], padding, listener);
                if (observer != null) {
                    observer.afterStage(s, x);
                }
                if (cfg.isBackbone()) {
                    outs.add(norms.get(s).forward(x));
                }
                if (s < merges.size()) {
                    FeatureMap next = merges.get(s).forward(x);
                    x.close();
                    x = next;
                }
            }
            if (head != null) {
                outs.add(head.forward(x));
            }
            ok = true;
            return outs;
        } finally {
            x.close();
            if (!ok) {
                outs.forEach(Tensor::close);
            }
        }
    }

    /**
     * The model as a list of nodes with their input and output shapes and MACs for a given input and
     * sparsity (the graph API's printout).
     */
    public String describe(int batch, int height, int width, org.sparsevit.sparse.SparsityConfig sp) {
        return describe(cfg, batch, height, width, sp);
    }

    /** See {@link #describe(int, int, int, org.sparsevit.sparse.SparsityConfig)}; needs no weights. */
    public static String describe(SwinConfig cfg, int batch, int height, int width,
                                  org.sparsevit.sparse.SparsityConfig sp) {
        org.sparsevit.macs.MacReport r = org.sparsevit.macs.MacCounter.count(cfg, height, width, batch, sp);
        StageGeometry[] g = StageGeometry.of(cfg, height, width);
        StringBuilder sb = new StringBuilder();
        String fmt = "%-12s %-22s %-22s %-26s %9s%n";
        sb.append(String.format(java.util.Locale.ROOT, fmt, "node", "input", "output", "windows kept / nW", "GMACs"));
        sb.append(String.format(java.util.Locale.ROOT, fmt, "patch_embed", shape(batch, cfg.inChans(), height, width),
                tokens(batch, g[0].height(), g[0].width(), cfg.dim(0)), "-", gmacs(r.patchEmbed())));
        for (int s = 0; s < cfg.numStages(); s++) {
            long blocks = 0;
            StringBuilder kept = new StringBuilder();
            for (int j = 0; j < cfg.depth(s); j++) {
                blocks += r.blocks()[s][j];
                kept.append(j == 0 ? "" : ",").append(r.kept()[s][j]);
            }
            String t = tokens(batch, g[s].height(), g[s].width(), cfg.dim(s));
            sb.append(String.format(java.util.Locale.ROOT, fmt, "stage" + s, t, t, kept + " / " + r.windows()[s], gmacs(blocks)));
            if (cfg.isBackbone()) {
                sb.append(String.format(java.util.Locale.ROOT, fmt, "norm" + s, t,
                        shape(batch, cfg.dim(s), g[s].height(), g[s].width()), "-", gmacs(r.norms()[s])));
            }
            if (s < cfg.numStages() - 1) {
                sb.append(String.format(java.util.Locale.ROOT, fmt, "merge" + s, t,
                        tokens(batch, g[s + 1].height(), g[s + 1].width(), cfg.dim(s + 1)), "-", gmacs(r.merges()[s])));
            }
        }
        if (!cfg.isBackbone()) {
            int last = cfg.numStages() - 1;
            sb.append(String.format(java.util.Locale.ROOT, fmt, "head", tokens(batch, g[last].height(), g[last].width(),
                    cfg.numFeatures()), shape(batch, cfg.numClasses()), "-", gmacs(r.head())));
        }
        sb.append(String.format(java.util.Locale.ROOT, "total %.3f GMACs%n", r.totalGMacs()));
        return sb.toString();
    }

    private static String shape(int... d) {
        return Arrays.toString(d);
    }

    private static String tokens(int b, int h, int w, int c) {
        return "[" + b + ", " + h + "x" + w + ", " + c + "]";
    }

    private static String gmacs(long m) {
        return String.format(java.util.Locale.ROOT, "%.3f", m / 1e9);
    }

    public double[][] denseRatios() {
        double[][] r = new double[cfg.numStages()][];
        for (int s = 0; s < r.length; s++) {
            r[s] = new double[cfg.depth(s)];
        }
        return r;
    }

    private void checkImages(int[] shape) {
        if (shape.length != 4 || shape[1] != cfg.inChans() || shape[0] <= 0 || shape[2] <= 0 || shape[3] <= 0) {
            throw new SparseVitException("input must be [B, " + cfg.inChans() + ", H, W] with B, H, W > 0, got "
                    + Arrays.toString(shape));
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("model is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        List<CompiledForward> passes = new ArrayList<>();
        List<RuntimeException> failures = new ArrayList<>();
        boolean closedNow = be.exclusive(() -> {
            // after a pass another thread runs on this model's session (and its cached passes) has ended
            synchronized (this) {
                if (closed) {
                    return false; // another thread closed it meanwhile
                }
                passes.addAll(compiled);
                passes.addAll(handedOut);
                compiled.clear();
                handedOut.clear();
                closed = true;
            }
            for (CompiledForward p : passes) {
                attempt(p::close, failures); // (each takes this session's lock again: reentrant)
            }
            return true;
        });
        if (!closedNow) {
            return;
        }
        if (!owner) {
            synchronized (parent) {
                parent.views.remove(this);
            }
        } else {
            // the views run on other sessions: each closed under its own session's lock, so that a view another
            // thread is closing has finished (its graphs released) before the weights go
            List<SwinModel> open;
            synchronized (this) {
                open = new ArrayList<>(views);
                views.clear();
            }
            for (SwinModel v : open) {
                attempt(() -> v.be.exclusive(() -> {
                    v.close();
                    return null;
                }), failures);
            }
            attempt(embed::close, failures);
            stages.forEach(n -> attempt(n::close, failures));
            merges.forEach(n -> attempt(n::close, failures));
            norms.forEach(n -> attempt(n::close, failures));
            if (head != null) {
                attempt(head::close, failures);
            }
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    /** Runs one step of closing; a failure is kept (the other steps still run) and thrown at the end. */
    private static void attempt(Runnable step, List<RuntimeException> failures) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }
}

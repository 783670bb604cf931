package org.sparsevit.backend;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The workspace arena of one backend session: records the allocations of a scoped run, plans them once per
 * key ({@link ArenaPlan}) into one slab, and hands out slab memory to later runs of that key. Backend-neutral:
 * a backend supplies the slab memory ({@link SlabMemory}), asks {@link #request} for every allocation and
 * takes its pool when the answer has no slab.
 *
 * <p>Life of a key:
 * <ol>
 *   <li>First run (recording): every allocation comes from the backend's pool; the arena notes its size and
 *   the events at which it is allocated and released. When the scope closes after {@link Workspace#finished()},
 *   the buffers released inside the scope are planned and ONE slab of the planned size is allocated (while a
 *   graph is being captured, where allocating is not allowed, at the next run outside the capture).</li>
 *   <li>Later runs (replay): allocation i gets slab + offset(i), after checking that it asks for the recorded
 *   size and that every buffer the plan puts in the same bytes before it has been released. On the first
 *   mismatch the run says so once per key and takes the rest of its memory from the pool, so no two live
 *   tensors ever share memory.</li>
 * </ol>
 *
 * <p><b>Escaping tensors.</b> A buffer still open when the recording scope closes (the forward's outputs) is
 * not planned into the slab: in every run it comes from the pool, so it may live as long as its owner likes
 * (and, closed before the next run, it is reused from the pool without a new allocation). Should a tensor
 * that the plan put in the slab outlive its scope, the slab stays reserved: runs of that key use the pool
 * (said once) until the tensor is closed. Tensors allocated outside any scope (model weights, inputs) always
 * come from the pool.
 *
 * <p><b>Graphs.</b> Between {@link #beginCapture()} and {@link #endCapture()} every slab handed out is held
 * by the returned {@link Hold}: it stays allocated while the graph lives, even after its key is evicted.
 * Slabs of different keys are distinct allocations, so graphs of different keys never share memory; runs of
 * one key (eager or replayed) share its slab, which is safe because they run one after another on the
 * session's stream and nothing in a slab lives from one run into the next ({@link Hold#checkIdle()}).
 *
 * <p>Scopes belong to the thread that opened them; a key in use by another thread's run gives a run that
 * takes everything from the pool. At most {@link #capacity()} keys are kept (least recently used evicted).
 *
 * @param <S> the backend's slab handle (a device address, a direct buffer)
 */
public final class WorkspaceArena<S> {

    /** Raw slab memory of a backend. */
    public interface SlabMemory<S> {
        /** A new slab of {@code bytes} bytes, aligned to {@link ArenaPlan#ALIGNMENT}; throws when it cannot. */
        S allocate(long bytes);

        /** Returns a slab to the device (any queued work using it must finish first). */
        void free(S slab, long bytes);
    }

    private enum Mode { RECORD, REPLAY, POOL }

    private final String owner;
    private final SlabMemory<S> memory;
    private final Map<Object, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private final ThreadLocal<Run> active = new ThreadLocal<>();
    private int capacity = 8;
    private Consumer<String> warnings = System.err::println;
    private List<Entry> capture;
    private boolean closed;
    private boolean enabled = true;

    // device counters are updated by the backends' pools under their own locks: atomics, not this monitor
    private final AtomicLong deviceAllocations = new AtomicLong();
    private final AtomicLong deviceBytes = new AtomicLong();
    private final AtomicLong peakDeviceBytes = new AtomicLong();
    private int slabs;
    private long slabBytes;
    private long slabLowerBound;
    private long recordings;
    private long replays;
    private long slabGrants;
    private long divergences;

    /**
     * @param owner  the backend's name, for messages
     * @param memory where slabs come from
     */
    public WorkspaceArena(String owner, SlabMemory<S> memory) {
        this.owner = owner;
        this.memory = memory;
    }

    // ------------------------------------------------------------------------------------- configuration

    /** Keys kept at most (default 8); the least recently used beyond that are evicted and their slabs freed. */
    public synchronized int capacity() {
        return capacity;
    }

    public synchronized void setCapacity(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("workspace capacity must be at least 1, got " + capacity);
        }
        this.capacity = capacity;
        evict(null);
    }

    /**
     * Switches the arena off (scopes do nothing, every allocation comes from the pool) or back on; what was
     * planned is kept. For comparisons with and without it.
     */
    public synchronized void setEnabled(boolean on) {
        this.enabled = on;
    }

    /** Where the one-line notes go (a run diverging from its plan, a slab that cannot be used); default stderr. */
    public synchronized void setWarnings(Consumer<String> sink) {
        this.warnings = sink == null ? s -> { } : sink;
    }

    // ------------------------------------------------------------------------------------- scopes

    /** Opens a scope for {@code key} on this thread (see the class comment); nested scopes join the outer one. */
    public Workspace open(Object key) {
        Objects.requireNonNull(key, "workspace key");
        if (active.get() != null) {
            return Workspace.NONE;
        }
        Run r;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException(owner + " backend session is closed");
            }
            if (!enabled) {
                return Workspace.NONE;
            }
            Entry e = entries.get(key);
            Mode mode;
            if (e == null) {
                e = new Entry(key);
                entries.put(key, e);
                mode = Mode.RECORD;
            } else if (e.user != null) {
                mode = Mode.POOL; // another thread's run has it
            } else if (e.plan == null) {
                mode = Mode.RECORD;
            } else if (e.live > 0) {
                warn(e, e.live + " tensor(s) from its slab are still open, so this and later runs use the pool until "
                        + "they are closed (close what a scoped run allocates, or let it escape from the pool)");
                mode = Mode.POOL;
            } else if (e.slab == null && e.plan.slabBytes() > 0 && !ensureSlab(e)) {
                mode = Mode.POOL; // no slab (yet): allocation failed (said once), or a capture is running
            } else {
                mode = Mode.REPLAY;
            }
            r = new Run(e, mode);
            if (mode != Mode.POOL) {
                e.user = r;
            }
            if (mode == Mode.REPLAY && capture != null && e.slab != null && !capture.contains(e)) {
                capture.add(e);
                e.refs++;
            }
            evict(e);
        }
        active.set(r);
        return r;
    }

    /**
     * Where allocation of {@code bytes} on this thread goes: null (no scope, or the scope does not plan it) means
     * the pool, without bookkeeping; otherwise a grant, from a slab when {@link Grant#slab()} is non-null and
     * from the pool when it is null. The tensor made from it must call {@link Grant#release()} when closed.
     */
    public Grant request(long bytes) {
        Run r = active.get();
        if (r == null) {
            return null;
        }
        synchronized (this) {
            return r.request(bytes);
        }
    }

    /** The plan of a key, or null before its first run completed. */
    public synchronized ArenaPlan plan(Object key) {
        Entry e = entries.get(key);
        return e == null ? null : e.plan;
    }

    // ------------------------------------------------------------------------------------- accounting

    /** The backend allocated {@code bytes} from the device (a pool miss). Takes no lock. */
    public void deviceAllocated(long bytes) {
        deviceAllocations.incrementAndGet();
        long now = deviceBytes.addAndGet(bytes);
        peakDeviceBytes.accumulateAndGet(now, Math::max);
    }

    /** The backend gave {@code bytes} back to the device. Takes no lock. */
    public void deviceFreed(long bytes) {
        deviceBytes.addAndGet(-bytes);
    }

    public synchronized MemoryStats stats() {
        return new MemoryStats(deviceAllocations.get(), deviceBytes.get(), peakDeviceBytes.get(), entries.size(), slabs,
                slabBytes, slabLowerBound, recordings, replays, slabGrants, divergences);
    }

    // ------------------------------------------------------------------------------------- graphs

    /** Starts collecting the slabs handed out, for a graph being captured. */
    public synchronized void beginCapture() {
        if (capture != null) {
            throw new IllegalStateException("a capture is already in progress on this session");
        }
        capture = new ArrayList<>();
    }

    /** Ends the collection: the returned hold keeps those slabs allocated until it is closed. */
    public synchronized Hold endCapture() {
        List<Entry> held = capture == null ? List.of() : capture;
        capture = null;
        return new Hold(held);
    }

    /** Slabs a captured graph uses. */
    public final class Hold implements AutoCloseable {
        private List<Entry> held;

        private Hold(List<Entry> held) {
            this.held = held;
        }

        /** Bytes of the slabs held. */
        public long bytes() {
            synchronized (WorkspaceArena.this) {
                return held.stream().mapToLong(e -> e.plan.slabBytes()).sum();
            }
        }

        /**
         * Throws IllegalStateException when a slab of the graph holds live data: a scoped run of its key is open,
         * or a tensor from it is still open. Replaying the graph then would overwrite that data.
         */
        public void checkIdle() {
            synchronized (WorkspaceArena.this) {
                for (Entry e : held) {
                    if (e.user != null || e.live > 0) {
                        throw new IllegalStateException("cannot replay the graph: the workspace slab of " + e.key
                                + " is in use (" + (e.user != null ? "a run of that key is open" : e.live
                                + " tensor(s) from it are open") + ")");
                    }
                }
            }
        }

        @Override
        public void close() {
            synchronized (WorkspaceArena.this) {
                for (Entry e : held) {
                    e.refs--;
                    maybeFree(e);
                }
                held = List.of();
            }
        }
    }

    /**
     * Forgets every key and frees the slabs no graph holds and no open tensor uses (the others go when their
     * last user does). The arena stays usable.
     */
    public synchronized void clear() {
        for (Entry e : entries.values()) {
            e.cached = false;
            e.refs--;
            maybeFree(e);
        }
        entries.clear();
    }

    /** {@link #clear()}, then later scopes are refused. */
    public synchronized void close() {
        if (!closed) {
            clear();
            closed = true;
        }
    }

    // ------------------------------------------------------------------------------------- internals

    private void evict(Entry keep) {
        Iterator<Entry> it = entries.values().iterator();
        while (entries.size() > capacity && it.hasNext()) {
            Entry e = it.next();
            if (e == keep || e.user != null) {
                continue;
            }
            it.remove();
            e.cached = false;
            e.refs--;
            maybeFree(e);
        }
    }

    /**
     * Allocates the slab of a planned entry unless it has one, its allocation failed before, or a graph is being
     * captured (allocating then is not allowed; the next run outside the capture does it). Whether it has one.
     */
    private boolean ensureSlab(Entry e) {
        if (e.slab != null) {
            return true;
        }
        if (e.slabFailed || capture != null) {
            return false;
        }
        long bytes = e.plan.slabBytes();
        try {
            e.slab = memory.allocate(bytes);
        } catch (RuntimeException ex) {
            e.slabFailed = true;
            warn(e, "no slab of " + bytes + " bytes (" + ex.getMessage() + "); its runs use the pool");
            return false;
        }
        deviceAllocated(bytes);
        slabs++;
        slabBytes += bytes;
        slabLowerBound += e.plan.lowerBound();
        return true;
    }

    private void maybeFree(Entry e) {
        if (e.slab != null && e.refs == 0 && e.live == 0) {
            S s = e.slab;
            e.slab = null;
            slabs--;
            slabBytes -= e.plan.slabBytes();
            slabLowerBound -= e.plan.lowerBound();
            deviceFreed(e.plan.slabBytes());
            memory.free(s, e.plan.slabBytes());
        }
    }

    private void warn(Entry e, String msg) {
        if (!e.warned) {
            e.warned = true;
            warnings.accept(owner + " workspace " + e.key + ": " + msg);
        }
    }

    /** One key: its plan, its slab and who uses it. */
    private final class Entry {
        final Object key;
        /** the planned buffers (the ones released inside the recording scope), or null before the first run */
        ArenaPlan plan;
        /** per allocation of the recorded run: requested bytes, slab offset (-1: pool), earlier slab neighbours */
        long[] bytes;
        long[] offsets;
        int[][] mustBeReleased;
        S slab;
        boolean slabFailed;
        /** the cache's reference (while cached) plus one per graph holding the slab */
        int refs = 1;
        boolean cached = true;
        Run user;
        /** slab grants not yet released */
        int live;
        boolean warned;

        Entry(Object key) {
            this.key = key;
        }
    }

    /** Memory handed to one allocation of a scoped run. */
    public final class Grant {
        private final Run run;
        private final int index;
        private final S slab;
        private final long offset;
        private boolean released;

        private Grant(Run run, int index, S slab, long offset) {
            this.run = run;
            this.index = index;
            this.slab = slab;
            this.offset = offset;
        }

        /** The slab to take the memory from, or null: take it from the pool. */
        public S slab() {
            return slab;
        }

        /** Byte offset in {@link #slab()}. */
        public long offset() {
            return offset;
        }

        /** The tensor is closed: its memory may be reused (slab) and a recording notes the event. */
        public void release() {
            synchronized (WorkspaceArena.this) {
                if (released) {
                    return;
                }
                released = true;
                Entry e = run.entry;
                if (slab != null) {
                    e.live--;
                    maybeFree(e);
                }
                if (run.mode == Mode.RECORD && !run.closed) {
                    run.end[index] = run.event++;
                }
            }
        }
    }

    /** One scoped run. */
    private final class Run implements Workspace {
        final Entry entry;
        final Mode mode;
        int count;
        int event;
        boolean finished;
        boolean closed;
        boolean diverged;
        // recording
        long[] bytes = new long[64];
        int[] start = new int[64];
        int[] end = new int[64];
        // replay
        final List<Grant> grants = new ArrayList<>();

        Run(Entry entry, Mode mode) {
            this.entry = entry;
            this.mode = mode;
        }

        Grant request(long b) {
            if (closed) {
                return null;
            }
            switch (mode) {
                case RECORD -> {
                    if (count == bytes.length) {
                        bytes = Arrays.copyOf(bytes, 2 * count);
                        start = Arrays.copyOf(start, 2 * count);
                        end = Arrays.copyOf(end, 2 * count);
                    }
                    int i = count++;
                    bytes[i] = b;
                    start[i] = event++;
                    end[i] = -1;
                    return new Grant(this, i, null, 0);
                }
                case REPLAY -> {
                    int i = count++;
                    if (diverged) {
                        return null;
                    }
                    Entry e = entry;
                    if (i >= e.bytes.length) {
                        diverge("allocation #" + i + " (" + b + " bytes) is beyond the " + e.bytes.length + " of its plan");
                        return null;
                    }
                    if (b != e.bytes[i]) {
                        diverge("allocation #" + i + " asks for " + b + " bytes, the plan has " + e.bytes[i]);
                        return null;
                    }
                    if (e.offsets[i] < 0) {
                        grants.add(null);
                        return null; // escapes the scope: from the pool
                    }
                    for (int j : e.mustBeReleased[i]) {
                        Grant g = grants.get(j);
                        if (g == null || !g.released) {
                            diverge("allocation #" + j + " is still open at allocation #" + i
                                    + ", which the plan puts in the same memory");
                            return null;
                        }
                    }
                    Grant g = new Grant(this, i, e.slab, e.offsets[i]);
                    grants.add(g);
                    e.live++;
                    slabGrants++;
                    return g;
                }
                default -> {
                    return null;
                }
            }
        }

        private void diverge(String why) {
            diverged = true;
            divergences++;
            warn(entry, "this run no longer matches the recorded plan (" + why
                    + "); the rest of it allocates from the pool");
        }

        @Override
        public void finished() {
            finished = true;
        }

        @Override
        public void close() {
            if (active.get() == this) {
                active.remove();
            }
            synchronized (WorkspaceArena.this) {
                if (closed) {
                    return;
                }
                closed = true;
                Entry e = entry;
                if (mode == Mode.POOL) {
                    return;
                }
                e.user = null;
                if (mode == Mode.RECORD) {
                    if (!finished) {
                        // an exception ended the run: its trace is incomplete, record again next time
                        if (entries.get(e.key) == e && e.plan == null) {
                            entries.remove(e.key);
                        }
                        return;
                    }
                    planRecording(e);
                } else {
                    replays++;
                    if (finished && !diverged && count != e.bytes.length) {
                        divergences++;
                        warn(e, "the run made " + count + " allocations, its plan has " + e.bytes.length);
                    }
                    if (e.live > 0) {
                        warn(e, e.live + " tensor(s) from its slab outlived the scope; the slab stays reserved (runs of "
                                + "this key use the pool) until they are closed");
                    }
                }
            }
        }

        private void planRecording(Entry e) {
            int n = count;
            int m = 0;
            for (int i = 0; i < n; i++) {
                if (end[i] >= 0) {
                    m++;
                }
            }
            long[] pb = new long[m];
            int[] ps = new int[m];
            int[] pe = new int[m];
            int[] which = new int[n];
            int k = 0;
            for (int i = 0; i < n; i++) {
                if (end[i] >= 0) {
                    pb[k] = bytes[i];
                    ps[k] = start[i];
                    pe[k] = end[i];
                    which[i] = k++;
                } else {
                    which[i] = -1;
                }
            }
            ArenaPlan p = ArenaPlan.plan(pb, ps, pe, ArenaPlan.ALIGNMENT);
            e.bytes = Arrays.copyOf(bytes, n);
            e.offsets = new long[n];
            e.mustBeReleased = new int[n][];
            for (int i = 0; i < n; i++) {
                int a = which[i];
                e.offsets[i] = a < 0 ? -1 : p.offset(a);
                List<Integer> before = new ArrayList<>();
                if (a >= 0) {
                    for (int j = 0; j < i; j++) {
                        if (which[j] >= 0 && p.overlapInSlab(which[j], a)) {
                            before.add(j); // the plan puts j in the same bytes, so j ends before i starts
                        }
                    }
                }
                e.mustBeReleased[i] = before.stream().mapToInt(Integer::intValue).toArray();
            }
            e.plan = p;
            recordings++;
            if (p.slabBytes() > 0 && e.cached) {
                ensureSlab(e);
            }
        }
    }
}

// The CUDA runtime functions runtime.cu calls, emulated on the host for the emulator (emu.h): one device
// (named "SparseViT-J emulator", an sm_90 whose shared-memory opt-in limit is emu.cpp's: the H200's in jni.sh's
// build). What the emulation keeps of the real runtime, so that host code which breaks its rules fails here too:
//  - device memory: every allocation is its own mapping, starts as 0xFF bytes (NaN) and ends (rounded up to
//    256 bytes) right before an inaccessible page, so a kernel or copy running past that faults; a write into
//    the rounding slack, or into the rest of the page before the start (a page before that faults too), stops
//    the process when the allocation is freed; freed memory stays mapped inaccessible for
//    the next 8192 frees, so a kernel, copy or graph replay that still uses it faults instead of writing into
//    a new allocation at the same address; copies and memsets must stay inside one live allocation; freeing
//    an unknown or freed pointer fails;
//  - handles: streams, graphs, graph instantiations and events are checked against the live ones (a destroyed
//    or wrong kind of handle fails);
//  - streams and graphs: work enqueued on a stream under capture is recorded, not run, and runs each time
//    the instantiated graph is launched; synchronising a capturing stream, copying from or to host memory
//    in a capture, and cudaMalloc/cudaFree while the calling thread captures (unless its capture mode was
//    exchanged for relaxed) fail and invalidate the capture, whose end then fails; a cudaFree (or a cuBLAS
//    handle created or destroyed) on another thread while a capture runs invalidates that capture too;
//  - events: elapsed time needs both events recorded (reached by their streams) and not under capture;
//  - asynchrony: work on a created stream is deferred until something waits for it (stream or event
//    synchronisation, a copy to or from host memory on that stream, cudaFree, destroying the stream), as a
//    GPU lets the host run ahead; so work that another stream or the host needs without waiting for it runs
//    too late and shows as wrong results. SVJ_EMU_IMMEDIATE=1 runs work when it is enqueued (a fault then
//    points at the call that enqueued it).
// Not emulated: concurrency (one piece of work runs at a time), pinned memory, timing (events measure host time
// when the stream reaches them).
#include "emu.h"
#include <mutex>
#include <set>
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <deque>

namespace emu {
extern std::recursive_mutex device_lock;
extern int smem_optin;
}

namespace {

struct Stream {
    bool capturing = false;
    bool invalidated = false;
    const void* capturer = nullptr;   // the capturing thread's marker (address of a thread_local)
    std::vector<std::function<void()>> recorded;
    std::deque<std::function<void()>> pending;   // enqueued, not yet run (deferred mode)
    std::mutex draining;                         // one drain at a time keeps the stream's order
};

struct Graph {
    std::vector<std::function<void()>> work;
};

struct Event {
    bool recorded = false;
    bool in_capture = false;
    double ms = 0;
};

std::mutex rt_lock;                     // the tables below
std::map<uintptr_t, size_t> allocations;   // start -> requested size
std::map<uintptr_t, std::pair<void*, size_t>> mappings;   // start -> (mapping, mapping size)
std::set<Stream*> streams;
std::set<Graph*> graphs;               // captured graphs
std::set<Graph*> execs;                // their instantiations
std::vector<std::pair<void*, size_t>> quarantine;   // freed mappings, inaccessible, oldest first
size_t quarantine_next = 0;
const size_t QUARANTINE = 8192;
std::set<Event*> events;
std::vector<Stream*> dead_streams;     // destroyed streams are kept (a drain may still hold one)
// Deferred mode (the default; SVJ_EMU_IMMEDIATE=1 runs work when it is enqueued): work on a created stream runs
// only when something waits for it, as on a GPU where the host runs ahead.
const bool deferred = !getenv("SVJ_EMU_IMMEDIATE") || strcmp(getenv("SVJ_EMU_IMMEDIATE"), "1") != 0;
size_t allocated = 0;
const size_t TOTAL = 141ull << 30;     // an H200's memory

thread_local int thread_marker;
thread_local int captures_here = 0;    // streams this thread is capturing
thread_local cudaStreamCaptureMode thread_mode = cudaStreamCaptureModeGlobal;

const void* me() { return &thread_marker; }

Stream* as_stream(cudaStream_t s) { return reinterpret_cast<Stream*>(s); }

bool live_stream(cudaStream_t s) { return !s || streams.count(as_stream(s)); }

// The capture a stream is in, or null (the legacy default stream is never captured; s must be live).
Stream* capturing(cudaStream_t s) {
    Stream* st = as_stream(s);
    return st && st->capturing ? st : nullptr;
}

// A rule of stream capture broken on stream s (or, with s null, by this thread's captures): the capture is
// invalidated, as the runtime does, and the error returned.
cudaError_t break_capture(Stream* s, const char* what) {
    fprintf(stderr, "EMU: %s during stream capture: the capture is invalidated\n", what);
    if (s) {
        s->invalidated = true;
    } else {
        for (Stream* st : streams)
            if (st->capturing && st->capturer == me()) st->invalidated = true;
    }
    return cudaErrorStreamCaptureUnsupported;
}

bool unsafe_call_blocked() { return captures_here > 0 && thread_mode != cudaStreamCaptureModeRelaxed; }

// A call that synchronises the whole device (cudaFree; creating or destroying a cuBLAS handle) made while
// another thread captures a stream. Thread-local capture mode keeps only the capturing thread from such calls;
// on a GPU the synchronisation still fails against, or invalidates, the other thread's capture. Reported, and
// those captures invalidated (their end then fails). rt_lock must be held.
void sync_during_other_captures(const char* what) {
    for (Stream* st : streams) {
        if (st->capturing && st->capturer != me()) {
            fprintf(stderr, "EMU: %s synchronises the device while another thread captures a stream: that capture is "
                    "invalidated\n", what);
            st->invalidated = true;
        }
    }
}

// Is [p, p + n) inside one live allocation?
bool inside(const void* p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return false;
    --it;
    return a >= it->first && a + n <= it->first + it->second;
}

// Runs a stream's pending work, in order (rt_lock must not be held: work may take it).
void drain(Stream* st) {
    std::lock_guard<std::mutex> order(st->draining);
    for (;;) {
        std::function<void()> work;
        {
            std::lock_guard<std::mutex> lock(rt_lock);
            if (st->pending.empty()) return;
            work = std::move(st->pending.front());
            st->pending.pop_front();
        }
        std::lock_guard<std::recursive_mutex> lock(emu::device_lock);
        work();
    }
}

// Every stream's pending work (what synchronises the device: cudaFree, cudaEventSynchronize).
void drain_all() {
    std::vector<Stream*> all;
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        all.assign(streams.begin(), streams.end());
    }
    for (Stream* st : all) drain(st);
}

}  // namespace

namespace emu {
cudaError_t enqueue(cudaStream_t s, std::function<void()> work) {
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (!live_stream(s)) {
            fprintf(stderr, "EMU: work enqueued on stream %p, which is not a live stream\n", (void*)s);
            return cudaErrorInvalidResourceHandle;
        }
        if (Stream* st = capturing(s)) {
            st->recorded.push_back(std::move(work));
            return cudaSuccess;
        }
        if (s && deferred) {
            as_stream(s)->pending.push_back(std::move(work));
            return cudaSuccess;
        }
    }
    std::lock_guard<std::recursive_mutex> lock(device_lock);
    work();
    return cudaSuccess;
}

// For the fake cuBLAS: a call that synchronises the device (see sync_during_other_captures).
void device_sync_call(const char* what) {
    std::lock_guard<std::mutex> lock(rt_lock);
    sync_during_other_captures(what);
}

// Is the calling thread capturing a stream (in a mode that forbids unsafe calls)? For the fake cuBLAS.
bool thread_capturing() { return unsafe_call_blocked(); }

// Is the stream being captured? (for the fake cuBLAS; false for a stream that is not live)
bool stream_capturing(cudaStream_t s) {
    std::lock_guard<std::mutex> lock(rt_lock);
    return live_stream(s) && capturing(s) != nullptr;
}

// Is [p, p + n) inside one live device allocation? (for the fake cuBLAS)
bool device_range(const void* p, size_t n) {
    std::lock_guard<std::mutex> lock(rt_lock);
    return n == 0 || inside(p, n);
}
}  // namespace emu

extern "C" {

cudaError_t cudaRuntimeGetVersion(int* v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int* v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
    if (d != 0) return cudaErrorInvalidDevice;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "SparseViT-J emulator");
    p->major = 9;
    p->minor = 0;
    p->totalGlobalMem = TOTAL;
    p->sharedMemPerBlockOptin = (size_t)emu::smem_optin;   // as cudaDeviceGetAttribute says (emu.cpp)
    p->multiProcessorCount = 132;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
    std::lock_guard<std::mutex> lock(rt_lock);
    *t = TOTAL;
    *f = TOTAL - allocated;
    return cudaSuccess;
}

cudaError_t cudaThreadExchangeStreamCaptureMode(cudaStreamCaptureMode* mode) {
    cudaStreamCaptureMode old = thread_mode;
    thread_mode = *mode;
    *mode = old;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
    std::lock_guard<std::mutex> lock(rt_lock);
    *p = nullptr;
    if (unsafe_call_blocked()) return break_capture(nullptr, "cudaMalloc");
    if (bytes > TOTAL - allocated) return cudaErrorMemoryAllocation;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (bytes + 255) / 256 * 256;        // the end of the allocation, 256-byte aligned as cudaMalloc
    size_t data = (rounded + page - 1) / page * page;
    // [guard page][data pages: canary, then the allocation ending at the page end][guard page]
    void* m = mmap(nullptr, data + 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                   0);
    if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
    mprotect(m, page, PROT_NONE);
    mprotect((char*)m + page + data, page, PROT_NONE);
    char* start = (char*)m + page + data - rounded;
    // fresh pages are zero: garbage instead, as cudaMalloc's; also the canaries before the start and in the slack
    memset((char*)m + page, 0xFF, data);
    allocations[(uintptr_t)start] = bytes;
    mappings[(uintptr_t)start] = {m, data + 2 * page};
    allocated += bytes;
    *p = start;
    return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
    if (!p) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (unsafe_call_blocked()) return break_capture(nullptr, "cudaFree");
        if (mappings.count((uintptr_t)p)) sync_during_other_captures("cudaFree");
    }
    drain_all();   // cudaFree synchronises the device
    std::lock_guard<std::mutex> lock(rt_lock);
    auto it = mappings.find((uintptr_t)p);
    if (it == mappings.end()) {
        fprintf(stderr, "EMU: cudaFree of %p, which is not a live allocation\n", p);
        return cudaErrorInvalidValue;
    }
    size_t bytes = allocations[(uintptr_t)p];
    size_t rounded = (bytes + 255) / 256 * 256;
    for (size_t i = bytes; i < rounded; i++) {
        if (((unsigned char*)p)[i] != 0xFF) {
            fprintf(stderr, "EMU ERROR: a write past the end of the %zu-byte allocation %p (byte %zu) found when "
                    "freeing it\n", bytes, p, i);
            abort();   // memory corruption: stop here, loudly
        }
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (unsigned char* c = (unsigned char*)it->second.first + page; c < (unsigned char*)p; c++) {
        if (*c != 0xFF) {
            fprintf(stderr, "EMU ERROR: a write before the start of the %zu-byte allocation %p (%td bytes before) "
                    "found when freeing it\n", bytes, p, (unsigned char*)p - c);
            abort();
        }
    }
    // inaccessible, its pages given back, but its addresses kept for a while: late users fault
    mprotect(it->second.first, it->second.second, PROT_NONE);
    madvise(it->second.first, it->second.second, MADV_DONTNEED);
    if (quarantine.size() < QUARANTINE) {
        quarantine.push_back(it->second);
    } else {
        munmap(quarantine[quarantine_next].first, quarantine[quarantine_next].second);
        quarantine[quarantine_next] = it->second;
        quarantine_next = (quarantine_next + 1) % QUARANTINE;
    }
    allocated -= bytes;
    allocations.erase((uintptr_t)p);
    mappings.erase(it);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        bool dev_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
        bool dev_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
        if ((dev_dst && !inside(dst, n)) || (dev_src && !inside(src, n))) {
            fprintf(stderr, "EMU: cudaMemcpyAsync of %zu bytes (kind %d) outside a live allocation: %p -> %p\n", n,
                    (int)kind, src, dst);
            return cudaErrorInvalidValue;
        }
        if (!live_stream(s)) return cudaErrorInvalidResourceHandle;
        Stream* st = capturing(s);
        if (st && kind != cudaMemcpyDeviceToDevice) return break_capture(st, "a copy to or from pageable host memory");
    }
    if (kind != cudaMemcpyDeviceToDevice && s) {
        // pageable host memory: the copy is done when the call returns, after the stream's earlier work
        drain(as_stream(s));
        std::lock_guard<std::recursive_mutex> lock(emu::device_lock);
        memcpy(dst, src, n);
        return cudaSuccess;
    }
    return emu::enqueue(s, [=] { memcpy(dst, src, n); });
}

cudaError_t cudaMemsetAsync(void* dst, int v, size_t n, cudaStream_t s) {
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (!inside(dst, n)) {
            fprintf(stderr, "EMU: cudaMemsetAsync of %zu bytes at %p outside a live allocation\n", n, dst);
            return cudaErrorInvalidValue;
        }
    }
    return emu::enqueue(s, [=] { memset(dst, v, n); });
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Stream* st = new Stream();
    streams.insert(st);
    *s = reinterpret_cast<cudaStream_t>(st);
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s) {
    Stream* st = as_stream(s);
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (!streams.count(st)) return cudaErrorInvalidResourceHandle;
        if (st->capturing) return break_capture(st, "cudaStreamDestroy");
    }
    drain(st);   // the work already enqueued still completes, as on the device
    std::lock_guard<std::mutex> lock(rt_lock);
    streams.erase(st);
    dead_streams.push_back(st);   // not deleted: another thread's drain_all may still hold it
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (!live_stream(s)) return cudaErrorInvalidResourceHandle;
        if (Stream* st = capturing(s)) return break_capture(st, "cudaStreamSynchronize");
    }
    if (s) drain(as_stream(s));
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Stream* st = as_stream(s);
    if (!st || !streams.count(st)) return cudaErrorStreamCaptureUnsupported;
    if (st->capturing) return cudaErrorIllegalState;
    if (mode != cudaStreamCaptureModeThreadLocal) {
        fprintf(stderr, "EMU: only thread-local capture mode is emulated\n");
        return cudaErrorNotSupported;
    }
    st->capturing = true;
    st->invalidated = false;
    st->capturer = me();
    st->recorded.clear();
    captures_here++;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
    std::lock_guard<std::mutex> lock(rt_lock);
    *g = nullptr;
    Stream* st = as_stream(s);
    if (!st || !streams.count(st) || !st->capturing) return cudaErrorIllegalState;
    if (st->capturer != me()) return cudaErrorStreamCaptureWrongThread;
    st->capturing = false;
    captures_here--;
    std::vector<std::function<void()>> work;
    work.swap(st->recorded);
    if (st->invalidated) return cudaErrorStreamCaptureInvalidated;
    Graph* graph = new Graph{std::move(work)};
    graphs.insert(graph);
    *g = reinterpret_cast<cudaGraph_t>(graph);
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Graph* graph = reinterpret_cast<Graph*>(g);
    if (!graphs.count(graph)) return cudaErrorInvalidValue;
    Graph* exec = new Graph{graph->work};
    execs.insert(exec);
    *e = reinterpret_cast<cudaGraphExec_t>(exec);
    return cudaSuccess;
}

static cudaError_t destroy_graph(std::set<Graph*>& live, void* g, const char* kind) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Graph* graph = reinterpret_cast<Graph*>(g);
    if (!live.erase(graph)) {
        fprintf(stderr, "EMU: destroying %s %p, which does not exist (destroyed twice, or the wrong kind?)\n", kind, g);
        return cudaErrorInvalidValue;
    }
    delete graph;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t g) { return destroy_graph(graphs, g, "graph"); }
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) { return destroy_graph(execs, e, "graph instantiation"); }

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    std::vector<std::function<void()>> work;
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        Graph* graph = reinterpret_cast<Graph*>(e);
        if (!execs.count(graph)) return cudaErrorInvalidValue;
        if (!live_stream(s)) return cudaErrorInvalidResourceHandle;
        work = graph->work;
    }
    for (auto& w : work) {
        cudaError_t rc = emu::enqueue(s, w);
        if (rc) return rc;
    }
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Event* ev = new Event();
    events.insert(ev);
    *e = reinterpret_cast<cudaEvent_t>(ev);
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Event* ev = reinterpret_cast<Event*>(e);
    if (!events.erase(ev)) return cudaErrorInvalidResourceHandle;
    delete ev;
    return cudaSuccess;
}

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    Event* ev = reinterpret_cast<Event*>(e);
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        if (!events.count(ev) || !live_stream(s)) return cudaErrorInvalidResourceHandle;
        ev->in_capture = capturing(s) != nullptr;
        ev->recorded = false;   // until the stream reaches it
    }
    return emu::enqueue(s, [ev] {
        std::lock_guard<std::mutex> lock(rt_lock);   // taken inside device_lock: never the other way round
        if (!events.count(ev)) {
            fprintf(stderr, "EMU: a graph replay records event %p, which was destroyed\n", (void*)ev);
            return;
        }
        ev->recorded = true;
        ev->ms = now_ms();
    });
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    {
        std::lock_guard<std::mutex> lock(rt_lock);
        Event* ev = reinterpret_cast<Event*>(e);
        if (!events.count(ev)) return cudaErrorInvalidResourceHandle;
        if (ev->in_capture) return cudaErrorStreamCaptureUnsupported;
    }
    drain_all();   // (more than the event's stream: harmless)
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
    std::lock_guard<std::mutex> lock(rt_lock);
    Event* ea = reinterpret_cast<Event*>(a);
    Event* eb = reinterpret_cast<Event*>(b);
    if (!events.count(ea) || !events.count(eb)) return cudaErrorInvalidResourceHandle;
    if (ea->in_capture || eb->in_capture) return cudaErrorInvalidResourceHandle;
    if (!ea->recorded || !eb->recorded) return cudaErrorNotReady;   // not waited for yet
    *ms = (float)(eb->ms - ea->ms);
    return cudaSuccess;
}

}  // extern "C"

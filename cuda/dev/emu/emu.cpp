// The fiber scheduler behind emu.h, plus the CUDA runtime functions the kernel files call (rt.cpp has those
// of runtime.cu: devices, memory, streams, graphs, events).
#include "emu.h"
#include <mutex>
#include <cctype>
#include <random>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
namespace emu {
dim3 tIdx, bIdx, bDim, gDim;   // one grid runs at a time (device_lock)

// Minimal x86-64 context switch: saves the callee-saved registers on the old stack, swaps stacks.
extern "C" void emu_switch(void** from_sp, void* to_sp);
asm(R"(
.text
.globl emu_switch
emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
)");

struct Fiber {
    void* sp;
    char* stack = nullptr;
    bool done = false;
    dim3 t;
    int wait_kind = 0;      // 0 none, 1 block barrier, 2 warp barrier
    long gen = 0;
    long shuffles = 0;
};

static std::vector<Fiber>* fibers;
static void* sched_sp;
static int cur;
static const std::function<void()>* body;
static long block_gen, block_arrived, block_live;
static std::vector<long> warp_gen, warp_arrived, warp_live;
static std::vector<std::vector<unsigned long long>> slots;
static std::vector<std::vector<long>> slot_round;
static std::vector<char> dyn;

static int live_in_block() { return (int)block_live; }
static int live_in_warp(int w) { return (int)warp_live[w]; }

// Waits at a barrier of the given kind until its generation moves on; the scheduler does not resume a fiber
// whose barrier has not been released.
static void wait_for(int kind, long gen) {
    Fiber& f = (*fibers)[cur];
    f.wait_kind = kind;
    f.gen = gen;
    emu_switch(&f.sp, sched_sp);
    Fiber& g = (*fibers)[cur];
    g.wait_kind = 0;
    tIdx = g.t;
}

static bool blocked(const Fiber& f, int i) {
    return (f.wait_kind == 1 && block_gen == f.gen) || (f.wait_kind == 2 && warp_gen[i / 32] == f.gen);
}

// Set when a block barrier is released: the scheduler then ends its round, so that every interval between
// barriers starts in the schedule's order (not with the releasing thread and, warp-major, its warp).
static bool block_released = false;

void sync_block() {
    long g = block_gen;
    if (++block_arrived == live_in_block()) {
        block_arrived = 0;
        block_gen++;
        block_released = true;
        wait_for(0, 0);   // runnable at once, resumed in its turn of the next round
        return;
    }
    wait_for(1, g);
}

void sync_warp() {
    int w = cur / 32;
    long g = warp_gen[w];
    if (++warp_arrived[w] == live_in_warp(w)) {
        warp_arrived[w] = 0;
        warp_gen[w]++;
        return;
    }
    wait_for(2, g);
}

void exchange(const void* v, size_t n, int src, void* out) {
    int w = cur / 32;
    if (live_in_warp(w) != std::min<int>(32, (int)fibers->size() - w * 32)) {
        fprintf(stderr, "EMU ERROR: shuffle with exited lanes\n");
        abort();
    }
    // two sets of slots used in turn: a lane writes a set again only two shuffles later, after the barrier of
    // the shuffle in between, which every lane reaches only once it has read the set
    // Each slot carries the round of the shuffle that wrote it, so a lane that never reached this shuffle (it
    // exited meanwhile, releasing the barrier) shows as a stale round.
    Fiber& f = (*fibers)[cur];
    long round = f.shuffles++;
    int set = round & 1;
    unsigned long long x = 0;
    memcpy(&x, v, n);
    slots[w][set * 32 + cur % 32] = x;
    slot_round[w][set * 32 + cur % 32] = round;
    sync_warp();
    if (slot_round[w][set * 32 + src] != round) {
        fprintf(stderr, "EMU ERROR: shuffle from lane %d, which did not take part in it (exited or diverged)\n", src);
        abort();
    }
    unsigned long long y = slots[w][set * 32 + src];
    memcpy(out, &y, n);
}

int lane_id() { return cur % 32; }

static std::vector<std::vector<char>> gather;   // per warp

void warp_allgather(const void* mine, size_t bytes, void* all) {
    int w = cur / 32;
    if (live_in_warp(w) != 32) {
        fprintf(stderr, "EMU ERROR: warp-wide operation with fewer than 32 running lanes\n");
        abort();
    }
    if (gather[w].size() < 32 * bytes) gather[w].resize(32 * bytes);   // only the first lane there grows it
    memcpy(gather[w].data() + (cur % 32) * bytes, mine, bytes);
    sync_warp();
    memcpy(all, gather[w].data(), 32 * bytes);
    sync_warp();   // every lane has read before any lane writes again
}

// 256-byte aligned, as the hardware's shared window (the kernels align their arrays to at most 128)
void* dyn_smem() { return (void*)(((uintptr_t)dyn.data() + 255) & ~(uintptr_t)255); }

static void entry() {
    (*body)();
    Fiber& f = (*fibers)[cur];
    f.done = true;
    block_live--;
    warp_live[cur / 32]--;
    // an exiting thread no longer counts at barriers: release waiters if it completed one
    if (block_arrived > 0 && block_arrived == live_in_block()) {
        block_arrived = 0;
        block_gen++;
        block_released = true;
    }
    int w = cur / 32;
    if (warp_arrived[w] > 0 && warp_arrived[w] == live_in_warp(w)) { warp_arrived[w] = 0; warp_gen[w]++; }
    emu_switch(&f.sp, sched_sp);
    abort();   // a finished fiber is never resumed
}

static std::map<const void*, int> smem_attr;
thread_local cudaError_t last_error = cudaSuccess;   // per thread, as the runtime's
long launches = 0;
long cub_calls = 0;

std::recursive_mutex device_lock;   // one grid (or copy) at a time: the scheduler's state is global

// The order in which blocks run, and in which the scheduler resumes the threads of a block, from
// SVJ_EMU_SCHEDULE: "forward" (the default: index order), "reverse", or "random[:SEED]" (a new permutation of the
// blocks for every grid and of the threads for every round between barriers, from a seeded generator, so the same
// sequence of launches repeats its orders). In forward and reverse order a warp runs to its next block barrier (or
// its end) before the next warp starts, even where its lanes meet at warp-wide operations. A GPU promises no order at all, so a kernel must give the same result
// under each: one that reads what another thread writes without a barrier in between, or what another block
// writes, usually gives a different result in one of them (unless the stale value it reads happens to equal the
// right one). run.sh runs the kernel tests under all three.
enum class Schedule { forward, reverse, random };
static Schedule schedule = Schedule::forward;
static std::mt19937_64 schedule_rng;
static bool schedule_read = false;

void set_schedule(const char* spec) {
    std::lock_guard<std::recursive_mutex> lock(device_lock);
    schedule_read = true;
    std::string s = spec ? spec : "forward";
    if (s == "forward") {
        schedule = Schedule::forward;
    } else if (s == "reverse") {
        schedule = Schedule::reverse;
    } else if (s.rfind("random", 0) == 0 && (s.size() == 6 || s[6] == ':')) {
        schedule = Schedule::random;
        char* end = nullptr;
        unsigned long long seed = s.size() > 7 ? strtoull(s.c_str() + 7, &end, 10) : 1;
        if (s.size() == 7 || (s.size() > 7 && (!isdigit((unsigned char)s[7]) || *end))) {
            fprintf(stderr, "EMU ERROR: SVJ_EMU_SCHEDULE=%s: the seed must be a number\n", s.c_str());
            abort();
        }
        schedule_rng.seed(seed);
    } else {
        fprintf(stderr, "EMU ERROR: SVJ_EMU_SCHEDULE=%s: expected forward, reverse or random[:SEED]\n", s.c_str());
        abort();
    }
}

static void read_schedule() {
    if (!schedule_read) set_schedule(getenv("SVJ_EMU_SCHEDULE"));
}

// 0..n-1 in the schedule's order (a fresh permutation on every call when random)
static void schedule_order(std::vector<unsigned>& order, unsigned n) {
    order.resize(n);
    for (unsigned i = 0; i < n; i++) order[i] = schedule == Schedule::reverse ? n - 1 - i : i;
    if (schedule == Schedule::random) std::shuffle(order.begin(), order.end(), schedule_rng);
}

static void run_grid(dim3 grid, dim3 block, size_t smem, const std::function<void()>& b) {
    std::lock_guard<std::recursive_mutex> lock(device_lock);
    unsigned threads = block.x * block.y * block.z;
    body = &b;
    gDim = grid;
    bDim = block;
    static std::vector<char*> stacks;   // kept for the whole run; below each, a page that faults on overflow
    while (stacks.size() < threads) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        char* m = (char*)mmap(nullptr, 128 * 1024 + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == (char*)MAP_FAILED) { fprintf(stderr, "EMU ERROR: no memory for fiber stacks\n"); abort(); }
        mprotect(m, page, PROT_NONE);
        stacks.push_back(m + page);
    }
    std::vector<Fiber> fs(threads);
    for (unsigned i = 0; i < threads; i++) fs[i].stack = stacks[i];
    fibers = &fs;
    int warps = (threads + 31) / 32;
    read_schedule();
    // blocks in the schedule's order (a grid has at most 2^31-1 x 65535 x 65535 blocks; the kernels here launch
    // far fewer, so the order is listed)
    std::vector<unsigned> blocks, order;
    unsigned long long nblocks = (unsigned long long)grid.x * grid.y * grid.z;
    if (nblocks > (1ull << 31)) { fprintf(stderr, "EMU ERROR: grid of %llu blocks\n", nblocks); abort(); }
    schedule_order(blocks, (unsigned)nblocks);
    for (unsigned blk : blocks) {
        unsigned bx = blk % grid.x, by = (blk / grid.x) % grid.y, bz = blk / (grid.x * grid.y);
        bIdx = dim3(bx, by, bz);
        dyn.assign(smem + 256 + 16, (char)0xFF);   // garbage, as real shared memory: NaN in F32, F16 and BF16
        block_gen = block_arrived = 0;
        block_live = threads;
        warp_gen.assign(warps, 0);
        warp_arrived.assign(warps, 0);
        warp_live.assign(warps, 32);
        if (threads % 32) warp_live[warps - 1] = threads % 32;
        slots.assign(warps, std::vector<unsigned long long>(64));
        slot_round.assign(warps, std::vector<long>(64, -1));
        gather.assign(warps, std::vector<char>());
        for (unsigned i = 0; i < threads; i++) {
            Fiber& f = fs[i];
            f.done = false;
            f.wait_kind = 0;
            f.shuffles = 0;
            f.t = dim3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
            const size_t size = 128 * 1024;
            void** sp = (void**)(((uintptr_t)(f.stack + size)) & ~(uintptr_t)15);
            *--sp = nullptr;              // fake return address: entry starts as if called
            *--sp = (void*)entry;         // popped by ret
            for (int r = 0; r < 6; r++) *--sp = nullptr;   // callee-saved registers
            f.sp = sp;
        }
        int remaining = threads;
        while (remaining > 0) {
            remaining = 0;
            bool ran = false;
            schedule_order(order, threads);
            // forward and reverse: a thread's warp-mates run again as soon as one of them is resumed, so a warp
            // whose lanes meet at warp-wide operations (shuffles, mma) still runs on to its next block barrier before
            // the next warp starts, as a thread without them does: the most skew between warps, which a missing
            // __syncthreads between one warp's writes and another's reads cannot survive in one of the two orders
            const bool warp_major = schedule != Schedule::random;
            block_released = false;
            for (size_t n = 0; n < order.size() && !block_released; n++) {
                const unsigned i = order[n];
                if (fs[i].done) continue;
                if (blocked(fs[i], i)) {
                    remaining++;
                    continue;
                }
                ran = true;
                cur = i;
                tIdx = fs[i].t;
                emu_switch(&sched_sp, fs[i].sp);
                remaining += !fs[i].done;
                if (warp_major) {
                    // the warp's other lanes, in the round's order, as long as any of them can run
                    const unsigned w0 = i / 32 * 32, w1 = std::min(w0 + 32, threads);
                    for (bool again = true; again && !block_released;) {
                        again = false;
                        for (size_t m = 0; m < order.size() && !block_released; m++) {
                            const unsigned j = order[m];
                            if (j < w0 || j >= w1 || fs[j].done || blocked(fs[j], j)) continue;
                            again = true;
                            cur = j;
                            tIdx = fs[j].t;
                            emu_switch(&sched_sp, fs[j].sp);
                        }
                    }
                }
            }
            // threads resumed out of turn above may have finished or stopped at a barrier after their turn came
            remaining = 0;
            for (unsigned i = 0; i < threads; i++) remaining += !fs[i].done;
            if (!ran && remaining > 0) {
                fprintf(stderr, "EMU ERROR: deadlock: %d threads of block (%u, %u, %u) wait at barriers no one else "
                                "reaches\n",
                        remaining, bx, by, bz);
                abort();
            }
        }
    }
    fibers = nullptr;
}

void launch(const void* kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream, std::function<void()> b) {
    int allowed;
    {
        std::lock_guard<std::recursive_mutex> lock(device_lock);
        launches++;
        allowed = smem_attr.count(kernel) ? smem_attr[kernel] : 48 * 1024;
    }
    unsigned threads = block.x * block.y * block.z;
    if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
        grid.z > 65535 || (long)smem > allowed) {
        fprintf(stderr, "EMU: launch rejected (grid %u %u %u, block %u %u %u, smem %zu, allowed %d)\n", grid.x, grid.y,
                grid.z, block.x, block.y, block.z, smem, allowed);
        last_error = cudaErrorInvalidValue;
        return;
    }
    cudaError_t rc = enqueue(stream, [grid, block, smem, b] { run_grid(grid, block, smem, b); });
    if (rc) last_error = rc;
}

void set_attr(const void* k, int bytes) {
    std::lock_guard<std::recursive_mutex> lock(device_lock);
    smem_attr[k] = bytes;
}
// the device's opt-in limit: sm_86's by default (the kernel tests switch to sm_90's with set_smem_optin); the
// emulated device of jni.sh is built with -DEMU_SMEM_OPTIN=232448, an H200's
#ifndef EMU_SMEM_OPTIN
#define EMU_SMEM_OPTIN 101376
#endif
int smem_optin = EMU_SMEM_OPTIN;
bool no_kernel_image = false;
void set_smem_optin(int bytes) { smem_optin = bytes; }
static long long blocks_cap = 1LL << 20;
long long grid_cap() { return blocks_cap; }
void set_grid_cap(long long blocks) { blocks_cap = blocks; }
}  // namespace emu

extern "C" {
cudaError_t cudaGetLastError(void) { cudaError_t e = emu::last_error; emu::last_error = cudaSuccess; return e; }
const char* cudaGetErrorName(cudaError_t e) {
    switch ((int)e) {
        case 0: return "cudaSuccess";
        case 1: return "cudaErrorInvalidValue";
        case 2: return "cudaErrorMemoryAllocation";
        case 101: return "cudaErrorInvalidDevice";
        case 400: return "cudaErrorInvalidResourceHandle";
        case 401: return "cudaErrorIllegalState";
        case 801: return "cudaErrorNotSupported";
        case 900: return "cudaErrorStreamCaptureUnsupported";
        case 901: return "cudaErrorStreamCaptureInvalidated";
        case 908: return "cudaErrorStreamCaptureWrongThread";
        default: return "cudaErrorUnknown";
    }
}
const char* cudaGetErrorString(cudaError_t e) { return e ? cudaGetErrorName(e) : "no error"; }
cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    switch (a) {
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = emu::smem_optin; return cudaSuccess;
        case cudaDevAttrComputeCapabilityMajor: *v = 9; return cudaSuccess;
        case cudaDevAttrComputeCapabilityMinor: *v = 0; return cudaSuccess;
        case cudaDevAttrMultiProcessorCount: *v = 132; return cudaSuccess;   // as rt.cpp's device properties
        default:
            fprintf(stderr, "EMU: cudaDeviceGetAttribute(%d) is not emulated\n", (int)a);
            *v = 0;
            return cudaErrorInvalidValue;
    }
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, const void*) {
    if (emu::no_kernel_image) return cudaErrorNoKernelImageForDevice;
    *a = cudaFuncAttributes();   // no static shared memory, as the kernels that raise their limit
    return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* f, cudaFuncAttribute a, int v) {
    if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) emu::set_attr(f, v);
    return cudaSuccess;
}
}

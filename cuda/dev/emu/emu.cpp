// The fiber scheduler behind emu.h, plus the few CUDA runtime functions the kernel files call.
#include "emu.h"
namespace emu {
thread_local dim3 tIdx, bIdx, bDim, gDim;

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
};

static std::vector<Fiber>* fibers;
static void* sched_sp;
static int cur;
static std::function<void()>* body;
static long block_gen, block_arrived;
static std::vector<long> warp_gen, warp_arrived;
static std::vector<std::vector<unsigned long long>> slots;
static std::vector<char> dyn;

static int live_in_block() { int n = 0; for (auto& f : *fibers) n += !f.done; return n; }
static int live_in_warp(int w) {
    int n = 0;
    for (size_t i = w * 32; i < std::min(fibers->size(), (size_t)(w * 32 + 32)); i++) n += !(*fibers)[i].done;
    return n;
}

static void yield() {
    emu_switch(&(*fibers)[cur].sp, sched_sp);
    Fiber& f = (*fibers)[cur];
    tIdx = f.t;
}

void sync_block() {
    long g = block_gen;
    if (++block_arrived == live_in_block()) {
        block_arrived = 0;
        block_gen++;
        return;
    }
    while (block_gen == g) yield();
}

void sync_warp() {
    int w = cur / 32;
    long g = warp_gen[w];
    if (++warp_arrived[w] == live_in_warp(w)) {
        warp_arrived[w] = 0;
        warp_gen[w]++;
        return;
    }
    while (warp_gen[w] == g) yield();
}

void exchange(const void* v, size_t n, int src, void* out) {
    int w = cur / 32;
    if (live_in_warp(w) != std::min<int>(32, (int)fibers->size() - w * 32)) {
        fprintf(stderr, "EMU ERROR: shuffle with exited lanes\n");
        abort();
    }
    unsigned long long x = 0;
    memcpy(&x, v, n);
    slots[w][cur % 32] = x;
    sync_warp();
    unsigned long long y = slots[w][src];
    sync_warp();
    memcpy(out, &y, n);
}

// 256-byte aligned, as the hardware's shared window (the kernels align their arrays to at most 128)
void* dyn_smem() { return (void*)(((uintptr_t)dyn.data() + 255) & ~(uintptr_t)255); }

static void entry() {
    (*body)();
    Fiber& f = (*fibers)[cur];
    f.done = true;
    // an exiting thread no longer counts at barriers: release waiters if it completed one
    if (block_arrived > 0 && block_arrived == live_in_block()) { block_arrived = 0; block_gen++; }
    int w = cur / 32;
    if (warp_arrived[w] > 0 && warp_arrived[w] == live_in_warp(w)) { warp_arrived[w] = 0; warp_gen[w]++; }
    emu_switch(&f.sp, sched_sp);
    abort();   // a finished fiber is never resumed
}

static std::map<const void*, int> smem_attr;
cudaError_t last_error = cudaSuccess;
long launches = 0;
long cub_calls = 0;

void launch(const void* kernel, dim3 grid, dim3 block, size_t smem, std::function<void()> b) {
    launches++;
    unsigned threads = block.x * block.y * block.z;
    int allowed = smem_attr.count(kernel) ? smem_attr[kernel] : 48 * 1024;
    if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
        grid.z > 65535 || (long)smem > allowed) {
        fprintf(stderr, "EMU: launch rejected (grid %u %u %u, block %u %u %u, smem %zu, allowed %d)\n", grid.x, grid.y,
                grid.z, block.x, block.y, block.z, smem, allowed);
        last_error = cudaErrorInvalidValue;
        return;
    }
    body = &b;
    gDim = grid;
    bDim = block;
    static std::vector<char*> stacks;   // kept for the whole run
    while (stacks.size() < threads) stacks.push_back((char*)malloc(128 * 1024));
    std::vector<Fiber> fs(threads);
    for (unsigned i = 0; i < threads; i++) fs[i].stack = stacks[i];
    fibers = &fs;
    int warps = (threads + 31) / 32;
    for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
    for (unsigned bx = 0; bx < grid.x; bx++) {
        bIdx = dim3(bx, by, bz);
        dyn.assign(smem + 256 + 16, (char)0xFF);   // garbage, as real shared memory: NaN in F32, F16 and BF16
        block_gen = block_arrived = 0;
        warp_gen.assign(warps, 0);
        warp_arrived.assign(warps, 0);
        slots.assign(warps, std::vector<unsigned long long>(32));
        for (unsigned i = 0; i < threads; i++) {
            Fiber& f = fs[i];
            f.done = false;
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
            for (unsigned i = 0; i < threads; i++) {
                if (fs[i].done) continue;
                cur = i;
                tIdx = fs[i].t;
                emu_switch(&sched_sp, fs[i].sp);
                remaining += !fs[i].done;
            }
        }
    }
    fibers = nullptr;
}

void set_attr(const void* k, int bytes) { smem_attr[k] = bytes; }
int smem_optin = 101376;   // sm_86's; set_smem_optin(232448) for sm_90's
void set_smem_optin(int bytes) { smem_optin = bytes; }
}  // namespace emu

extern "C" {
cudaError_t cudaGetLastError(void) { cudaError_t e = emu::last_error; emu::last_error = cudaSuccess; return e; }
const char* cudaGetErrorString(cudaError_t e) { return e ? "emulated error" : "no error"; }
const char* cudaGetErrorName(cudaError_t e) { return e ? "cudaErrorEmu" : "cudaSuccess"; }
cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? emu::smem_optin : 0;
    return cudaSuccess;
}
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* a, const void*) {
    *a = cudaFuncAttributes();   // no static shared memory, as the kernels that raise their limit
    return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void* f, cudaFuncAttribute a, int v) {
    if (a == cudaFuncAttributeMaxDynamicSharedMemorySize) emu::set_attr(f, v);
    return cudaSuccess;
}
}

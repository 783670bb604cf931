// Stand-in for cub::DeviceRadixSort::SortPairs in the emulation: a stable sort on bits [0, end_bit) that
// also checks our keys never use bits above end_bit, and scribbles over the temporary storage. Enqueued on
// the stream like a kernel (emu::enqueue).
#pragma once
#include <numeric>
namespace emu { extern long cub_calls; }
namespace cub {
struct DeviceRadixSort {
    template <class K, class V>
    static cudaError_t SortPairs(void* temp, size_t& bytes, const K* kin, K* kout, const V* vin, V* vout, int n,
                                 int begin_bit, int end_bit, cudaStream_t stream = 0) {
        if (!temp) { bytes = 1000 + (size_t)n; return cudaSuccess; }
        if (bytes < 1000 + (size_t)n || begin_bit != 0) return cudaErrorInvalidValue;
        size_t size = bytes;
        return emu::enqueue(stream, [=] {
            unsigned long long mask = end_bit >= 64 ? ~0ULL : ((1ULL << end_bit) - 1);
            for (int i = 0; i < n; i++) if ((kin[i] & ~mask) != 0) { fprintf(stderr, "EMU: key bits above end_bit\n"); abort(); }
            std::vector<int> idx(n);
            std::iota(idx.begin(), idx.end(), 0);
            std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return (kin[a] & mask) < (kin[b] & mask); });
            for (int i = 0; i < n; i++) { kout[i] = kin[idx[i]]; vout[i] = vin[idx[i]]; }
            memset(temp, 0xCD, size);   // scribble over the temporary storage
            emu::cub_calls++;
        });
    }
};
}

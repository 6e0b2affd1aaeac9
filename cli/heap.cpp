// `dataflow analyze` is a short batch process that builds a large tree (peak RSS is about 4x
// the input: bench/bench_analyze.py prints it) and exits. With 4 KiB pages about a third of its CPU
// time went to page faults, and on a 117 MB catalogue the faults made the run grow faster than
// the input (bench/README.md). Serving every allocation from one heap region with transparent
// huge pages keeps the cost per byte flat for large inputs; for smaller ones (a 12 MB catalogue)
// the compaction the kernel may do first to find huge pages cost more than the faults saved
// when memory was fragmented (right after a large process exited: 22.7 ms on average with huge
// pages against 16.0 ms without), so they get 4 KiB pages.

#include "heap.hpp"

#include <climits>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

namespace dataflow::cli {

void prepare_heap(std::size_t expected_bytes) {
    constexpr std::size_t max_pad = 1u << 30; // mallopt takes an int
    const std::size_t pad = std::min(expected_bytes, max_pad);
    mallopt(M_MMAP_MAX, 0); // large blocks (the input buffer) come from the heap too
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, static_cast<int>(pad));
    // Force one heap extension now (bigger than the free top), so that the pad is mapped and
    // can be advised as a single range.
    struct mallinfo2 info = mallinfo2();
    void* grow = std::malloc(info.keepcost + 64 * 1024);
    if (grow == nullptr) {
        return;
    }
    auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    auto start = (reinterpret_cast<std::uintptr_t>(grow) + page - 1) & ~(page - 1);
    auto end = reinterpret_cast<std::uintptr_t>(sbrk(0));
    if (end > start && expected_bytes >= k_huge_heap_bytes) {
        madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
    }
    std::free(grow);
}

} // namespace dataflow::cli

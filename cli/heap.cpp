// `dataflow analyze` is a short batch process that builds a large tree (peak RSS is about 4x
// the input: bench/bench_analyze.py prints it) and exits. Serving every allocation from one heap
// region, grown once, saves the mmap/munmap of each large block. Transparent huge pages were
// requested on it for large inputs until the kernel's direct compaction for them (THP defrag
// "madvise", Debian's default) was seen to stall a 117 MB run from 0.16 s to 0.5-1.4 s one run in
// three once memory was fragmented, against a steady 0.19-0.20 s with 4 KiB pages
// (bench/README.md, issue 19): they are no longer requested.

#include "heap.hpp"

#include <climits>

#include <algorithm>
#include <cstdlib>
#include <malloc.h>

namespace dataflow::cli {

void prepare_heap(std::size_t expected_bytes) {
    constexpr std::size_t max_pad = 1u << 30; // mallopt takes an int
    const std::size_t pad = std::min(expected_bytes, max_pad);
    mallopt(M_MMAP_MAX, 0); // large blocks (the input buffer) come from the heap too
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    mallopt(M_TOP_PAD, static_cast<int>(pad));
    // One heap extension now (bigger than the free top), with the pad.
    struct mallinfo2 info = mallinfo2();
    void* grow = std::malloc(info.keepcost + 64 * 1024);
    asm volatile("" : : "r"(grow) : "memory"); // kept: a block freed unused may be elided
    std::free(grow);
}

} // namespace dataflow::cli

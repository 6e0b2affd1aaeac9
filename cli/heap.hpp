#pragma once
/// Heap tuning for batch runs (see heap.cpp for why).

#include <cstddef>

namespace dataflow::cli {

/// Prepares the process heap for a run that will allocate about `expected_bytes`: one heap
/// (no separate mmaps), grown once, with transparent huge pages requested on it from
/// k_huge_heap_bytes up. Address space only: physical memory is still taken as pages are
/// touched.
void prepare_heap(std::size_t expected_bytes);

/// From this expected heap size up (an input of about 32 MiB), huge pages save more page faults
/// than they cost: on a smaller heap the kernel's compaction for them, when memory is
/// fragmented, took longer than the faults it saved (bench/README.md, issue 19).
inline constexpr std::size_t k_huge_heap_bytes = std::size_t{128} << 20;

} // namespace dataflow::cli

#pragma once
/// Heap tuning for batch runs (see heap.cpp for why).

#include <cstddef>

namespace dataflow::cli {

/// Prepares the process heap for a run that will allocate about `expected_bytes`: one heap
/// (no separate mmaps), grown once. Address space only: physical memory is still taken as
/// pages are touched.
void prepare_heap(std::size_t expected_bytes);

} // namespace dataflow::cli

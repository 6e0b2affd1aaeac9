#pragma once
/// Two pieces of work at once, for a short batch job on a machine with more than one CPU.

#include <functional>

namespace dataflow::util {

/// Runs `first` on the calling thread and `second` on a new thread at the same time, and
/// returns when both have finished; an exception from either is rethrown once both are done
/// (`first`'s when both throw). `first` is told whether `second` runs at the same time (false:
/// it runs after `first` returns, so `first` must not wait for it). The new thread is kept off the
/// caller's CPU: Linux starts a new thread on its parent's CPU and moves it only when the load
/// balancer notices, a few milliseconds later, which is the whole of a job this short (measured:
/// a 6.6 ms scan split in two took 6.6 ms, and 3.5 ms with the second half kept off). When no
/// thread can be started, or only one CPU is allowed, the two run one after the other on the
/// caller.
void run_in_parallel(const std::function<void(bool together)>& first,
                     const std::function<void()>& second);

} // namespace dataflow::util

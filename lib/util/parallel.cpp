#include "util/parallel.hpp"

#include <condition_variable>
#include <exception>
#include <mutex>
#include <pthread.h>
#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace dataflow::util {

namespace {

/// The CPUs the caller may use but is not on; false when there is no other.
bool other_cpus(cpu_set_t& set) {
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) {
        return false;
    }
    const int here = ::sched_getcpu();
    if (here >= 0 && here < CPU_SETSIZE) {
        CPU_CLR(here, &set);
    }
    return CPU_COUNT(&set) > 0;
}

struct Helper {
    const std::function<void()>* work;
    std::exception_ptr error;
};

void* run_helper(void* arg) {
    auto* h = static_cast<Helper*>(arg);
    try {
        (*h->work)();
    } catch (...) {
        h->error = std::current_exception();
    }
    return nullptr;
}

/// Starts `h` on a new thread that may run only on `cpus`; false when no thread could be started.
/// The affinity is set at creation: set afterwards with pthread_setaffinity_np(), it would land
/// on the caller if the thread had already ended (its tid then reads 0).
bool start_helper(pthread_t& thread, Helper& h, const cpu_set_t& cpus) {
    pthread_attr_t attr;
    if (::pthread_attr_init(&attr) != 0) {
        return false;
    }
    (void)::pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus); // a hint
    const bool started = ::pthread_create(&thread, &attr, run_helper, &h) == 0;
    ::pthread_attr_destroy(&attr);
    return started;
}

void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
}

/// The thread of keep_helper_ready() and what it shares with the caller that holds it. Never
/// freed: the thread lives as long as the process.
struct ReadyHelper {
    cpu_set_t cpus{};                ///< where it may run
    std::chrono::nanoseconds spin{}; ///< how long it waits for work awake
    std::atomic<bool> held{false};   ///< a caller has it
    std::atomic<const std::function<void()>*> work{nullptr};
    std::atomic<bool> done{false};
    std::exception_ptr error; ///< written before done, read after
    std::mutex mutex;
    std::condition_variable changed;
    std::atomic<std::size_t> runs{0};
};

std::atomic<ReadyHelper*> g_ready{nullptr};

/// Waits until `ready` holds, spinning for up to `spin`, then sleeping on the helper's mutex.
/// `yield`: each turn gives the CPU to any other thread that wants it (sched_yield returns at
/// once when none does), so a waiting helper never slows a thread on its CPU: a reader's own
/// second thread, started while the helper is held (SDMX-JSON's, beside its UTF-8 check), ran at
/// half speed against a helper spinning on pause alone (its parse 9 -> 15 ms).
template <class Ready>
void await(ReadyHelper& h, std::chrono::nanoseconds spin, bool yield, Ready ready) {
    const auto until = std::chrono::steady_clock::now() + spin;
    for (unsigned i = 1; !ready(); ++i) {
        if (yield) {
            ::sched_yield();
        } else {
            relax();
        }
        if (i % 256 == 0 && std::chrono::steady_clock::now() >= until) {
            std::unique_lock lock(h.mutex);
            h.changed.wait(lock, ready);
            return;
        }
    }
}

void* ready_loop(void* arg) {
    auto& h = *static_cast<ReadyHelper*>(arg);
    for (;;) {
        await(h, h.spin, true, [&h] { return h.work.load(std::memory_order_acquire) != nullptr; });
        const auto* work = h.work.exchange(nullptr, std::memory_order_acquire);
        try {
            (*work)();
        } catch (...) {
            h.error = std::current_exception();
        }
        h.runs.fetch_add(1, std::memory_order_relaxed);
        {
            std::lock_guard lock(h.mutex);
            h.done.store(true, std::memory_order_release);
        }
        h.changed.notify_all();
    }
    return nullptr;
}

/// Runs the two on the caller and the ready helper; false (nothing run) when the helper is
/// held by another caller or may run on the caller's CPU.
bool run_on_ready(const std::function<void(bool)>& first, const std::function<void()>& second) {
    ReadyHelper* h = g_ready.load(std::memory_order_acquire);
    cpu_set_t others;
    // The caller kept to one CPU since (taskset, a test) runs the two one after the other.
    if (h == nullptr || !other_cpus(others) || h->held.exchange(true, std::memory_order_acquire)) {
        return false;
    }
    const int here = ::sched_getcpu();
    if (here < 0 || here >= CPU_SETSIZE || CPU_ISSET(here, &h->cpus)) {
        h->held.store(false, std::memory_order_release);
        return false;
    }
    h->error = nullptr;
    h->done.store(false, std::memory_order_relaxed);
    {
        std::lock_guard lock(h->mutex);
        h->work.store(&second, std::memory_order_release);
    }
    h->changed.notify_all();
    std::exception_ptr first_error;
    try {
        first(true);
    } catch (...) {
        first_error = std::current_exception();
    }
    // The halves are sized to end together: spin a little, then sleep.
    await(*h, std::chrono::microseconds(200), false,
          [h] { return h->done.load(std::memory_order_acquire); });
    std::exception_ptr second_error = std::move(h->error);
    h->held.store(false, std::memory_order_release);
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    if (second_error) {
        std::rethrow_exception(second_error);
    }
    return true;
}

} // namespace

void keep_helper_ready(std::chrono::microseconds spin) {
    static std::atomic<bool> kept{false};
    if (kept.exchange(true)) {
        return;
    }
    auto* h = new ReadyHelper;
    h->spin = spin;
    pthread_t thread{};
    pthread_attr_t attr;
    bool started = false;
    if (other_cpus(h->cpus) && ::pthread_attr_init(&attr) == 0) {
        (void)::pthread_attr_setaffinity_np(&attr, sizeof h->cpus, &h->cpus);
        (void)::pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        started = ::pthread_create(&thread, &attr, ready_loop, h) == 0;
        ::pthread_attr_destroy(&attr);
    }
    if (started) {
        g_ready.store(h, std::memory_order_release);
    } else {
        delete h;
        kept.store(false);
    }
}

std::size_t ready_helper_runs() noexcept {
    const ReadyHelper* h = g_ready.load(std::memory_order_acquire);
    return h == nullptr ? 0 : h->runs.load(std::memory_order_relaxed);
}

void run_in_parallel(const std::function<void(bool together)>& first,
                     const std::function<void()>& second) {
    if (run_on_ready(first, second)) {
        return;
    }
    cpu_set_t others;
    Helper helper{&second, nullptr};
    pthread_t thread{};
    if (!other_cpus(others) || !start_helper(thread, helper, others)) {
        first(false); // one CPU, or no thread to be had: one after the other
        second();
        return;
    }
    std::exception_ptr first_error;
    try {
        first(true);
    } catch (...) {
        first_error = std::current_exception();
    }
    ::pthread_join(thread, nullptr);
    if (first_error) {
        std::rethrow_exception(first_error);
    }
    if (helper.error) {
        std::rethrow_exception(helper.error);
    }
}

} // namespace dataflow::util

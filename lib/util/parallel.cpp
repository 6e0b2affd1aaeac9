#include "util/parallel.hpp"

#include <exception>
#include <pthread.h>
#include <sched.h>

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

} // namespace

void run_in_parallel(const std::function<void(bool together)>& first,
                     const std::function<void()>& second) {
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

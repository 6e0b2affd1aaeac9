#pragma once
/// Two pieces of work at once, for a short batch job on a machine with more than one CPU.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

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

/// Keeps one thread ready, off the caller's CPU, for the run_in_parallel() calls of a short
/// batch job: it waits for work spinning, for up to `spin` after it starts and after each piece
/// of work, and then sleeps until the next. A thread started when the work is there, or asleep,
/// waits for its CPU to wake: 100–300 us on a virtual machine whose other CPU was idle
/// (measured), five times in a 13 ms `analyze`. Does nothing on one CPU or when a thread is
/// already kept. run_in_parallel() uses it when it is free and the caller is not on its CPU, and
/// starts a thread as before otherwise.
void keep_helper_ready(std::chrono::microseconds spin);

/// How many pieces of work the thread of keep_helper_ready() has run (tests).
std::size_t ready_helper_runs() noexcept;

/// Work handed from the helper of run_in_parallel() to the caller at a point of the caller's
/// choosing: the helper claims it when it starts (waiting until the caller offers it, when it
/// was made not offered yet) and finishes it with a result (nullopt: none); the caller, at that
/// point, takes the result, waiting for it only when the two run at the same time (`together`:
/// run_in_parallel() runs the helper after the caller on one CPU), and cancels it when it no
/// longer wants it (also when it ends, however). A cancelled helper sees cancelled() and stops
/// early.
template <class T>
class Handoff {
public:
    explicit Handoff(bool offered = true) : m_state(offered ? State::offered : State::waiting) {}
    /// The caller: the work can start (what the helper needs is written before this).
    void offer() {
        std::lock_guard lock(m_mutex);
        if (m_state == State::waiting) {
            m_state = State::offered;
        }
        m_changed.notify_all();
    }
    /// The caller, before anything else: whether the helper runs at the same time.
    void set_together(bool together) { m_together = together; }
    /// The helper: false when the work was cancelled before it started.
    bool claim() {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [this] { return m_state != State::waiting; });
        if (m_state != State::offered) {
            return false;
        }
        m_state = State::claimed;
        return true;
    }
    void finish(std::optional<T> result) {
        std::lock_guard lock(m_mutex);
        if (m_state == State::claimed) {
            m_result = std::move(result);
            m_state = State::finished;
        }
        m_changed.notify_all();
    }
    /// The caller: the helper's result once it has finished; nullopt when it has none or when
    /// the two do not run at the same time (then the helper does nothing).
    std::optional<T> take() {
        std::unique_lock lock(m_mutex);
        if (!m_together) {
            cancel_locked();
            return std::nullopt;
        }
        m_changed.wait(
            lock, [this] { return m_state == State::finished || m_state == State::cancelled; });
        if (m_state != State::finished) {
            return std::nullopt;
        }
        m_state = State::cancelled; // taken once
        return std::move(m_result);
    }
    void cancel() {
        std::lock_guard lock(m_mutex);
        cancel_locked();
    }
    bool cancelled() const { return m_cancel.load(std::memory_order_relaxed); }

private:
    enum class State { waiting, offered, claimed, finished, cancelled };
    void cancel_locked() {
        m_cancel.store(true, std::memory_order_relaxed);
        if (m_state != State::finished) {
            m_state = State::cancelled;
        }
        m_changed.notify_all();
    }
    bool m_together = false; ///< the caller's alone
    std::mutex m_mutex;
    std::condition_variable m_changed;
    State m_state;
    std::atomic<bool> m_cancel{false};
    std::optional<T> m_result;
};

} // namespace dataflow::util

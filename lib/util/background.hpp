#pragma once
/// One background thread with a cooperative stop: start, wake, stop-and-join, and waits that a
/// stop interrupts at once. The owner keeps its own state under its own mutex; the waits take
/// the owner's lock, so "state changed" (wake) and "stop" are never missed.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <stop_token>
#include <thread>

namespace dataflow::util {

class BackgroundThread {
public:
    BackgroundThread() = default;
    /// Stops and joins (a thread still running at destruction would terminate the process).
    ~BackgroundThread() { stop(); }
    BackgroundThread(const BackgroundThread&) = delete;
    BackgroundThread& operator=(const BackgroundThread&) = delete;

    /// Runs `body` on a new thread; does nothing while one runs. A stopped thread may be
    /// started again.
    void start(std::function<void()> body);
    /// Asks the body to stop, interrupts its waits, then joins. Idempotent; does nothing when
    /// no thread runs. Stop callbacks registered on stop_token() run first, on this thread.
    void stop();
    bool running() const noexcept { return m_thread.joinable(); }

    /// For the body: whether stop() was called.
    bool stop_requested() const noexcept { return m_stop.stop_requested(); }
    /// For the body: to wake waits of its own on a stop (std::stop_callback), e.g. a poll().
    std::stop_token stop_token() const noexcept { return m_stop.get_token(); }
    /// Makes a body waiting in wait()/wait_for() check its predicate again: call it after
    /// changing what the predicate reads (under the owner's lock, or after releasing it).
    void wake() noexcept { m_cv.notify_all(); }

    /// For the body: waits on `lock` (the owner's) until `pred()` holds or a stop is asked;
    /// false when a stop was asked, even if `pred()` holds too.
    template <typename Lock, typename Pred>
    bool wait(Lock& lock, Pred pred) {
        m_cv.wait(lock, m_stop.get_token(), std::move(pred));
        return !stop_requested();
    }
    /// The same, giving up after `timeout`.
    template <typename Lock, typename Rep, typename Period, typename Pred>
    bool wait_for(Lock& lock, std::chrono::duration<Rep, Period> timeout, Pred pred) {
        m_cv.wait_for(lock, m_stop.get_token(), timeout, std::move(pred));
        return !stop_requested();
    }
    /// For the body: sleeps `timeout` with `lock` released, or less if a stop is asked; false
    /// when a stop was asked.
    template <typename Lock, typename Rep, typename Period>
    bool wait_for(Lock& lock, std::chrono::duration<Rep, Period> timeout) {
        return wait_for(lock, timeout, [] { return false; });
    }

private:
    std::condition_variable_any m_cv;
    std::stop_source m_stop;
    std::thread m_thread;
};

} // namespace dataflow::util

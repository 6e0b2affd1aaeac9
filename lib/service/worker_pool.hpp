#pragma once
/// The HTTP server's worker pool: `core` threads always, growing to `max` while every worker is
/// busy. cpp-httplib 0.11 keeps a keep-alive connection on one worker for its whole life, so a
/// fixed pool of 16 makes the 17th client wait for an idle connection to time out; growing
/// instead serves it at once. Threads above `core` exit after `idle_timeout` without work.
/// Beyond `max`, connections wait in the queue (the kernel backlog behind it is bounded).
/// A thread that cannot be created (std::system_error: a thread or memory limit) is logged once
/// and its job served by an existing worker later; the pool never lets the error escape.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <httplib.h>
#include <mutex>

namespace dataflow::service {

class WorkerPool : public httplib::TaskQueue {
public:
    /// Starts a detached thread running its argument; throws std::system_error when it cannot
    /// (as std::thread does). Injectable so that tests can make creation fail.
    using ThreadStarter = std::function<void(std::function<void()>)>;

    WorkerPool(std::size_t core, std::size_t max,
               std::chrono::milliseconds idle_timeout = std::chrono::seconds(30),
               ThreadStarter start_thread = {});
    ~WorkerPool() override;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// What to do with a job that finds every worker busy, the pool at its maximum and
    /// `max_queued` jobs waiting already: `overflow` runs it at once on the caller's thread
    /// (the accept loop), to refuse it quickly. Without one, the queue is unbounded.
    using Overflow = std::function<void(std::function<void()>)>;
    void set_overflow(std::size_t max_queued, Overflow overflow);

    void enqueue(std::function<void()> fn) override;
    void shutdown() override;

    std::size_t threads() const;
    std::size_t queued() const;

private:
    /// False (logged once) when the thread could not be created.
    bool spawn(bool core);
    void work(bool core);

    const std::size_t m_core;
    const std::size_t m_max;
    const std::chrono::milliseconds m_idle_timeout;
    const ThreadStarter m_start_thread;
    mutable std::mutex m_mutex;
    std::condition_variable m_work;
    std::condition_variable m_exited;
    std::deque<std::function<void()>> m_jobs;
    std::size_t m_threads = 0;
    std::size_t m_idle = 0;
    bool m_stop = false;
    bool m_spawn_failure_logged = false;
    std::size_t m_max_queued = 0;
    Overflow m_overflow;
};

} // namespace dataflow::service

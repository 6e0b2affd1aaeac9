#pragma once
/// The HTTP server's worker pool: `core` threads always, growing to `max` while every worker is
/// busy. cpp-httplib 0.11 keeps a keep-alive connection on one worker for its whole life, so a
/// fixed pool of 16 makes the 17th client wait for an idle connection to time out; growing
/// instead serves it at once. Threads above `core` exit after `idle_timeout` without work.
/// Beyond `max`, connections wait in the queue (the kernel backlog behind it is bounded).

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
    WorkerPool(std::size_t core, std::size_t max,
               std::chrono::milliseconds idle_timeout = std::chrono::seconds(30));
    ~WorkerPool() override;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void enqueue(std::function<void()> fn) override;
    void shutdown() override;

    std::size_t threads() const;
    std::size_t queued() const;

private:
    void spawn(bool core);
    void work(bool core);

    const std::size_t m_core;
    const std::size_t m_max;
    const std::chrono::milliseconds m_idle_timeout;
    mutable std::mutex m_mutex;
    std::condition_variable m_work;
    std::condition_variable m_exited;
    std::deque<std::function<void()>> m_jobs;
    std::size_t m_threads = 0;
    std::size_t m_idle = 0;
    bool m_stop = false;
};

} // namespace dataflow::service

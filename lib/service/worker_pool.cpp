#include "service/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace dataflow::service {

WorkerPool::WorkerPool(std::size_t core, std::size_t max, std::chrono::milliseconds idle_timeout)
    : m_core(std::max<std::size_t>(core, 1)), m_max(std::max(max, m_core)),
      m_idle_timeout(idle_timeout) {
    std::lock_guard lock(m_mutex);
    for (std::size_t i = 0; i < m_core; ++i) {
        spawn(true);
    }
}

WorkerPool::~WorkerPool() {
    shutdown();
}

void WorkerPool::spawn(bool core) {
    // Called with m_mutex held. Detached: a thread above `core` ends on its own when idle;
    // shutdown() waits for the count to reach zero.
    ++m_threads;
    ++m_idle; // idle until it takes a job, even before it starts waiting
    std::thread([this, core] { work(core); }).detach();
}

void WorkerPool::enqueue(std::function<void()> fn) {
    std::lock_guard lock(m_mutex);
    if (m_stop) {
        return;
    }
    m_jobs.push_back(std::move(fn));
    if (m_idle < m_jobs.size() && m_threads < m_max) {
        spawn(false);
    }
    m_work.notify_one();
}

void WorkerPool::work(bool core) {
    std::unique_lock lock(m_mutex);
    while (true) {
        bool woke = true;
        if (core) {
            m_work.wait(lock, [this] { return m_stop || !m_jobs.empty(); });
        } else {
            woke =
                m_work.wait_for(lock, m_idle_timeout, [this] { return m_stop || !m_jobs.empty(); });
        }
        if (m_jobs.empty() && (m_stop || !woke)) {
            break; // shutting down, or an extra thread with nothing to do
        }
        auto job = std::move(m_jobs.front());
        m_jobs.pop_front();
        --m_idle;
        lock.unlock();
        try {
            job();
        } catch (const std::exception& e) {
            spdlog::error("worker: unexpected exception: {}", e.what());
        } catch (...) {
            spdlog::error("worker: unexpected exception");
        }
        lock.lock();
        ++m_idle;
    }
    --m_idle;
    --m_threads;
    m_exited.notify_all();
}

void WorkerPool::shutdown() {
    std::unique_lock lock(m_mutex);
    m_stop = true;
    m_work.notify_all();
    // Queued connections are still served (httplib's own pool does the same), then every
    // thread ends.
    m_exited.wait(lock, [this] { return m_threads == 0; });
}

std::size_t WorkerPool::threads() const {
    std::lock_guard lock(m_mutex);
    return m_threads;
}

std::size_t WorkerPool::queued() const {
    std::lock_guard lock(m_mutex);
    return m_jobs.size();
}

} // namespace dataflow::service

#include "service/worker_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <thread>

namespace dataflow::service {

WorkerPool::WorkerPool(std::size_t core, std::size_t max, std::chrono::milliseconds idle_timeout,
                       ThreadStarter start_thread)
    : m_core(std::max<std::size_t>(core, 1)), m_max(std::max(max, m_core)),
      m_idle_timeout(idle_timeout),
      m_start_thread(start_thread ? std::move(start_thread) : [](std::function<void()> run) {
          std::thread(std::move(run)).detach();
      }) {
    std::lock_guard lock(m_mutex);
    for (std::size_t i = 0; i < m_core; ++i) {
        spawn(true);
    }
}

WorkerPool::~WorkerPool() {
    shutdown();
}

bool WorkerPool::spawn(bool core) {
    // Called with m_mutex held. Detached: a thread above `core` ends on its own when idle;
    // shutdown() waits for the count to reach zero. A core thread that could not be created is
    // made up by the next one that can (it then stays).
    core = core || m_threads < m_core;
    ++m_threads;
    ++m_idle; // idle until it takes a job, even before it starts waiting
    try {
        m_start_thread([this, core] { work(core); });
    } catch (const std::exception& e) { // std::system_error from std::thread, or memory
        --m_threads;
        --m_idle;
        if (!m_spawn_failure_logged) {
            m_spawn_failure_logged = true;
            spdlog::warn("worker pool: cannot create a thread ({}); {} workers serve the queue "
                         "(logged once)",
                         e.what(), m_threads);
        }
        return false;
    }
    return true;
}

void WorkerPool::set_overflow(std::size_t max_queued, Overflow overflow) {
    std::lock_guard lock(m_mutex);
    m_max_queued = max_queued;
    m_overflow = std::move(overflow);
}

void WorkerPool::enqueue(std::function<void()> fn) {
    Overflow overflow;
    {
        std::lock_guard lock(m_mutex);
        if (m_stop) {
            return;
        }
        if (m_overflow && m_idle == 0 && m_threads >= m_max && m_jobs.size() >= m_max_queued) {
            overflow = m_overflow;
        } else {
            m_jobs.push_back(std::move(fn));
            if (m_idle < m_jobs.size() && m_threads < m_max) {
                spawn(false);
            }
            m_work.notify_one();
        }
    }
    if (overflow) {
        overflow(std::move(fn));
    }
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

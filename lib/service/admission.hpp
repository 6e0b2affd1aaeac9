#pragma once
/// Admission of analyses: server.max_concurrent_analyses run at once; beyond that a request
/// waits in a bounded first-in-first-out queue (server.analysis_queue_size) for at most
/// server.analysis_queue_wait, and is refused with 503 and Retry-After when the queue is full or
/// the wait runs out. Short bursts are queued instead of shed; beyond the queue, refused at once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>

namespace dataflow::service {

class Admission {
public:
    struct Limits {
        int slots = 1;                     ///< analyses at once
        int queue = 0;                     ///< requests waiting at most
        std::chrono::milliseconds wait{0}; ///< longest wait in the queue
    };

    /// A slot held until destroyed (or moved from).
    class Slot {
    public:
        Slot() = default;
        explicit Slot(Admission* owner) : m_owner(owner) {}
        Slot(Slot&& other) noexcept : m_owner(other.m_owner) { other.m_owner = nullptr; }
        Slot& operator=(Slot&& other) noexcept;
        ~Slot() { release(); }
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        explicit operator bool() const { return m_owner != nullptr; }
        void release();

    private:
        Admission* m_owner = nullptr;
    };

    enum class Refusal { none, queue_full, timed_out };

    /// A slot: at once when one is free and nobody waits before us, else after waiting in
    /// arrival order. An empty Slot and the reason when refused.
    Slot acquire(const Limits& limits, Refusal* why = nullptr);
    /// True when a request arriving now would be refused without waiting (every slot taken and
    /// the queue full).
    bool saturated(const Limits& limits) const;

    int running() const;
    int waiting() const;
    std::uint64_t queued_total() const; ///< requests that waited for a slot
    std::uint64_t refused_total() const;

private:
    void give_back();
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    int m_running = 0;
    std::deque<std::uint64_t> m_waiting; ///< tickets in arrival order
    std::uint64_t m_next_ticket = 0;
    std::uint64_t m_queued = 0;
    std::uint64_t m_refused = 0;
};

} // namespace dataflow::service

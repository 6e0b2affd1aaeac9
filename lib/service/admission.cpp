#include "service/admission.hpp"

#include <algorithm>

namespace dataflow::service {

Admission::Slot& Admission::Slot::operator=(Slot&& other) noexcept {
    if (this != &other) {
        release();
        m_owner = other.m_owner;
        other.m_owner = nullptr;
    }
    return *this;
}

void Admission::Slot::release() {
    if (m_owner != nullptr) {
        m_owner->give_back();
        m_owner = nullptr;
    }
}

Admission::Slot Admission::acquire(const Limits& limits, Refusal* why) {
    auto refuse = [&](Refusal r) {
        ++m_refused;
        if (why != nullptr) {
            *why = r;
        }
        return Slot();
    };
    std::unique_lock lock(m_mutex);
    if (m_running < limits.slots && m_waiting.empty()) {
        ++m_running;
        return Slot(this);
    }
    if (static_cast<int>(m_waiting.size()) >= limits.queue || limits.wait.count() <= 0) {
        return refuse(Refusal::queue_full);
    }
    auto ticket = m_next_ticket++;
    m_waiting.push_back(ticket);
    ++m_queued;
    auto deadline = std::chrono::steady_clock::now() + limits.wait;
    // First in, first out: only the oldest waiter takes a free slot.
    bool admitted = m_cv.wait_until(
        lock, deadline, [&] { return m_waiting.front() == ticket && m_running < limits.slots; });
    if (!admitted) {
        m_waiting.erase(std::find(m_waiting.begin(), m_waiting.end(), ticket));
        m_cv.notify_all(); // the next in line may now be the oldest
        return refuse(Refusal::timed_out);
    }
    m_waiting.pop_front();
    ++m_running;
    m_cv.notify_all(); // a second free slot goes to the next in line
    return Slot(this);
}

bool Admission::saturated(const Limits& limits) const {
    std::lock_guard lock(m_mutex);
    return m_running >= limits.slots &&
           (static_cast<int>(m_waiting.size()) >= limits.queue || limits.wait.count() <= 0);
}

void Admission::give_back() {
    {
        std::lock_guard lock(m_mutex);
        --m_running;
    }
    m_cv.notify_all();
}

int Admission::running() const {
    std::lock_guard lock(m_mutex);
    return m_running;
}

int Admission::waiting() const {
    std::lock_guard lock(m_mutex);
    return static_cast<int>(m_waiting.size());
}

std::uint64_t Admission::queued_total() const {
    std::lock_guard lock(m_mutex);
    return m_queued;
}

std::uint64_t Admission::refused_total() const {
    std::lock_guard lock(m_mutex);
    return m_refused;
}

} // namespace dataflow::service

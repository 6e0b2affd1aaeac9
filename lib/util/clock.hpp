#pragma once
/// An injectable clock: services ask it for the time so tests can drive TTLs, breakers,
/// rate limits and debouncing exactly, without sleeping.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace dataflow::util {

class Clock {
public:
    virtual ~Clock() = default;
    /// Monotonic time, for intervals and deadlines.
    virtual std::chrono::steady_clock::time_point steady() const = 0;
    /// Wall-clock time, for timestamps shown to people.
    virtual std::chrono::system_clock::time_point system() const = 0;
    /// Waits until `when` (steady), or until `cancel` becomes true; false when cancelled.
    virtual bool sleep_until(std::chrono::steady_clock::time_point when,
                             const std::atomic<bool>* cancel = nullptr) const = 0;
};

/// The real clocks.
class SystemClock final : public Clock {
public:
    std::chrono::steady_clock::time_point steady() const override {
        return std::chrono::steady_clock::now();
    }
    std::chrono::system_clock::time_point system() const override {
        return std::chrono::system_clock::now();
    }
    bool sleep_until(std::chrono::steady_clock::time_point when,
                     const std::atomic<bool>* cancel = nullptr) const override {
        // Short naps so a cancellation (Ctrl-C, shutdown) is seen within 50 ms.
        while (std::chrono::steady_clock::now() < when) {
            if (cancel != nullptr && cancel->load()) {
                return false;
            }
            auto nap = std::min<std::chrono::steady_clock::duration>(
                when - std::chrono::steady_clock::now(), std::chrono::milliseconds(50));
            std::this_thread::sleep_for(nap);
        }
        return cancel == nullptr || !cancel->load();
    }
    /// A process-wide instance (stateless).
    static const SystemClock& instance() {
        static const SystemClock clock;
        return clock;
    }
};

/// A clock that moves only when told to (thread-safe).
class ManualClock final : public Clock {
public:
    std::chrono::steady_clock::time_point steady() const override {
        return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(m_ns.load()));
    }
    std::chrono::system_clock::time_point system() const override {
        return std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(m_ns.load() + k_epoch_offset_ns)));
    }
    void advance(std::chrono::nanoseconds d) { m_ns += d.count(); }
    /// Moves time forward to `when` at once (simulated waiting).
    bool sleep_until(std::chrono::steady_clock::time_point when,
                     const std::atomic<bool>* cancel = nullptr) const override {
        if (cancel != nullptr && cancel->load()) {
            return false;
        }
        long long target =
            std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
        long long current = m_ns.load();
        while (current < target && !m_ns.compare_exchange_weak(current, target)) {
        }
        return true;
    }

private:
    // 2026-01-01T00:00:00Z, so system() looks like a real date.
    static constexpr long long k_epoch_offset_ns = 1'767'225'600LL * 1'000'000'000LL;
    mutable std::atomic<long long> m_ns{1'000'000'000};
};

} // namespace dataflow::util

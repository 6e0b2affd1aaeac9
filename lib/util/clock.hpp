#pragma once
/// An injectable clock: services ask it for the time so tests can drive TTLs, breakers,
/// rate limits and debouncing exactly, without sleeping.

#include <atomic>
#include <chrono>

namespace dataflow::util {

class Clock {
public:
    virtual ~Clock() = default;
    /// Monotonic time, for intervals and deadlines.
    virtual std::chrono::steady_clock::time_point steady() const = 0;
    /// Wall-clock time, for timestamps shown to people.
    virtual std::chrono::system_clock::time_point system() const = 0;
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

private:
    // 2026-01-01T00:00:00Z, so system() looks like a real date.
    static constexpr long long k_epoch_offset_ns = 1'767'225'600LL * 1'000'000'000LL;
    std::atomic<long long> m_ns{1'000'000'000};
};

} // namespace dataflow::util

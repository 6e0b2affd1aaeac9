#pragma once
/// Circuit breakers: stop calling an upstream that keeps failing, then let exactly one trial call
/// through after a pause. One breaker per upstream host and operation class, in a registry.

#include "util/clock.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dataflow::resilience {

enum class BreakerState { closed, open, half_open };
std::string_view to_string(BreakerState state);

struct BreakerSettings {
    int failure_threshold = 5;  ///< consecutive failures that open it
    double failure_ratio = 0.5; ///< or this ratio of failures in the window...
    int minimum_calls = 10;     ///< ...over at least this many calls
    std::chrono::milliseconds window{60'000};
    std::chrono::milliseconds open_duration{60'000};
    int half_open_successes = 1; ///< trial successes (one at a time) that close it
    std::chrono::milliseconds slow_call_threshold{30'000}; ///< slower calls count as failures
};

/// How a finished call counts.
enum class CallResult {
    success, ///< including "no data" and client errors: the upstream answered
    failure, ///< timeout, network, 5xx, unusable payload
    neutral, ///< rate-limited or cancelled: says nothing about the upstream's health
};

struct BreakerSnapshot {
    std::string name;
    BreakerState state = BreakerState::closed;
    int consecutive_failures = 0;
    std::size_t window_calls = 0;
    std::size_t window_failures = 0;
    std::uint64_t successes = 0;
    std::uint64_t failures = 0;
    std::uint64_t rejected = 0;                       ///< calls refused while open
    std::uint64_t opened = 0;                         ///< times it opened
    std::chrono::steady_clock::time_point retry_at{}; ///< open: when the trial is allowed
};

class CircuitBreaker {
public:
    CircuitBreaker(std::string name, BreakerSettings settings, const util::Clock& clock);

    struct Permit {
        bool allowed = false;
        bool trial = false;                               ///< the half-open trial call
        std::chrono::steady_clock::time_point retry_at{}; ///< when refused
    };

    /// Asks to make a call. Closed: yes. Open: no (with when to retry) until open_duration
    /// has passed, then exactly one trial call (half-open). Every allowed permit must be
    /// given back through record().
    Permit acquire();
    /// Reports how an allowed call ended and how long it took.
    void record(const Permit& permit, CallResult result, std::chrono::milliseconds duration);

    BreakerSnapshot snapshot() const;
    void configure(const BreakerSettings& settings);
    const std::string& name() const { return m_name; }

private:
    void open_locked(std::chrono::steady_clock::time_point now, const char* why);
    void prune_locked(std::chrono::steady_clock::time_point now);

    std::string m_name;
    BreakerSettings m_settings;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    BreakerState m_state = BreakerState::closed;
    int m_consecutive_failures = 0;
    int m_trial_successes = 0;
    bool m_trial_in_flight = false;
    std::chrono::steady_clock::time_point m_open_until{};
    std::deque<std::pair<std::chrono::steady_clock::time_point, bool>> m_window; ///< (time, failed)
    std::uint64_t m_successes = 0;
    std::uint64_t m_failures = 0;
    std::uint64_t m_rejected = 0;
    std::uint64_t m_opened = 0;
};

/// All breakers of a process, created on first use, listed for status and metrics.
class BreakerRegistry {
public:
    BreakerRegistry(BreakerSettings settings, const util::Clock& clock);
    /// The breaker for `host` and operation class `op` ("structure", "data", "redis").
    CircuitBreaker& get(const std::string& host, const std::string& op);
    std::vector<BreakerSnapshot> list() const;
    /// New settings for every breaker (reload); state is kept.
    void configure(const BreakerSettings& settings);
    void set_enabled(bool enabled);
    bool enabled() const;

private:
    BreakerSettings m_settings;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    bool m_enabled = true;
    std::map<std::string, std::unique_ptr<CircuitBreaker>> m_breakers;
};

} // namespace dataflow::resilience

#include "resilience/circuit_breaker.hpp"

#include "util/time.hpp"

#include <spdlog/spdlog.h>

namespace dataflow::resilience {

using std::chrono::steady_clock;

std::string_view to_string(BreakerState state) {
    switch (state) {
    case BreakerState::closed:
        return "closed";
    case BreakerState::open:
        return "open";
    case BreakerState::half_open:
        return "half_open";
    }
    return "?";
}

CircuitBreaker::CircuitBreaker(std::string name, BreakerSettings settings, const util::Clock& clock)
    : m_name(std::move(name)), m_settings(settings), m_clock(clock) {}

void CircuitBreaker::configure(const BreakerSettings& settings) {
    std::lock_guard lock(m_mutex);
    m_settings = settings;
}

CircuitBreaker::Permit CircuitBreaker::acquire() {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    switch (m_state) {
    case BreakerState::closed:
        return Permit{true, false, {}};
    case BreakerState::open:
        if (now < m_open_until) {
            ++m_rejected;
            return Permit{false, false, m_open_until};
        }
        m_state = BreakerState::half_open;
        m_trial_successes = 0;
        spdlog::info("circuit breaker {}: half-open, sending one trial call", m_name);
        [[fallthrough]];
    case BreakerState::half_open:
        if (m_trial_in_flight) {
            ++m_rejected;
            // The trial decides; until then, come back after a short while.
            return Permit{false, false, now + std::chrono::seconds(1)};
        }
        m_trial_in_flight = true;
        return Permit{true, true, {}};
    }
    return Permit{};
}

void CircuitBreaker::prune_locked(steady_clock::time_point now) {
    while (!m_window.empty() &&
           (now - m_window.front().first > m_settings.window || m_window.size() > 10'000)) {
        m_window.pop_front();
    }
}

void CircuitBreaker::open_locked(steady_clock::time_point now, const char* why) {
    m_state = BreakerState::open;
    m_open_until = now + m_settings.open_duration;
    m_trial_in_flight = false;
    ++m_opened;
    auto wait = std::chrono::duration_cast<std::chrono::seconds>(m_settings.open_duration);
    spdlog::warn("circuit breaker {}: open ({}); next attempt in {} s", m_name, why, wait.count());
}

void CircuitBreaker::record(const Permit& permit, CallResult result,
                            std::chrono::milliseconds duration) {
    if (!permit.allowed) {
        return;
    }
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    if (result == CallResult::success && duration > m_settings.slow_call_threshold) {
        result = CallResult::failure;
    }
    if (permit.trial) {
        m_trial_in_flight = false;
    }
    if (result == CallResult::neutral) {
        return;
    }
    bool failed = result == CallResult::failure;
    failed ? ++m_failures : ++m_successes;
    m_window.emplace_back(now, failed);
    prune_locked(now);
    m_consecutive_failures = failed ? m_consecutive_failures + 1 : 0;

    if (m_state == BreakerState::half_open) {
        if (!permit.trial) {
            return; // a call from before it opened: the trial decides
        }
        if (failed) {
            open_locked(now, "the trial call failed");
            return;
        }
        if (++m_trial_successes >= m_settings.half_open_successes) {
            m_state = BreakerState::closed;
            m_consecutive_failures = 0;
            m_window.clear();
            spdlog::info("circuit breaker {}: closed again", m_name);
        }
        return;
    }
    if (m_state != BreakerState::closed || !failed) {
        return;
    }
    if (m_consecutive_failures >= m_settings.failure_threshold) {
        open_locked(now, "consecutive failures");
        return;
    }
    std::size_t failures = 0;
    for (const auto& [t, f] : m_window) {
        failures += f ? 1 : 0;
    }
    if (m_window.size() >= static_cast<std::size_t>(m_settings.minimum_calls) &&
        static_cast<double>(failures) >=
            m_settings.failure_ratio * static_cast<double>(m_window.size())) {
        open_locked(now, "failure ratio over the window");
    }
}

BreakerSnapshot CircuitBreaker::snapshot() const {
    std::lock_guard lock(m_mutex);
    BreakerSnapshot s;
    s.name = m_name;
    s.state = m_state;
    if (m_state == BreakerState::open && m_clock.steady() >= m_open_until) {
        s.state = BreakerState::half_open; // the next call will be the trial
    }
    s.consecutive_failures = m_consecutive_failures;
    auto now = m_clock.steady();
    for (const auto& [t, f] : m_window) {
        if (now - t <= m_settings.window) {
            ++s.window_calls;
            s.window_failures += f ? 1 : 0;
        }
    }
    s.successes = m_successes;
    s.failures = m_failures;
    s.rejected = m_rejected;
    s.opened = m_opened;
    s.retry_at = m_open_until;
    return s;
}

BreakerRegistry::BreakerRegistry(BreakerSettings settings, const util::Clock& clock)
    : m_settings(settings), m_clock(clock) {}

CircuitBreaker& BreakerRegistry::get(const std::string& host, const std::string& op) {
    std::lock_guard lock(m_mutex);
    auto name = host + "/" + op;
    auto& slot = m_breakers[name];
    if (!slot) {
        slot = std::make_unique<CircuitBreaker>(name, m_settings, m_clock);
    }
    return *slot;
}

std::vector<BreakerSnapshot> BreakerRegistry::list() const {
    std::lock_guard lock(m_mutex);
    std::vector<BreakerSnapshot> out;
    for (const auto& [name, b] : m_breakers) {
        out.push_back(b->snapshot());
    }
    return out;
}

void BreakerRegistry::configure(const BreakerSettings& settings) {
    std::lock_guard lock(m_mutex);
    m_settings = settings;
    for (auto& [name, b] : m_breakers) {
        b->configure(settings);
    }
}

void BreakerRegistry::set_enabled(bool enabled) {
    std::lock_guard lock(m_mutex);
    m_enabled = enabled;
}

bool BreakerRegistry::enabled() const {
    std::lock_guard lock(m_mutex);
    return m_enabled;
}

} // namespace dataflow::resilience

#include "resilience/rate_limiter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace dataflow::resilience {

using std::chrono::steady_clock;

LocalRateLimiter::LocalRateLimiter(RateLimit default_limit,
                                   std::map<std::string, RateLimit> per_host,
                                   const util::Clock& clock)
    : m_default(default_limit), m_per_host(std::move(per_host)), m_clock(clock) {}

void LocalRateLimiter::configure(RateLimit default_limit,
                                 std::map<std::string, RateLimit> per_host) {
    std::lock_guard lock(m_mutex);
    m_default = default_limit;
    m_per_host = std::move(per_host);
    for (auto& [host, b] : m_buckets) {
        auto it = m_per_host.find(host);
        b.limit = it == m_per_host.end() ? m_default : it->second;
        b.tokens = std::min(b.tokens, static_cast<double>(b.limit.burst));
    }
}

void LocalRateLimiter::configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                                 int /*replicas*/) {
    configure(default_limit, std::move(per_host));
}

void LocalRateLimiter::refill_locked(Bucket& b, steady_clock::time_point now) const {
    if (now > b.updated) {
        double elapsed = std::chrono::duration<double>(now - b.updated).count();
        b.tokens = std::min(static_cast<double>(b.limit.burst),
                            b.tokens + elapsed * b.limit.per_minute / 60.0);
        b.updated = now;
    }
}

LocalRateLimiter::Bucket& LocalRateLimiter::bucket_locked(std::string_view host,
                                                          steady_clock::time_point now) {
    auto it = m_buckets.find(host);
    if (it == m_buckets.end()) {
        Bucket b;
        auto limit = m_per_host.find(std::string(host));
        b.limit = limit == m_per_host.end() ? m_default : limit->second;
        b.tokens = b.limit.burst; // a fresh process may send its burst at once
        b.updated = now;
        it = m_buckets.emplace(std::string(host), b).first;
    }
    refill_locked(it->second, now);
    return it->second;
}

Reservation LocalRateLimiter::reserve(std::string_view host, std::chrono::milliseconds max_wait) {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    Bucket& b = bucket_locked(host, now);
    auto latest = now + max_wait;
    auto start = now;
    if (b.backoff_until > now) {
        if (b.backoff_until > latest) {
            ++b.refused;
            return Reservation{false, {}, b.backoff_until, true};
        }
        start = b.backoff_until;
    }
    // Seconds until one token is available (tokens may be negative: reserved ahead).
    double rate = b.limit.per_minute / 60.0;
    double missing = 1.0 - b.tokens;
    auto wait = missing <= 0 ? steady_clock::duration::zero()
                             : std::chrono::duration_cast<steady_clock::duration>(
                                   std::chrono::duration<double>(missing / rate));
    auto send_at = std::max(start, now + wait);
    if (send_at > latest) {
        ++b.refused;
        return Reservation{false, {}, send_at, false};
    }
    b.tokens -= 1.0;
    ++b.granted;
    return Reservation{true, send_at, {}, false};
}

void LocalRateLimiter::back_off(std::string_view host, std::chrono::milliseconds duration) {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    Bucket& b = bucket_locked(host, now);
    b.backoff_until = std::max(b.backoff_until, now + duration);
    // Whatever budget was left is void: the host already said no.
    b.tokens = std::min(b.tokens, 0.0);
}

std::vector<HostLimitStatus> LocalRateLimiter::status() const {
    std::lock_guard lock(m_mutex);
    std::vector<HostLimitStatus> out;
    auto now = m_clock.steady();
    for (const auto& [host, bucket] : m_buckets) {
        Bucket b = bucket;
        refill_locked(b, now);
        HostLimitStatus s;
        s.host = host;
        s.limit = b.limit;
        s.tokens = b.tokens;
        if (b.backoff_until > now) {
            s.backoff_until = b.backoff_until;
        }
        s.granted = b.granted;
        s.refused = b.refused;
        out.push_back(std::move(s));
    }
    return out;
}

std::string parse_host_limits(const std::vector<std::string>& entries,
                              std::map<std::string, RateLimit>& out) {
    for (const auto& e : entries) {
        auto eq = e.find('=');
        if (eq == std::string::npos || eq == 0) {
            return fmt::format("\"{}\" is not host=RATE[/BURST] (e.g. sdmx.oecd.org=20/5)", e);
        }
        std::string host = e.substr(0, eq);
        std::string rest = e.substr(eq + 1);
        RateLimit limit;
        auto slash = rest.find('/');
        std::string rate = rest.substr(0, slash);
        auto [p, ec] = std::from_chars(rate.data(), rate.data() + rate.size(), limit.per_minute);
        if (ec != std::errc() || p != rate.data() + rate.size() || !(limit.per_minute > 0) ||
            limit.per_minute > 6000) {
            return fmt::format("\"{}\": the rate must be a number of requests per minute in "
                               "(0, 6000]",
                               e);
        }
        if (slash != std::string::npos) {
            std::string burst = rest.substr(slash + 1);
            auto [q, ec2] = std::from_chars(burst.data(), burst.data() + burst.size(), limit.burst);
            if (ec2 != std::errc() || q != burst.data() + burst.size() || limit.burst < 1 ||
                limit.burst > 100) {
                return fmt::format("\"{}\": the burst must be an integer 1..100", e);
            }
        }
        out[host] = limit;
    }
    return {};
}

} // namespace dataflow::resilience

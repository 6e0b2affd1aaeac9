#pragma once
/// Rate limiting in front of upstream hosts: a token bucket per host, and a back-off window
/// after the host said "too many requests". The interface lets a Redis-backed limiter share
/// one budget across every replica (all pods usually leave through one IP).

#include "util/clock.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::resilience {

struct RateLimit {
    double per_minute = 4; ///< sustained rate
    int burst = 1;         ///< requests that may go back to back
};

struct Reservation {
    bool granted = false;
    /// granted: when the request may be sent (now, or later within the caller's wait).
    std::chrono::steady_clock::time_point send_at{};
    /// refused: the earliest time a request could be granted.
    std::chrono::steady_clock::time_point retry_at{};
    bool backing_off = false; ///< refused because the host asked us to back off
};

struct HostLimitStatus {
    std::string host;
    RateLimit limit;
    double tokens = 0; ///< available now (negative: reserved ahead)
    std::optional<std::chrono::steady_clock::time_point> backoff_until;
    std::uint64_t granted = 0;
    std::uint64_t refused = 0;
};

class RateLimiter {
public:
    virtual ~RateLimiter() = default;
    /// Takes one token for `host`, waiting at most `max_wait` for it (0: only if one is free
    /// now). A granted reservation is spent even if the caller then gives up.
    virtual Reservation reserve(std::string_view host, std::chrono::milliseconds max_wait) = 0;
    /// Sends nothing to `host` for `duration` (a 429 or 503 with Retry-After).
    virtual void back_off(std::string_view host, std::chrono::milliseconds duration) = 0;
    virtual std::vector<HostLimitStatus> status() const = 0;
    /// New limits (a reload); counters and back-offs are kept. `replicas` sizes the share a
    /// cluster-wide limiter falls back to without Redis; a local limiter has no share to size.
    virtual void configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                           int replicas) = 0;
};

/// The in-process limiter (one replica's view).
class LocalRateLimiter final : public RateLimiter {
public:
    /// `default_limit` for hosts without an entry in `per_host`.
    LocalRateLimiter(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                     const util::Clock& clock);

    Reservation reserve(std::string_view host, std::chrono::milliseconds max_wait) override;
    void back_off(std::string_view host, std::chrono::milliseconds duration) override;
    std::vector<HostLimitStatus> status() const override;
    /// Ignores `replicas`: this limiter is one replica's own.
    void configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host,
                   int replicas) override;
    void configure(RateLimit default_limit, std::map<std::string, RateLimit> per_host);

private:
    struct Bucket {
        RateLimit limit;
        double tokens = 0;
        std::chrono::steady_clock::time_point updated{};
        std::chrono::steady_clock::time_point backoff_until{};
        std::uint64_t granted = 0;
        std::uint64_t refused = 0;
    };
    Bucket& bucket_locked(std::string_view host, std::chrono::steady_clock::time_point now);
    void refill_locked(Bucket& b, std::chrono::steady_clock::time_point now) const;

    RateLimit m_default;
    std::map<std::string, RateLimit> m_per_host;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::map<std::string, Bucket, std::less<>> m_buckets;
};

/// Parses per-host limits "host=RATE[/BURST]" ("esploradati.istat.it=4", "sdmx.oecd.org=20/5");
/// returns an error message for the first bad entry.
std::string parse_host_limits(const std::vector<std::string>& entries,
                              std::map<std::string, RateLimit>& out);

} // namespace dataflow::resilience

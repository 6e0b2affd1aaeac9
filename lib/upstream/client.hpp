#pragma once
/// The SDMX REST client: polite (rate limiter, circuit breaker, bounded retries with full-jitter
/// backoff, Retry-After honoured), bounded (connect/read timeouts, a total deadline, a response
/// size cap, redirects limited and kept on https) and honest about what happened (one outcome
/// per call).

#include "analysis/readiness.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/url.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::upstream {

/// How a call ended, classified once.
enum class Outcome {
    success,
    no_data,      ///< 404, or an SDMX "no results" error message
    client_error, ///< another 4xx (never retried), TLS verification failure, bad redirect
    rate_limited, ///< 429, 503 with Retry-After, or our own budget is spent
    server_error, ///< 5xx other than 501
    timeout,
    network,
    bad_payload, ///< not parseable, not SDMX, or cut off mid-body
    too_large,   ///< stopped at the size cap
    breaker_open,
    cancelled,
    not_modified, ///< 304 to a conditional request: the copy the caller holds is current
};

/// The outcome's name: its probe outcome's (one table for metrics labels, reports and logs),
/// except not_modified (probed as success).
std::string_view to_string(Outcome outcome);
/// The probe outcome of the same name.
analysis::ProbeOutcome probe_outcome(Outcome outcome);
/// timeout, network and server_error: worth another attempt.
bool retryable(Outcome outcome);
/// The error kind (exit code, HTTP status) of a failed outcome (success and not_modified are
/// no error: they get what success always got).
ErrorKind error_kind(Outcome outcome);

enum class OpClass { structure, data };
std::string_view to_string(OpClass op);

struct Timeouts {
    std::chrono::milliseconds connect{10'000};
    std::chrono::milliseconds read{60'000};
    std::chrono::milliseconds deadline{120'000}; ///< whole call: waiting, attempts, backoff
};

/// Validators of a copy the caller already holds, sent as If-None-Match / If-Modified-Since
/// (verbatim; a value with control characters is not sent). Empty: not sent.
struct Conditional {
    std::string etag;          ///< a previous response's ETag
    std::string last_modified; ///< a previous response's Last-Modified
};

/// Where calls to one source's URLs spend their budget, and the timeouts they get.
struct Route {
    /// A URL belongs to the route when scheme, host and port match (port 0: the scheme's
    /// default) and its path is path_prefix or starts with path_prefix + '/'.
    std::string scheme, host;
    int port = 0;
    std::string path_prefix;
    std::string source;        ///< e.g. "ISTAT" (for messages and metrics)
    std::string structure_key; ///< rate-limiter key for OpClass::structure
    std::string data_key;      ///< for OpClass::data (empty or = structure_key: one budget)
    std::optional<Timeouts> structure_timeouts, data_timeouts; ///< replace the settings' when set

    /// The rate-limiter key for `op`'s calls (empty: the URL's host).
    const std::string& key(OpClass op) const {
        return op == OpClass::data && !data_key.empty() ? data_key : structure_key;
    }
};

/// A route for the URLs under `base` (its scheme, host, port and path; the query dropped).
/// `data_key` empty: data calls share the structure budget.
Route make_route(const util::Url& base, std::string source, std::string structure_key,
                 std::string data_key = {});
/// The route `url` belongs to (the longest path_prefix wins), or nullptr.
const Route* match_route(const std::vector<Route>& routes, const util::Url& url);

struct ClientSettings {
    std::string user_agent = "dataflow";
    std::string ca_file; ///< empty: the system bundle
    Timeouts structure{};
    Timeouts data{std::chrono::milliseconds(10'000), std::chrono::milliseconds(120'000),
                  std::chrono::milliseconds(180'000)};
    std::uint64_t max_response_bytes = 256ULL * 1024 * 1024;
    int max_redirects = 3;
    int retries = 2;
    std::chrono::milliseconds retry_base_delay{2'000};
    std::chrono::milliseconds retry_max_delay{60'000};
    std::chrono::milliseconds retry_after_min{60'000};
    std::chrono::milliseconds retry_after_max{3'600'000};
    std::chrono::milliseconds backoff_default{900'000};
    /// Wait for a rate-limit token within the deadline (CLI) or fail at once (server).
    bool wait_for_token = true;
};

/// Receives a response body as it streams in.
class BodySink {
public:
    virtual ~BodySink() = default;
    /// A successful response's body starts (again, on a retry): forget what came before.
    virtual void begin() = 0;
    /// The next piece (decompressed). Return false to stop reading.
    virtual bool write(std::string_view chunk) = 0;
    /// The body is complete (or stopped): the payload's verdict (success, no_data,
    /// bad_payload) and a message.
    virtual Outcome finish(std::string& message) {
        (void)message;
        return Outcome::success;
    }
};

/// Collects the body in memory.
class StringSink final : public BodySink {
public:
    void begin() override { body.clear(); }
    bool write(std::string_view chunk) override {
        body.append(chunk);
        return true;
    }
    std::string body;
};

struct Response {
    Outcome outcome = Outcome::network;
    int status = 0;      ///< last HTTP status, 0 when none
    std::string url;     ///< the URL finally fetched
    std::string message; ///< what happened, for people (no secrets)
    std::string content_type;
    std::uint64_t wire_bytes = 0; ///< as received (compressed)
    std::uint64_t body_bytes = 0; ///< decompressed, given to the sink
    std::chrono::milliseconds time_to_first_byte{0};
    std::chrono::milliseconds duration{0};
    int attempts = 0;
    /// rate_limited / breaker_open: the earliest time to try again.
    std::optional<std::chrono::system_clock::time_point> retry_at;
    /// The final response's validators (on 2xx and 304), for the next conditional request:
    /// empty when absent, longer than 256 bytes or with control characters.
    std::string etag;
    std::string last_modified;

    bool ok() const { return outcome == Outcome::success; }
    bool not_modified() const { return outcome == Outcome::not_modified; }
};

class Client {
public:
    Client(ClientSettings settings, resilience::RateLimiter& limiter,
           resilience::BreakerRegistry& breakers, const util::Clock& clock);

    /// GETs `url` (absolute http/https) and streams the body into `sink`. `max_bytes` (when
    /// not 0) replaces the settings' response size cap for this call. With `conditional` set,
    /// a 304 ends the call as Outcome::not_modified (the sink untouched, never retried).
    /// The rate-limit budget spent is the URL's route's key for `op` (set_routes), else the
    /// URL's host ("host" or "host:port").
    Response get(const util::Url& url, OpClass op, BodySink& sink, std::string_view accept,
                 std::uint64_t max_bytes = 0, const Conditional& conditional = {});

    /// Replaces every route (a reload); thread-safe, calls in flight keep theirs.
    void set_routes(std::vector<Route> routes);
    /// The route `url` belongs to (the longest path_prefix wins), or nullopt.
    std::optional<Route> route_for(const util::Url& url) const;

    /// Stops every call in flight and refuses new ones (Ctrl-C, shutdown).
    void cancel() { m_cancel = true; }
    bool cancelled() const { return m_cancel.load(); }
    void configure(const ClientSettings& settings);
    ClientSettings settings() const;
    /// Called after every request sent (each attempt), for metrics.
    using Observer = std::function<void(const std::string& host, OpClass op, const Response&)>;
    void set_observer(Observer observer);

private:
    struct Call;    ///< one get(): what its attempts share
    struct Request; ///< what each hop of an attempt sends

    /// The breaker's and the rate limiter's leave for the next attempt (after waiting for its
    /// slot): nullopt to go ahead, else the answer to give.
    std::optional<Response> admit(Call& call, resilience::CircuitBreaker::Permit& permit);
    void notify_observer(const std::string& host, OpClass op, const Response& response);
    /// After a 429 (or 503 with Retry-After): backs the budget off for as long as it asked.
    void honour_retry_after(Call& call);
    /// Whether to try again, after the backoff delay; false leaves the last answer final.
    bool pause_before_retry(Call& call);
    Response attempt(const Request& request, BodySink& sink);
    /// One hop on the wire: exchange_on_wire(), through the HTTP module (util/http_module.hpp).
    Response exchange(const util::Url& url, const Request& request, BodySink& sink,
                      std::string& location);
    /// upstream/exchange.cpp, built into the HTTP module, which registers it (s_on_wire).
    static Response exchange_on_wire(Client& self, const util::Url& url, const Request& request,
                                     BodySink& sink, std::string& location);
    static const bool s_on_wire;
    std::chrono::milliseconds backoff_for(const ClientSettings& s, int attempt);

    mutable std::mutex m_mutex;
    ClientSettings m_settings;
    resilience::RateLimiter& m_limiter;
    resilience::BreakerRegistry& m_breakers;
    const util::Clock& m_clock;
    std::atomic<bool> m_cancel{false};
    Observer m_observer;
    std::shared_ptr<const std::vector<Route>> m_routes; ///< guarded by m_mutex, swapped whole
};

/// Parses a Retry-After value: delta-seconds or an HTTP date (relative to `now`).
std::optional<std::chrono::milliseconds>
parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);

} // namespace dataflow::upstream

// Client::get: admission (breaker, rate limiter), retries with full-jitter backoff, Retry-After,
// redirects. One request on the wire is exchange.cpp's; outcomes are outcome.cpp's.

#include "upstream/client.hpp"

#include "upstream/client_internal.hpp"
#include "util/http_module.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace dataflow::upstream {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace detail {

std::string seconds_text(std::chrono::nanoseconds d) {
    auto ms = std::chrono::duration_cast<milliseconds>(d).count();
    if (ms < 0) {
        ms = 0;
    }
    return util::format_duration_ms(ms < 1000 ? ms : (ms + 500) / 1000 * 1000);
}

bool header_value_ok(std::string_view value) {
    return !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

} // namespace detail

using detail::seconds_text;

namespace {

resilience::CallResult breaker_result(Outcome outcome) {
    switch (outcome) {
    case Outcome::success:
    case Outcome::not_modified:
    case Outcome::no_data:
    case Outcome::client_error:
    case Outcome::too_large:
        return resilience::CallResult::success; // the upstream answered
    case Outcome::rate_limited:
    case Outcome::cancelled:
    case Outcome::breaker_open:
        return resilience::CallResult::neutral;
    default:
        return resilience::CallResult::failure;
    }
}

std::string host_key(const util::Url& url) {
    bool default_port = (url.https() && url.port == 443) || (!url.https() && url.port == 80);
    return default_port ? url.host : url.host + ":" + std::to_string(url.port);
}

/// A path prefix without its trailing '/' ("" for the root).
std::string_view bare_prefix(std::string_view prefix) {
    while (!prefix.empty() && prefix.back() == '/') {
        prefix.remove_suffix(1);
    }
    return prefix;
}

bool same_ci(std::string_view a, std::string_view b) {
    return a.size() == b.size() && util::starts_with_ci(a, b);
}

/// The validators a caller gave that are fit to send; the others dropped with a warning.
Conditional checked(const Conditional& given, const util::Url& url) {
    Conditional out;
    auto keep = [&](const std::string& value, const char* header, std::string& into) {
        if (value.empty()) {
            return;
        }
        if (detail::header_value_ok(value)) {
            into = value;
        } else {
            spdlog::warn("GET {}: not sending {}: its value has control characters", url.str(),
                         header);
        }
    };
    keep(given.etag, "If-None-Match", out.etag);
    keep(given.last_modified, "If-Modified-Since", out.last_modified);
    return out;
}

} // namespace

Route make_route(const util::Url& base, std::string source, std::string structure_key,
                 std::string data_key) {
    Route r;
    r.scheme = base.scheme;
    r.host = base.host;
    r.port = base.port;
    r.path_prefix = std::string(bare_prefix(base.target.substr(0, base.target.find('?'))));
    r.source = std::move(source);
    r.data_key = data_key.empty() ? structure_key : std::move(data_key);
    r.structure_key = std::move(structure_key);
    return r;
}

const Route* match_route(const std::vector<Route>& routes, const util::Url& url) {
    std::string_view path(url.target);
    path = path.substr(0, path.find_first_of("?#"));
    const Route* best = nullptr;
    std::size_t best_length = 0;
    for (const auto& route : routes) {
        int port = route.port != 0 ? route.port : (url.https() ? 443 : 80);
        if (!same_ci(route.scheme, url.scheme) || !same_ci(route.host, url.host) ||
            port != url.port) {
            continue;
        }
        // At a segment boundary only: "/rest" holds "/rest" and "/rest/x", not "/restful".
        auto prefix = bare_prefix(route.path_prefix);
        if (path.substr(0, prefix.size()) != prefix ||
            (path.size() > prefix.size() && path[prefix.size()] != '/')) {
            continue;
        }
        if (best == nullptr || prefix.size() > best_length) {
            best = &route;
            best_length = prefix.size();
        }
    }
    return best;
}

Client::Client(ClientSettings settings, resilience::RateLimiter& limiter,
               resilience::BreakerRegistry& breakers, const util::Clock& clock)
    : m_settings(std::move(settings)), m_limiter(limiter), m_breakers(breakers), m_clock(clock) {}

void Client::configure(const ClientSettings& settings) {
    std::lock_guard lock(m_mutex);
    m_settings = settings;
}

void Client::set_observer(Observer observer) {
    std::lock_guard lock(m_mutex);
    m_observer = std::move(observer);
}

ClientSettings Client::settings() const {
    std::lock_guard lock(m_mutex);
    return m_settings;
}

void Client::set_routes(std::vector<Route> routes) {
    auto next = std::make_shared<const std::vector<Route>>(std::move(routes));
    std::lock_guard lock(m_mutex);
    m_routes = std::move(next);
}

std::optional<Route> Client::route_for(const util::Url& url) const {
    std::shared_ptr<const std::vector<Route>> routes;
    {
        std::lock_guard lock(m_mutex);
        routes = m_routes;
    }
    const Route* route = routes ? match_route(*routes, url) : nullptr;
    return route ? std::optional<Route>(*route) : std::nullopt;
}

milliseconds Client::backoff_for(const ClientSettings& s, int attempt) {
    // Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
    double cap = std::min<double>(static_cast<double>(s.retry_max_delay.count()),
                                  static_cast<double>(s.retry_base_delay.count()) *
                                      std::pow(2.0, attempt - 1));
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> dist(0.0, cap);
    return milliseconds(static_cast<long long>(dist(rng)));
}

struct Client::Call {
    const util::Url& url;
    const ClientSettings& s;
    steady_clock::time_point deadline;
    std::string host;        ///< the breaker's and the observer's
    std::string budget;      ///< the rate limiter's key: the route's for the op class, else host
    std::string budget_name; ///< the budget in messages: its key, and its route's source
    resilience::CircuitBreaker& breaker;
    int attempts = 0;
    Response last{}; ///< the last attempt's answer
};

Response Client::get(const util::Url& url, OpClass op, BodySink& sink, std::string_view accept,
                     std::uint64_t max_bytes, const Conditional& conditional) {
    auto s = settings();
    if (max_bytes > 0) {
        s.max_response_bytes = max_bytes;
    }
    Timeouts t = op == OpClass::structure ? s.structure : s.data;
    auto host = host_key(url);
    auto budget = host;
    auto budget_name = host;
    if (auto route = route_for(url)) {
        const auto& timeouts =
            op == OpClass::structure ? route->structure_timeouts : route->data_timeouts;
        if (timeouts) {
            t = *timeouts;
        }
        if (!route->key(op).empty()) {
            budget = route->key(op);
            budget_name = route->source.empty() || route->source == budget
                              ? budget
                              : fmt::format("{} ({})", budget, route->source);
        }
    }
    auto validators = checked(conditional, url);
    auto start = m_clock.steady();
    auto deadline = start + t.deadline;
    Request request{url, s, t, accept, deadline, validators};
    auto& breaker = m_breakers.get(host, std::string(to_string(op)));
    Call call{url, s, deadline, host, budget, budget_name, breaker};
    Response& last = call.last;
    last.url = url.str();
    while (true) {
        if (m_cancel) {
            last.outcome = Outcome::cancelled;
            last.message = "cancelled";
            return last;
        }
        resilience::CircuitBreaker::Permit permit{true, false, {}};
        if (auto refused = admit(call, permit)) {
            return *refused;
        }
        ++call.attempts;
        last = attempt(request, sink);
        last.attempts = call.attempts;
        notify_observer(host, op, last);
        breaker.record(permit, breaker_result(last.outcome), last.duration);
        if (last.outcome == Outcome::rate_limited) {
            honour_retry_after(call);
            return last;
        }
        if (!pause_before_retry(call)) {
            return last;
        }
    }
}

std::optional<Response> Client::admit(Call& call, resilience::CircuitBreaker::Permit& permit) {
    const auto& s = call.s;
    auto system_at = [&](steady_clock::time_point when) {
        return m_clock.system() +
               std::chrono::duration_cast<system_clock::duration>(when - m_clock.steady());
    };
    bool use_breaker = m_breakers.enabled();
    if (use_breaker) {
        permit = call.breaker.acquire();
        if (!permit.allowed) {
            Response r;
            r.url = call.url.str();
            r.attempts = call.attempts;
            r.outcome = Outcome::breaker_open;
            r.retry_at = system_at(permit.retry_at);
            r.message = fmt::format(
                "the circuit breaker for {} is open after repeated failures{}; next attempt "
                "allowed in {}",
                call.breaker.name(), call.attempts > 0 ? " (last: " + call.last.message + ")" : "",
                seconds_text(permit.retry_at - m_clock.steady()));
            return r;
        }
    }
    auto remaining = std::chrono::duration_cast<milliseconds>(call.deadline - m_clock.steady());
    auto reservation = m_limiter.reserve(
        call.budget, s.wait_for_token ? std::max(remaining, milliseconds(0)) : milliseconds(0));
    if (!reservation.granted) {
        call.breaker.record(permit, resilience::CallResult::neutral, milliseconds(0));
        Response r;
        r.url = call.url.str();
        r.attempts = call.attempts;
        r.outcome = Outcome::rate_limited;
        r.retry_at = system_at(reservation.retry_at);
        auto wait = seconds_text(reservation.retry_at - m_clock.steady());
        r.message = reservation.backing_off
                        ? fmt::format("backing off from {} after it answered 429 Too Many "
                                      "Requests; next request allowed in {}",
                                      call.budget_name, wait)
                        : fmt::format("the request budget for {} is spent; the next slot is "
                                      "in {}{}",
                                      call.budget_name, wait,
                                      s.wait_for_token ? ", after the deadline" : "");
        if (call.attempts > 0) {
            r.message += " (last attempt: " + call.last.message + ")";
        }
        return r;
    }
    if (!m_clock.sleep_until(reservation.send_at, &m_cancel)) {
        call.breaker.record(permit, resilience::CallResult::neutral, milliseconds(0));
        call.last.outcome = Outcome::cancelled;
        call.last.message = "cancelled while waiting for the rate limiter";
        return call.last;
    }
    return std::nullopt;
}

void Client::notify_observer(const std::string& host, OpClass op, const Response& response) {
    Observer observer;
    {
        std::lock_guard lock(m_mutex);
        observer = m_observer;
    }
    if (observer) {
        observer(host, op, response);
    }
}

void Client::honour_retry_after(Call& call) {
    const auto& s = call.s;
    Response& last = call.last;
    auto backoff = last.retry_at
                       ? std::chrono::duration_cast<milliseconds>(*last.retry_at - m_clock.system())
                       : s.backoff_default;
    backoff = std::clamp(backoff, s.retry_after_min, s.retry_after_max);
    m_limiter.back_off(call.budget, backoff);
    last.retry_at = m_clock.system() + backoff;
    last.message += fmt::format("; backing off from {} for {}", call.budget_name,
                                util::format_duration_ms(backoff.count()));
    spdlog::warn("GET {}: {}", last.url, last.message);
}

bool Client::pause_before_retry(Call& call) {
    const auto& s = call.s;
    Response& last = call.last;
    if (!retryable(last.outcome) || call.attempts > s.retries || last.body_bytes > 0) {
        return false;
    }
    auto delay = backoff_for(s, call.attempts);
    if (m_clock.steady() + delay >= call.deadline) {
        last.message += "; no time left for a retry before the deadline";
        return false;
    }
    spdlog::info("GET {}: {}; retry {} of {} in {}", last.url, last.message, call.attempts,
                 s.retries, util::format_duration_ms(delay.count()));
    if (!m_clock.sleep_until(m_clock.steady() + delay, &m_cancel)) {
        last.outcome = Outcome::cancelled;
        last.message = "cancelled";
        return false;
    }
    return true;
}

Response Client::attempt(const Request& request, BodySink& sink) {
    const auto& s = request.s;
    util::Url current = request.url;
    for (int hop = 0;; ++hop) {
        std::string location;
        Response r = exchange(current, request, sink, location);
        if (location.empty()) {
            return r;
        }
        if (hop >= s.max_redirects) {
            r.outcome = Outcome::client_error;
            r.message =
                fmt::format("more than {} redirects (upstream.max_redirects)", s.max_redirects);
            return r;
        }
        auto next = util::resolve_url(current, location);
        if (!next.url) {
            r.outcome = Outcome::client_error;
            r.message = fmt::format("redirected to an invalid URL ({})", next.error);
            return r;
        }
        if (current.https() && !next.url->https()) {
            r.outcome = Outcome::client_error;
            r.message = "refused a redirect from https to " + next.url->str();
            return r;
        }
        spdlog::debug("GET {}: redirected ({}) to {}", current.str(), r.status, next.url->str());
        current = *next.url;
    }
}

Response Client::exchange(const util::Url& url, const Request& request, BodySink& sink,
                          std::string& location) {
    using OnWire = Response (*)(Client&, const util::Url&, const Request&, BodySink&, std::string&);
    static const auto on_wire = util::http_function_as<OnWire>("upstream.exchange");
    return on_wire(*this, url, request, sink, location);
}

} // namespace dataflow::upstream

#include "upstream/client.hpp"

#include "sdmx/data_counter.hpp"
#include "util/background.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <httplib.h>
#include <random>
#include <zlib.h>

namespace dataflow::upstream {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

analysis::ProbeOutcome probe_outcome(Outcome outcome) {
    using analysis::ProbeOutcome;
    switch (outcome) {
    case Outcome::success:
        return ProbeOutcome::success;
    case Outcome::no_data:
        return ProbeOutcome::no_data;
    case Outcome::client_error:
        return ProbeOutcome::client_error;
    case Outcome::rate_limited:
        return ProbeOutcome::rate_limited;
    case Outcome::server_error:
        return ProbeOutcome::server_error;
    case Outcome::timeout:
        return ProbeOutcome::timeout;
    case Outcome::network:
        return ProbeOutcome::network;
    case Outcome::bad_payload:
        return ProbeOutcome::bad_payload;
    case Outcome::too_large:
        return ProbeOutcome::too_large;
    case Outcome::breaker_open:
        return ProbeOutcome::breaker_open;
    case Outcome::cancelled:
        return ProbeOutcome::cancelled;
    }
    return ProbeOutcome::none;
}

std::string_view to_string(Outcome outcome) {
    return analysis::to_string(probe_outcome(outcome));
}

bool retryable(Outcome outcome) {
    return outcome == Outcome::timeout || outcome == Outcome::network ||
           outcome == Outcome::server_error;
}

ErrorKind error_kind(Outcome outcome) {
    switch (outcome) {
    case Outcome::rate_limited:
        return ErrorKind::rate_limited;
    case Outcome::no_data:
    case Outcome::client_error:
    case Outcome::too_large:
        return ErrorKind::input;
    case Outcome::cancelled:
        return ErrorKind::internal;
    default:
        return ErrorKind::unavailable;
    }
}

std::string_view to_string(OpClass op) {
    return op == OpClass::structure ? "structure" : "data";
}

std::optional<milliseconds> parse_retry_after(std::string_view value,
                                              system_clock::time_point now) {
    value = util::trim(value, " ");
    if (value.empty()) {
        return std::nullopt;
    }
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) {
            return milliseconds(999'999'999LL * 1000);
        }
        return milliseconds(std::stoll(std::string(value)) * 1000);
    }
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    std::tm tm{};
    std::string text(value);
    const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr || *end != '\0') {
        return std::nullopt;
    }
    auto when = system_clock::from_time_t(::timegm(&tm));
    auto delta = std::chrono::duration_cast<milliseconds>(when - now);
    return std::max(delta, milliseconds(0));
}

namespace {

resilience::CallResult breaker_result(Outcome outcome) {
    switch (outcome) {
    case Outcome::success:
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

std::string seconds_text(std::chrono::nanoseconds d) {
    auto ms = std::chrono::duration_cast<milliseconds>(d).count();
    if (ms < 0) {
        ms = 0;
    }
    return util::format_duration_ms(ms < 1000 ? ms : (ms + 500) / 1000 * 1000);
}

/// Streaming gzip/deflate decompression (zlib detects which).
class Inflater {
public:
    ~Inflater() {
        if (m_active) {
            inflateEnd(&m_zs);
        }
    }
    bool start() {
        m_zs = z_stream{};
        m_active = inflateInit2(&m_zs, 15 + 32) == Z_OK;
        return m_active;
    }
    bool active() const { return m_active; }
    bool finished() const { return m_done; }

    template <typename Deliver>
    bool feed(const char* data, std::size_t len, Deliver&& deliver) {
        m_zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
        m_zs.avail_in = static_cast<uInt>(len);
        char out[65536];
        while (m_zs.avail_in > 0 && !m_done) {
            m_zs.next_out = reinterpret_cast<Bytef*>(out);
            m_zs.avail_out = sizeof out;
            int rc = inflate(&m_zs, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                m_failed = true;
                return false;
            }
            std::size_t produced = sizeof out - m_zs.avail_out;
            if (produced > 0 && !deliver(std::string_view(out, produced))) {
                return false;
            }
            if (rc == Z_STREAM_END) {
                m_done = true;
            }
            if (rc == Z_BUF_ERROR && produced == 0) {
                break;
            }
        }
        return true;
    }
    bool failed() const { return m_failed; }

private:
    z_stream m_zs{};
    bool m_active = false;
    bool m_done = false;
    bool m_failed = false;
};

/// Stops the HTTP client when the deadline passes or the call is cancelled, even while it
/// waits for a byte that never comes.
class Watchdog {
public:
    Watchdog(httplib::Client& client, steady_clock::time_point deadline,
             const std::atomic<bool>& cancel) {
        m_thread.start([this, &client, deadline, &cancel] {
            std::unique_lock lock(m_mutex);
            while (!m_thread.stop_requested()) {
                if (cancel.load() || steady_clock::now() >= deadline) {
                    m_fired = true;
                    client.stop();
                }
                m_thread.wait_for(lock, milliseconds(20));
            }
        });
    }
    ~Watchdog() { m_thread.stop(); }
    bool fired() {
        std::lock_guard lock(m_mutex);
        return m_fired;
    }

private:
    std::mutex m_mutex;
    bool m_fired = false;
    util::BackgroundThread m_thread; ///< last: stopped before the state it reads goes
};

std::string host_key(const util::Url& url) {
    bool default_port = (url.https() && url.port == 443) || (!url.https() && url.port == 80);
    return default_port ? url.host : url.host + ":" + std::to_string(url.port);
}

/// An SDMX error message's text in an error body, if there is one.
std::string sdmx_error_text(const std::string& body) {
    sdmx::DataCounter counter;
    counter.feed(body);
    auto counts = counter.finish();
    std::string out;
    if (counts.sdmx_error_code) {
        out = "SDMX error " + *counts.sdmx_error_code;
        if (!counts.sdmx_error_text.empty()) {
            out += ": " + counts.sdmx_error_text.substr(0, 300);
        }
    }
    return out;
}

void configure_transport(httplib::Client& cli, const util::Url& url, const ClientSettings& s,
                         milliseconds connect, milliseconds read) {
    cli.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(connect));
    cli.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(read));
    cli.set_write_timeout(std::chrono::seconds(30));
    cli.set_follow_location(false);
    cli.set_decompress(false);
    cli.set_keep_alive(false);
    cli.set_tcp_nodelay(true);
    if (url.https()) {
        if (!s.ca_file.empty()) {
            cli.set_ca_cert_path(s.ca_file);
        }
        cli.enable_server_certificate_verification(true);
    }
}

/// Why reading an answer stopped before its end.
enum class Stop { none, past_deadline, cap, by_sink, cancel, encoding, redirect };

/// One request and its answer as it streams in: the state the callbacks share, and the
/// classification of how it ended.
struct Transfer {
    Response& r;
    BodySink& sink;
    std::string& location; ///< set on a redirect
    const std::atomic<bool>& cancel;
    std::uint64_t cap;
    steady_clock::time_point started;
    steady_clock::time_point real_deadline;
    steady_clock::time_point last_activity;
    Stop stop = Stop::none;
    bool success_status = false;
    std::string error_body{};
    std::string retry_after{};
    Inflater inflater{};
    httplib::Result result{nullptr, httplib::Error::Unknown};
    bool watchdog_fired = false;

    /// Sends the GET and reads the answer, stopped by a watchdog at the deadline or on cancel.
    void send(httplib::Client& cli, const std::string& target, const httplib::Headers& headers) {
        Watchdog watchdog(cli, real_deadline, cancel);
        result = cli.Get(
            target, headers,
            [this](const httplib::Response& response) { return on_response(response); },
            [this](const char* data, std::size_t len) { return on_data(data, len); });
        watchdog_fired = watchdog.fired();
    }

    bool on_response(const httplib::Response& response) {
        r.status = response.status;
        r.time_to_first_byte =
            std::chrono::duration_cast<milliseconds>(steady_clock::now() - started);
        r.content_type = response.get_header_value("Content-Type");
        retry_after = response.get_header_value("Retry-After");
        if (response.status >= 300 && response.status < 400) {
            location = response.get_header_value("Location");
            if (!location.empty()) {
                stop = Stop::redirect;
                return false;
            }
        }
        success_status = response.status >= 200 && response.status < 300;
        auto encoding = util::ascii_lower(response.get_header_value("Content-Encoding"));
        if (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate") {
            inflater.start();
        } else if (!encoding.empty() && encoding != "identity") {
            stop = Stop::encoding;
            r.message = "unsupported Content-Encoding " + encoding;
            return false;
        }
        if (success_status) {
            sink.begin();
        }
        return true;
    }

    bool on_data(const char* data, std::size_t len) {
        r.wire_bytes += len;
        last_activity = steady_clock::now();
        if (cancel.load()) {
            stop = Stop::cancel;
            return false;
        }
        if (last_activity >= real_deadline) {
            stop = Stop::past_deadline;
            return false;
        }
        if (inflater.active()) {
            bool ok =
                inflater.feed(data, len, [this](std::string_view chunk) { return deliver(chunk); });
            if (!ok && inflater.failed()) {
                stop = Stop::encoding;
                r.message = "the gzip data is corrupt";
            }
            return ok;
        }
        return deliver(std::string_view(data, len));
    }

    /// A decompressed piece: to the sink within the size cap, or kept (the start of it) as an
    /// error body.
    bool deliver(std::string_view chunk) {
        if (!success_status) {
            if (error_body.size() < 65536) {
                error_body.append(chunk.substr(0, 65536 - error_body.size()));
            }
            return true;
        }
        if (r.body_bytes + chunk.size() > cap) {
            auto fits = static_cast<std::size_t>(cap - r.body_bytes);
            r.body_bytes += fits;
            sink.write(chunk.substr(0, fits));
            stop = Stop::cap;
            return false;
        }
        r.body_bytes += chunk.size();
        if (!sink.write(chunk)) {
            stop = Stop::by_sink;
            return false;
        }
        return true;
    }

    /// A redirect, Ctrl-C, the deadline, a bad encoding or the size cap ended the transfer:
    /// sets the outcome (a redirect keeps it) and returns true.
    bool ended_early(const std::string& took) {
        if (stop == Stop::redirect) {
            return true;
        }
        if (cancel.load() || stop == Stop::cancel) {
            r.outcome = Outcome::cancelled;
            r.message = "cancelled";
            return true;
        }
        if (stop == Stop::past_deadline ||
            (watchdog_fired && result.error() != httplib::Error::Success)) {
            r.outcome = Outcome::timeout;
            r.message = fmt::format("no complete answer within the deadline ({} received in {})",
                                    util::format_size(r.wire_bytes), took);
            return true;
        }
        if (stop == Stop::encoding) {
            r.outcome = Outcome::bad_payload;
            return true;
        }
        if (stop == Stop::cap) {
            std::string ignored;
            sink.finish(ignored);
            r.outcome = Outcome::too_large;
            r.message = fmt::format("the response is larger than the limit of {}; stopped reading",
                                    util::format_size(cap));
            return true;
        }
        return false;
    }

    /// The connection failed (connect, TLS, read) with nothing else to blame: sets the outcome
    /// and returns true.
    bool failed_in_transport(const util::Url& url, milliseconds connect, milliseconds read,
                             steady_clock::time_point now) {
        auto error = result.error();
        if (error == httplib::Error::Success || stop != Stop::none) {
            return false;
        }
        switch (error) {
        case httplib::Error::ConnectionTimeout:
            r.outcome = Outcome::timeout;
            r.message = fmt::format("could not connect to {} within {}", url.origin(),
                                    util::format_duration_ms(connect.count()));
            return true;
        case httplib::Error::Connection:
            r.outcome = Outcome::network;
            r.message = fmt::format("cannot connect to {}", url.origin());
            return true;
        case httplib::Error::SSLServerVerification:
            r.outcome = Outcome::client_error;
            r.message = fmt::format("the TLS certificate of {} is not trusted; check the host or "
                                    "set upstream.ca_file",
                                    url.host);
            return true;
        case httplib::Error::SSLLoadingCerts:
            r.outcome = Outcome::client_error;
            r.message = "cannot load the CA certificates (upstream.ca_file)";
            return true;
        case httplib::Error::SSLConnection:
            r.outcome = Outcome::network;
            r.message = fmt::format("the TLS handshake with {} failed", url.origin());
            return true;
        case httplib::Error::Read:
            read_failed(url, read, now);
            return true;
        default:
            r.outcome = Outcome::network;
            r.message =
                fmt::format("request to {} failed: {}", url.origin(), httplib::to_string(error));
            return true;
        }
    }

    /// The connection broke while reading: mid-body, silent for the read timeout, or closed.
    void read_failed(const util::Url& url, milliseconds read, steady_clock::time_point now) {
        if (success_status && (r.body_bytes > 0 || r.wire_bytes > 0)) {
            std::string detail;
            auto verdict = sink.finish(detail);
            (void)verdict;
            r.outcome = Outcome::bad_payload;
            r.message = fmt::format("the response stopped after {} bytes (the connection "
                                    "closed mid-body){}",
                                    r.body_bytes, detail.empty() ? "" : ": " + detail);
            return;
        }
        if (now - last_activity >= read * 9 / 10) {
            r.outcome = Outcome::timeout;
            r.message = fmt::format("no data from {} for {}", url.origin(),
                                    util::format_duration_ms(read.count()));
            return;
        }
        r.outcome = Outcome::network;
        r.message = fmt::format("the connection to {} was closed or reset", url.origin());
    }

    /// A 2xx answer read to its end: the sink's verdict on the payload.
    void judge_body(const std::string& took) {
        if (inflater.active() && !inflater.finished()) {
            r.outcome = Outcome::bad_payload;
            r.message = fmt::format("the gzip stream stops after {} bytes", r.wire_bytes);
            return;
        }
        std::string detail;
        r.outcome = sink.finish(detail);
        r.message = detail.empty() ? fmt::format("{} in {}", r.status, took) : detail;
    }

    /// Any other status: its outcome, with the SDMX error text of the body when there is one,
    /// and when to try again for a rate limit.
    void judge_status(const util::Clock& clock) {
        auto status = r.status;
        auto sdmx_text = sdmx_error_text(error_body);
        auto with_text = [&](std::string what) {
            return sdmx_text.empty() ? what : what + " (" + sdmx_text + ")";
        };
        if (status == 404) {
            r.outcome = Outcome::no_data;
            r.message = with_text("404: no data for this query");
        } else if (status == 429 || (status == 503 && !retry_after.empty())) {
            r.outcome = Outcome::rate_limited;
            r.message = with_text(fmt::format("{} {}", status,
                                              status == 429 ? "Too Many Requests"
                                                            : "Service Unavailable, Retry-After"));
            if (auto after = parse_retry_after(retry_after, clock.system())) {
                r.retry_at = clock.system() + *after;
            }
        } else if (status == 501) {
            r.outcome = Outcome::client_error;
            r.message = with_text("501: the upstream does not implement this query");
        } else if (status >= 500) {
            r.outcome = Outcome::server_error;
            r.message = with_text(fmt::format("{} server error", status));
        } else if (status >= 400) {
            r.outcome = Outcome::client_error;
            r.message = with_text(fmt::format("{} client error", status));
        } else {
            r.outcome = Outcome::bad_payload;
            r.message = fmt::format("unexpected status {}", status);
        }
    }
};

} // namespace

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
    std::string host;
    resilience::CircuitBreaker& breaker;
    int attempts = 0;
    Response last{}; ///< the last attempt's answer
};

Response Client::get(const util::Url& url, OpClass op, BodySink& sink, std::string_view accept,
                     std::uint64_t max_bytes) {
    auto s = settings();
    if (max_bytes > 0) {
        s.max_response_bytes = max_bytes;
    }
    const Timeouts& t = op == OpClass::structure ? s.structure : s.data;
    auto start = m_clock.steady();
    auto deadline = start + t.deadline;
    auto host = host_key(url);
    auto& breaker = m_breakers.get(host, std::string(to_string(op)));
    Call call{url, s, deadline, host, breaker};
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
        last = attempt(url, s, t, sink, accept, deadline);
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
        call.host, s.wait_for_token ? std::max(remaining, milliseconds(0)) : milliseconds(0));
    if (!reservation.granted) {
        call.breaker.record(permit, resilience::CallResult::neutral, milliseconds(0));
        Response r;
        r.url = call.url.str();
        r.attempts = call.attempts;
        r.outcome = Outcome::rate_limited;
        r.retry_at = system_at(reservation.retry_at);
        auto wait = seconds_text(reservation.retry_at - m_clock.steady());
        r.message =
            reservation.backing_off
                ? fmt::format("backing off from {} after it answered 429 Too Many "
                              "Requests; next request allowed in {}",
                              call.host, wait)
                : fmt::format("the request budget for {} is spent; the next slot is "
                              "in {}{}",
                              call.host, wait, s.wait_for_token ? ", after the deadline" : "");
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
    m_limiter.back_off(call.host, backoff);
    last.retry_at = m_clock.system() + backoff;
    last.message += fmt::format("; backing off from {} for {}", call.host,
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

Response Client::attempt(const util::Url& url, const ClientSettings& s, const Timeouts& t,
                         BodySink& sink, std::string_view accept,
                         steady_clock::time_point deadline) {
    util::Url current = url;
    for (int hop = 0;; ++hop) {
        std::string location;
        Response r = exchange(current, s, t, sink, accept, deadline, location);
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

Response Client::exchange(const util::Url& url, const ClientSettings& s, const Timeouts& t,
                          BodySink& sink, std::string_view accept,
                          steady_clock::time_point deadline, std::string& location) {
    Response r;
    r.url = url.str();
    // Network time is real time, whatever clock drives the limiter and the breakers.
    auto remaining = deadline - m_clock.steady();
    auto started = steady_clock::now();
    auto real_deadline = started + remaining;
    if (remaining <= steady_clock::duration::zero()) {
        r.outcome = Outcome::timeout;
        r.message = "no time left before the deadline";
        return r;
    }
    auto bounded = [&](milliseconds limit) {
        return std::max(milliseconds(1),
                        std::min(limit, std::chrono::duration_cast<milliseconds>(remaining)));
    };

    httplib::Client cli(url.origin());
    auto connect = bounded(t.connect);
    auto read = bounded(t.read);
    configure_transport(cli, url, s, connect, read);
    httplib::Headers headers{
        {"User-Agent", s.user_agent}, {"Accept", std::string(accept)}, {"Accept-Encoding", "gzip"}};

    Transfer transfer{.r = r,
                      .sink = sink,
                      .location = location,
                      .cancel = m_cancel,
                      .cap = s.max_response_bytes,
                      .started = started,
                      .real_deadline = real_deadline,
                      .last_activity = started};
    transfer.send(cli, url.target, headers);
    auto now = steady_clock::now();
    r.duration = std::chrono::duration_cast<milliseconds>(now - started);
    auto took = seconds_text(now - started);

    if (transfer.ended_early(took) || transfer.failed_in_transport(url, connect, read, now)) {
        return r;
    }
    if (transfer.success_status) {
        transfer.judge_body(took);
    } else {
        transfer.judge_status(m_clock);
    }
    return r;
}

} // namespace dataflow::upstream

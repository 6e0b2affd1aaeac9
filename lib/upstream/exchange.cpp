// Client::exchange: one GET on the wire (transport settings, a watchdog for the deadline and
// Ctrl-C, gzip, the size cap) and the classification of how it ended. Redirects, retries, the
// breaker and the rate limiter are client.cpp's.

#include "sdmx/data_counter.hpp"
#include "upstream/client.hpp"
#include "upstream/client_internal.hpp"
#include "util/background.hpp"
#include "util/http_module.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <httplib.h>
#include <mutex>
#include <zlib.h>

namespace dataflow::upstream {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

using detail::header_value_ok;
using detail::seconds_text;

namespace {

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
enum class Stop { none, past_deadline, cap, by_sink, cancel, encoding, redirect, not_modified };

/// A validator (ETag, Last-Modified) worth keeping: short and without control characters.
std::string validator(const httplib::Response& response, const char* header) {
    auto value = response.get_header_value(header);
    return value.size() <= 256 && header_value_ok(value) ? value : std::string();
}

/// One request and its answer as it streams in: the state the callbacks share, and the
/// classification of how it ended.
struct Transfer {
    Response& r;
    BodySink& sink;
    std::string& location; ///< set on a redirect
    const std::atomic<bool>& cancel;
    std::uint64_t cap;
    bool conditional; ///< If-None-Match or If-Modified-Since sent: a 304 may answer
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
        if (response.status == 304) {
            // No body to read: stop here, whatever framing the answer announces.
            keep_validators(response);
            stop = Stop::not_modified;
            return false;
        }
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
            keep_validators(response);
            sink.begin();
        }
        return true;
    }

    void keep_validators(const httplib::Response& response) {
        r.etag = validator(response, "ETag");
        r.last_modified = validator(response, "Last-Modified");
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
        if (stop == Stop::not_modified) {
            not_modified(took);
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

    /// A 304: the caller's copy is current, or a protocol error when it sent no validator.
    void not_modified(const std::string& took) {
        if (conditional) {
            r.outcome = Outcome::not_modified;
            r.message = fmt::format("304 Not Modified in {}", took);
            return;
        }
        r.outcome = Outcome::bad_payload;
        r.message = "304 Not Modified to a request without If-None-Match or If-Modified-Since "
                    "(a protocol error: there is no cached copy to reuse)";
        r.etag.clear();
        r.last_modified.clear();
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

const bool Client::s_on_wire = util::register_http_function(
    "upstream.exchange", reinterpret_cast<util::AnyFunction>(&Client::exchange_on_wire));

Response Client::exchange_on_wire(Client& self, const util::Url& url, const Request& request,
                                  BodySink& sink, std::string& location) {
    const auto& s = request.s;
    const auto& t = request.t;
    auto deadline = request.deadline;
    Response r;
    r.url = url.str();
    // Network time is real time, whatever clock drives the limiter and the breakers.
    auto remaining = deadline - self.m_clock.steady();
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
    httplib::Headers headers{{"User-Agent", s.user_agent},
                             {"Accept", std::string(request.accept)},
                             {"Accept-Encoding", "gzip"}};
    // Checked by get(): no control characters can split the request.
    const auto& conditional = request.conditional;
    if (!conditional.etag.empty()) {
        headers.emplace("If-None-Match", conditional.etag);
    }
    if (!conditional.last_modified.empty()) {
        headers.emplace("If-Modified-Since", conditional.last_modified);
    }

    Transfer transfer{.r = r,
                      .sink = sink,
                      .location = location,
                      .cancel = self.m_cancel,
                      .cap = s.max_response_bytes,
                      .conditional =
                          !conditional.etag.empty() || !conditional.last_modified.empty(),
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
        transfer.judge_status(self.m_clock);
    }
    return r;
}

} // namespace dataflow::upstream

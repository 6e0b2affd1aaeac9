#include "service/router.hpp"

#include "service/auth.hpp"
#include "service/connection.hpp"
#include "util/error.hpp"
#include "util/log.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <httplib.h>
#include <random>

namespace dataflow::service {

namespace {

/// How long a refused request's unread body is drained before the connection is closed.
constexpr std::chrono::milliseconds k_drain{2000};

bool valid_request_id(const std::string& id) {
    return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

/// The trace id of a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>"), or empty.
std::string trace_id_of(const std::string& traceparent) {
    if (traceparent.size() != 55 || traceparent[2] != '-' || traceparent[35] != '-' ||
        traceparent[52] != '-') {
        return {};
    }
    auto id = traceparent.substr(3, 32);
    bool hex = std::all_of(id.begin(), id.end(), [](char c) {
        return std::isxdigit(static_cast<unsigned char>(c)) && !std::isupper(c);
    });
    return hex && id != std::string(32, '0') ? id : std::string();
}

std::string_view error_code_of(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::input:
        return "invalid_input";
    case ErrorKind::usage:
        return "invalid_request";
    case ErrorKind::config:
        return "config_error";
    case ErrorKind::unavailable:
        return "upstream_unavailable";
    case ErrorKind::rate_limited:
        return "rate_limited";
    case ErrorKind::internal:
        break;
    }
    return "internal_error";
}

/// HTTP methods as metric labels: a fixed set, so hostile request lines cannot add series.
std::string method_label(const std::string& method) {
    static constexpr std::string_view known[] = {"GET",  "POST",    "PUT",  "DELETE",
                                                 "HEAD", "OPTIONS", "PATCH"};
    for (auto k : known) {
        if (method == k) {
            return method;
        }
    }
    return "other";
}

void set_error(httplib::Response& res, int status, std::string_view type, std::string_view code,
               std::string_view detail, std::string_view request_id) {
    res.status = status;
    res.set_content(error_json(type, code, detail, request_id), "application/json");
}

void allow_origin(const httplib::Request& req, httplib::Response& res,
                  const config::Config& config) {
    const auto& origins = config.settings().api.cors_origins;
    if (origins.empty()) {
        return;
    }
    auto origin = req.get_header_value("Origin");
    bool any = std::find(origins.begin(), origins.end(), "*") != origins.end();
    if (!origin.empty() &&
        (any || std::find(origins.begin(), origins.end(), origin) != origins.end())) {
        res.set_header("Access-Control-Allow-Origin", any ? "*" : origin);
        res.set_header("Vary", "Origin");
    }
}

} // namespace

// ------------------------------------------------------------------ errors, replies

std::string error_json(std::string_view type, std::string_view code, std::string_view detail,
                       std::string_view request_id) {
    std::string body;
    util::JsonWriter w(body, 2);
    w.begin_object();
    w.field("success", false);
    w.field("error_type", type);
    w.field("error_code", code);
    w.field("detail", detail);
    w.field("request_id", request_id);
    w.end_object();
    body += '\n';
    return body;
}

std::string new_request_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

Reply Reply::text(std::string body, int status) {
    Reply r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
}

Reply Reply::json(const std::function<void(util::JsonWriter&)>& write, int status) {
    Reply r;
    r.status = status;
    util::JsonWriter w(r.body, 2);
    w.begin_object();
    write(w);
    w.end_object();
    r.body += '\n';
    return r;
}

// ------------------------------------------------------------------ Body

bool BodyBudget::take(std::uint64_t n, std::uint64_t limit) {
    auto used = m_used.load();
    do {
        if (used + n > limit) {
            return false;
        }
    } while (!m_used.compare_exchange_weak(used, used + n));
    return true;
}

bool Body::hold(std::uint64_t total) {
    if (total > m_taken) {
        if (!m_budget.take(total - m_taken, m_budget_limit)) {
            m_busy = true;
            return false;
        }
        m_taken = total;
    }
    return true;
}

void Body::refuse(bool over_cap, std::uint64_t cap, std::string_view what) {
    // Whatever was not read stays unread: the connection cannot carry another request.
    if (!m_res.has_header("Connection")) {
        m_res.set_header("Connection", "close");
    }
    if (m_busy) {
        HttpError busy(503, "unavailable", "busy",
                       "request bodies in memory are at server.max_body_memory; retry in a "
                       "second");
        busy.headers = {{"Retry-After", "1"}};
        throw busy;
    }
    if (current_connection_fault() == ConnectionFault::timed_out) {
        throw HttpError(408, "request_timeout", "request_timeout",
                        "the request body did not arrive within server.request_timeout");
    }
    if (over_cap || m_res.status == 413) {
        throw HttpError(413, "payload_too_large", "payload_too_large",
                        fmt::format("the request body is larger than {} ({} bytes)", what, cap));
    }
    throw HttpError(400, "bad_request", "bad_request",
                    "the request body could not be read (malformed framing or too slow)");
}

std::string Body::read(std::uint64_t cap, std::string_view what) {
    if (m_reader == nullptr || m_consumed || !m_framed) {
        return {};
    }
    m_consumed = true;
    std::string body;
    bool over = false;
    bool ok = (*m_reader)([&](const char* data, std::size_t n) {
        std::uint64_t need = body.size() + n;
        if (need > cap) {
            over = true;
            return false;
        }
        if (need > body.capacity()) {
            // Grow as the string would, but never past the cap, and only within the budget:
            // for bytes received, never for a length merely declared.
            std::uint64_t grow =
                std::min<std::uint64_t>(std::max<std::uint64_t>(need, 2 * body.capacity()), cap);
            if (!hold(grow)) {
                return false;
            }
            body.reserve(static_cast<std::size_t>(grow));
        }
        body.append(data, n);
        return true;
    });
    if (!ok || over) {
        refuse(over, cap, what);
    }
    return body;
}

std::vector<Body::Part> Body::read_multipart(std::uint64_t cap, std::string_view what) {
    std::vector<Part> parts;
    if (m_reader == nullptr || m_consumed || !m_framed) {
        return parts;
    }
    m_consumed = true;
    std::uint64_t total = 0;
    bool over = false;
    bool ok = (*m_reader)(
        [&](const httplib::MultipartFormData& header) {
            // Each part costs its headers and some bookkeeping against the cap and the budget,
            // and there are few of them: empty parts cannot pile up for free.
            std::uint64_t cost =
                header.name.size() + header.filename.size() + header.content_type.size() + 256;
            if (parts.size() >= k_max_parts || total + cost > cap) {
                over = true;
                return false;
            }
            if (!hold(total + cost)) {
                return false;
            }
            total += cost;
            parts.push_back({header.name, header.filename, header.content_type, {}});
            return true;
        },
        [&](const char* data, std::size_t n) {
            if (parts.empty() || total + n > cap) {
                over = total + n > cap;
                return false;
            }
            if (!hold(total + n)) {
                return false;
            }
            total += n;
            parts.back().content.append(data, n);
            return true;
        });
    if (!ok || over) {
        refuse(over, cap, what);
    }
    return parts;
}

void Body::drain(std::uint64_t cap) {
    if (m_reader == nullptr || m_consumed) {
        return;
    }
    m_consumed = true;
    std::uint64_t total = 0;
    auto drop = [&](const char*, std::size_t n) {
        total += n;
        return total <= cap;
    };
    bool ok = m_multipart
                  ? (*m_reader)([](const httplib::MultipartFormData&) { return true; }, drop)
                  : (*m_reader)(drop);
    if (!ok && !m_res.has_header("Connection")) {
        m_res.set_header("Connection", "close");
    }
}

// ------------------------------------------------------------------ Request

bool Request::has_param(const char* name) const {
    return http.has_param(name);
}

std::string Request::param(const char* name) const {
    return http.get_param_value(name);
}

std::vector<std::string> Request::params(const char* name) const {
    std::vector<std::string> out;
    auto n = http.get_param_value_count(name);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(http.get_param_value(name, i));
    }
    return out;
}

std::vector<std::string> Request::list_param(const char* name) const {
    std::vector<std::string> out;
    auto s = http.get_param_value(name);
    std::size_t start = 0;
    while (start <= s.size()) {
        auto comma = s.find(',', start);
        auto item = util::trim(std::string_view(s).substr(start, comma - start));
        if (!item.empty()) {
            out.emplace_back(item);
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return out;
}

const std::string& Request::http_path() const {
    return http.path;
}

bool Request::is_multipart() const {
    return http.is_multipart_form_data();
}

int Request::int_param(const char* name, int fallback, int min, int max) const {
    if (!http.has_param(name)) {
        return fallback;
    }
    auto v = http.get_param_value(name);
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0') {
        throw UsageError(fmt::format("query parameter {}: '{}' is not an integer", name,
                                     util::printable(v.substr(0, 40))));
    }
    return static_cast<int>(std::clamp<long>(n, min, max));
}

bool Request::bool_param(const char* name, bool fallback) const {
    if (!http.has_param(name)) {
        return fallback;
    }
    auto v = http.get_param_value(name);
    if (v == "true" || v == "1" || v == "yes") {
        return true;
    }
    if (v == "false" || v == "0" || v == "no") {
        return false;
    }
    throw UsageError(fmt::format("query parameter {}: '{}' is not true or false", name,
                                 util::printable(v.substr(0, 40))));
}

std::string Request::path_match(std::size_t i) const {
    return i < http.matches.size() ? std::string(http.matches[static_cast<int>(i)]) : "";
}

// ------------------------------------------------------------------ Router

Router::Router(RouterParts parts) : m_parts(parts) {}

void Router::add(Route route) {
    if (route.name.empty()) {
        route.name = route.pattern;
    }
    m_methods.emplace_back(std::regex(route.pattern), route.method);
    m_routes.push_back(std::move(route));
}

void Router::get(std::string pattern, Scope scope, Handler handler, std::string name) {
    add({"GET", std::move(pattern), std::move(name), scope, false, std::move(handler)});
}

void Router::post(std::string pattern, Scope scope, Handler handler, bool has_body,
                  std::string name) {
    add({"POST", std::move(pattern), std::move(name), scope, has_body, std::move(handler)});
}

void Router::probe(std::string pattern, Handler handler) {
    Route route{"GET", std::move(pattern), {}, Scope::none, false, std::move(handler)};
    route.probe = true;
    add(std::move(route));
}

std::string Router::allowed_methods(const std::string& path) const {
    std::string allow;
    for (const auto& [pattern, method] : m_methods) {
        if (std::regex_match(path, pattern) && allow.find(method) == std::string::npos) {
            allow += (allow.empty() ? "" : ", ") + method;
        }
    }
    return allow;
}

bool Router::refuse_early(const httplib::Request& req, httplib::Response& res,
                          Listener listener) const {
    bool has_body =
        req.has_header("Transfer-Encoding") ||
        (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
    // A method the library reads a body for (until the connection ends when no length is
    // given) must match a route here, or it is refused before any of it is read.
    bool reads_content = req.method == "POST" || req.method == "PUT" || req.method == "PATCH" ||
                         req.method == "DELETE" || req.method == "PRI";
    if (!has_body && !reads_content) {
        return false;
    }
    const Route* route = nullptr;
    for (std::size_t i = 0; i < m_routes.size() && route == nullptr; ++i) {
        const auto& r = m_routes[i];
        if ((listener == Listener::api || r.probe) && r.method == req.method &&
            std::regex_match(req.path, m_methods[i].first)) {
            route = &r;
        }
    }
    if (!has_body && route != nullptr) {
        return false; // no body: the route is served (its handler reads nothing)
    }
    int status = 0;
    std::string type;
    std::string detail;
    if (req.has_header("Transfer-Encoding") && req.has_header("Content-Length")) {
        // Two framings: whichever one a hop believes, another may not (RFC 9112 6.1).
        status = 400;
        type = "bad_request";
        detail = "a request with both Transfer-Encoding and Content-Length is refused";
    } else if (route == nullptr || !route->has_body) {
        // The library would read the whole body before routing, with no bound when it is
        // chunked: refuse it unread, and close the connection it is still on.
        bool known = route != nullptr || !allowed_methods(req.path).empty();
        status = known ? 400 : 404;
        type = known ? "unexpected_body" : "not_found";
        detail = known ? "this route takes no request body"
                       : "no such route: " + util::printable(req.method.substr(0, 20)) + " " +
                             util::printable(req.path.substr(0, 200));
    } else if (auto length = req.get_header_value<std::uint64_t>("Content-Length"),
               cap = m_parts.config.current()->settings().server.max_body_size;
               length > cap) {
        // The library would read (and drop) all of a declared body over its payload limit
        // before answering: answer now, unread, and close.
        status = 413;
        type = "payload_too_large";
        detail = fmt::format("the request body is larger than server.max_body_size ({} bytes "
                             "declared, {} allowed)",
                             length, cap);
    } else {
        auto coding = util::ascii_lower(util::trim(req.get_header_value("Content-Encoding")));
        if (coding.empty() || coding == "identity" || coding == "gzip" || coding == "deflate" ||
            coding == "br") {
            return false;
        }
        status = 415;
        type = "unsupported_media_type";
        detail = "Content-Encoding '" + util::printable(coding.substr(0, 40)) +
                 "' is not supported; send the body as is, or gzip, deflate or br";
    }
    auto id = new_request_id();
    res.set_header("X-Request-ID", id);
    res.set_header("Connection", "close");
    set_error(res, status, type, type, detail, id);
    m_parts.requests.inc({route != nullptr ? route->name : "unmatched", method_label(req.method),
                          std::to_string(status)});
    return true;
}

void Router::preflight(const httplib::Request& req, httplib::Response& res) const {
    auto allow = allowed_methods(req.path);
    if (allow.empty()) {
        auto id = new_request_id();
        res.set_header("X-Request-ID", id);
        set_error(res, 404, "not_found", "not_found",
                  "no such route: OPTIONS " + util::printable(req.path.substr(0, 200)), id);
    } else {
        // CORS preflight: no credentials are sent with it, so no auth; the origin check is the
        // same as for the request that follows.
        allow += ", OPTIONS";
        res.status = 204;
        allow_origin(req, res, *m_parts.config.current());
        res.set_header("Allow", allow);
        res.set_header("Access-Control-Allow-Methods", allow);
        res.set_header("Access-Control-Allow-Headers",
                       "Authorization, Content-Type, X-Request-ID, traceparent");
        res.set_header("Access-Control-Max-Age", "600");
    }
    m_parts.requests.inc({"preflight", "OPTIONS", std::to_string(res.status)});
}

void Router::install(httplib::Server& server, Listener listener) {
    server.set_pre_routing_handler(
        [this, listener](const httplib::Request& req, httplib::Response& res) {
            return refuse_early(req, res, listener) ? httplib::Server::HandlerResponse::Handled
                                                    : httplib::Server::HandlerResponse::Unhandled;
        });
    if (listener == Listener::api) {
        server.Options(".*", [this](const httplib::Request& req, httplib::Response& res) {
            preflight(req, res);
        });
    }
    for (const auto& route : m_routes) {
        const Route* r = &route; // m_routes does not change after install
        if (listener == Listener::probes && !route.probe) {
            continue;
        }
        if (route.method == "GET") {
            server.Get(route.pattern,
                       [this, r](const httplib::Request& req, httplib::Response& res) {
                           handle(*r, req, res, nullptr);
                       });
        } else if (route.has_body) {
            // The body is not read before the handler asks for it, with its cap.
            server.Post(
                route.pattern,
                [this, r](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader) { handle(*r, req, res, &reader); });
        } else {
            // A content reader the handler never calls: the library then reads no body (a
            // route without one refuses any in refuse_early).
            server.Post(
                route.pattern,
                [this, r](const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader&) { handle(*r, req, res, nullptr); });
        }
    }
    server.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
        // The library's own refusals (a header line or URI too long, a bad request line or
        // Range) close the connection too: what follows is never read as another request.
        if (res.status >= 400 && !res.has_header("Connection")) {
            res.set_header("Connection", "close");
        }
        if (!res.body.empty()) {
            return;
        }
        auto id = new_request_id();
        res.set_header("X-Request-ID", id);
        if (res.status == 413) {
            set_error(res, 413, "payload_too_large", "payload_too_large",
                      "the request body is larger than server.max_body_size", id);
        } else if (std::string allow = allowed_methods(req.path);
                   res.status == 404 && !allow.empty()) {
            res.set_header("Allow", allow);
            set_error(res, 405, "method_not_allowed", "method_not_allowed",
                      fmt::format("{} is not allowed on this route; use {}",
                                  util::printable(req.method.substr(0, 20)), allow),
                      id);
        } else if (res.status == 404) {
            set_error(res, 404, "not_found", "not_found",
                      "no such route: " + req.method + " " +
                          util::printable(req.path.substr(0, 200)),
                      id);
        } else {
            set_error(res, res.status, "bad_request", "bad_request",
                      fmt::format("the request could not be handled ({})", res.status), id);
        }
        m_parts.requests.inc({"unmatched", method_label(req.method), std::to_string(res.status)});
    });
}

void Router::handle(const Route& route, const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader* reader) const {
    auto start = std::chrono::steady_clock::now();
    ++m_parts.in_flight;
    auto id = req.get_header_value("X-Request-ID");
    if (!valid_request_id(id)) {
        id = new_request_id();
    }
    res.set_header("X-Request-ID", id);
    auto config = m_parts.config.current();
    std::string trace;
    if (config->settings().tracing.enabled) {
        trace = trace_id_of(req.get_header_value("traceparent"));
    }
    std::vector<util::LogFields::Field> fields{{"request_id", id, 0, false},
                                               {"route", route.name, 0, false}};
    if (!trace.empty()) {
        fields.push_back({"trace_id", trace, 0, false});
    }
    util::LogFields log_fields(fields);
    if (m_parts.draining) {
        res.set_header("Connection", "close"); // the first header set on this response
    }
    allow_origin(req, res, *config);
    Body body(reader, res, req.is_multipart_form_data(),
              req.has_header("Content-Length") || req.has_header("Transfer-Encoding"), m_bodies,
              config->settings().server.max_body_memory);
    Request request{req, id, trace, config, reader != nullptr ? &body : nullptr};
    respond(route, request, res);
    if (res.status >= 400) {
        // Every refusal closes its connection: nothing after it is read as another request.
        if (!res.has_header("Connection")) {
            res.set_header("Connection", "close");
        }
        // A body the handler did not read (401, 403, busy) is read and dropped for a moment,
        // within the body cap, so that a client still sending it reads the answer.
        limit_current_request(k_drain);
    }
    body.drain(config->settings().server.max_body_size);
    finish(route, req, res, start, *config);
}

void Router::respond(const Route& route, Request& request, httplib::Response& res) const {
    const auto& id = request.id;
    try {
        if (route.scope != Scope::none) {
            auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           m_parts.clock.system().time_since_epoch())
                           .count();
            auto result = authenticate(request.config->settings().auth,
                                       request.http.get_header_value("Authorization"), now);
            const char* needed = route.scope == Scope::admin ? "admin" : "read";
            if (!result.authenticated) {
                res.set_header("WWW-Authenticate", "Bearer");
                set_error(res, 401, "unauthorized", "unauthorized", result.error, id);
                return;
            }
            if (result.scopes.count(needed) == 0) {
                set_error(res, 403, "forbidden", "insufficient_scope",
                          fmt::format("this route needs the '{}' scope", needed), id);
                return;
            }
        }
        auto reply = route.handler(request);
        for (const auto& [name, value] : reply.headers) {
            res.set_header(name, value);
        }
        res.status = reply.status;
        if (reply.shared_body && !reply.shared_body->empty()) {
            // A content provider of known length: the library sends it as it is (it compresses
            // only `body`), straight from the shared bytes.
            // Range is ignored (RFC 9110 allows it): the whole answer, 200. The library would
            // otherwise send a part under our 200, or ask the provider for bytes past its end.
            // (The library's Request is its own non-const object, passed to us as const.)
            const_cast<httplib::Request&>(request.http).ranges.clear();
            auto bytes = std::move(reply.shared_body);
            auto size = bytes->size();
            res.set_content_provider(
                size, reply.content_type,
                [bytes = std::move(bytes)](std::size_t offset, std::size_t length,
                                           httplib::DataSink& sink) {
                    if (offset >= bytes->size()) {
                        return false; // never past the end, whatever asked for it
                    }
                    return sink.write(bytes->data() + offset,
                                      std::min(length, bytes->size() - offset));
                });
        } else if (!reply.body.empty() || !reply.content_type.empty()) { // a 304 has neither
            res.set_content(std::move(reply.body), reply.content_type);
        }
    } catch (const HttpError& e) {
        for (const auto& [name, value] : e.headers) {
            res.set_header(name, value);
        }
        set_error(res, e.status, e.type, e.code, e.what(), id);
    } catch (const NotReady& e) {
        res.set_header("Retry-After", "30");
        set_error(res, 503, "unavailable", "not_ready", e.what(), id);
    } catch (const Error& e) {
        const auto& info = e.info();
        set_error(res, info.http_status, info.type, error_code_of(e.kind()), e.what(), id);
        if (info.http_status >= 500) {
            spdlog::error("{}", e.what());
        }
    } catch (const std::bad_alloc&) {
        set_error(res, 503, "unavailable", "out_of_memory",
                  "the service is out of memory; try a smaller request", id);
    } catch (const std::exception& e) {
        spdlog::error("internal error: {}", e.what());
        set_error(res, 500, "internal_error", "internal_error",
                  "an internal error occurred; quote the request id when reporting it", id);
    }
}

void Router::finish(const Route& route, const httplib::Request& req, const httplib::Response& res,
                    std::chrono::steady_clock::time_point start,
                    const config::Config& config) const {
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    int status = res.status == -1 ? 200 : res.status;
    m_parts.requests.inc({route.name, method_label(req.method), std::to_string(status)});
    m_parts.duration.observe({route.name}, took.count());
    m_parts.last_progress_ns = m_parts.clock.steady().time_since_epoch().count();
    --m_parts.in_flight;
    bool quiet = route.name.rfind("/health", 0) == 0 || route.name == "/livez" ||
                 route.name == "/readyz" || route.name == "/metrics";
    auto slow = config.settings().log.slow_request_threshold;
    auto level = slow.count() > 0 && took > slow ? spdlog::level::warn
                 : quiet                         ? spdlog::level::debug
                                                 : spdlog::level::info;
    // Probes at high rates: build the log fields only when the line is written.
    if (spdlog::should_log(level)) {
        util::LogFields done({{"method", req.method, 0, false},
                              {"status", {}, static_cast<double>(status), true},
                              {"duration_ms", {}, took.count() * 1000.0, true}});
        if (level == spdlog::level::warn) {
            spdlog::warn("slow request: {} {} {} in {:.0f} ms", req.method, route.name, status,
                         took.count() * 1000.0);
        } else {
            spdlog::log(level, "{} {} {}", req.method, route.name, status);
        }
    }
}

} // namespace dataflow::service

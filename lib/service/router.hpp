#pragma once
/// The service's front door. Every route is registered here with its name, the scope it needs
/// and whether it takes a body, and every request goes through one middleware chain, in this
/// order: request id, trace id and log fields, drain (Connection: close), CORS, authentication
/// and scope, the handler, error mapping (one JSON error shape), metrics and the access log.
/// Handlers take a Request and return a Reply; they never touch the HTTP library.

#include "config/reload.hpp"
#include "service/metrics.hpp"
#include "util/clock.hpp"
#include "util/json_writer.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace httplib {
class Server;
class ContentReader;
struct Request;
struct Response;
} // namespace httplib

namespace dataflow::service {

enum class Scope { none, read, admin };

/// A refusal with its HTTP status and the error shape's type and code (e.g. 404
/// unknown_dataflow). Errors of the util::Error hierarchy map through its table instead.
class HttpError : public std::runtime_error {
public:
    HttpError(int status_, std::string type_, std::string code_, const std::string& detail)
        : std::runtime_error(detail), status(status_), type(std::move(type_)),
          code(std::move(code_)) {}
    int status;
    std::string type;
    std::string code;
    std::vector<std::pair<std::string, std::string>> headers;
};

/// Something the service does not have yet (the catalogue before its first load): 503 with
/// Retry-After.
class NotReady : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Bytes of request bodies held in memory by all requests together (server.max_body_memory).
class BodyBudget {
public:
    /// Takes `n` bytes when they fit under `limit`.
    bool take(std::uint64_t n, std::uint64_t limit);
    void give(std::uint64_t n) { m_used -= n; }
    std::uint64_t used() const { return m_used.load(); }

private:
    std::atomic<std::uint64_t> m_used{0};
};

/// A request body, read when the handler asks for it and never beyond a cap, whatever the
/// framing (Content-Length, chunked) or the content coding: bytes past the cap are not read.
/// What it holds counts against a BodyBudget until the request ends.
class Body {
public:
    /// `framed`: the request has a Content-Length or a Transfer-Encoding; without either its
    /// body is empty (HTTP/1.1), never "read until the connection ends".
    Body(const httplib::ContentReader* reader, httplib::Response& res, bool multipart, bool framed,
         BodyBudget& budget, std::uint64_t budget_limit)
        : m_reader(reader), m_res(res), m_multipart(multipart), m_framed(framed), m_budget(budget),
          m_budget_limit(budget_limit) {}

    /// Parts of a multipart body at most.
    static constexpr std::size_t k_max_parts = 16;
    ~Body() { m_budget.give(m_taken); }
    Body(const Body&) = delete;
    Body& operator=(const Body&) = delete;

    /// The whole body; HttpError 413 beyond `cap` bytes (`what` names the limit for the
    /// message), 400 when it cannot be read (malformed framing, timeout).
    std::string read(std::uint64_t cap, std::string_view what);

    struct Part {
        std::string name;
        std::string filename;
        std::string content_type;
        std::string content;
    };
    /// A multipart/form-data body, its parts' contents together capped at `cap`.
    std::vector<Part> read_multipart(std::uint64_t cap, std::string_view what);

    /// Reads and drops what the handler left unread, up to `cap` bytes, so a refused client
    /// still reads its answer; beyond the cap the connection is closed instead.
    void drain(std::uint64_t cap);

private:
    [[noreturn]] void refuse(bool over_cap, std::uint64_t cap, std::string_view what);
    /// Accounts for holding `total` bytes; false when the budget has no room for them.
    bool hold(std::uint64_t total);
    const httplib::ContentReader* m_reader;
    httplib::Response& m_res;
    bool m_multipart;
    bool m_framed;
    BodyBudget& m_budget;
    std::uint64_t m_budget_limit;
    std::uint64_t m_taken = 0;
    bool m_busy = false;
    bool m_consumed = false;
};

/// What a handler sees.
struct Request {
    const httplib::Request& http;
    std::string id;       ///< X-Request-ID (the client's when well-formed, else ours)
    std::string trace_id; ///< from traceparent when tracing.enabled, else empty
    std::shared_ptr<const config::Config> config; ///< the snapshot for the whole request
    Body* body = nullptr;                         ///< routes registered with a body only

    bool has_param(const char* name) const;
    std::string param(const char* name) const; ///< empty when absent
    std::vector<std::string> params(const char* name) const;
    /// A comma-separated query parameter, items trimmed, empty items dropped.
    std::vector<std::string> list_param(const char* name) const;
    bool is_multipart() const;
    const std::string& http_path() const;
    /// Query parameter as an integer clamped to [min, max]; 400 when not an integer.
    int int_param(const char* name, int fallback, int min, int max) const;
    /// Query parameter true/1/yes or false/0/no; 400 otherwise.
    bool bool_param(const char* name, bool fallback) const;
    std::string path_match(std::size_t i) const; ///< capture group i of the route's pattern
};

/// What a handler returns.
struct Reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    /// Bytes shared with a cache (service/rendered.hpp), sent as they are instead of `body`:
    /// not copied, never compressed again.
    std::shared_ptr<const std::string> shared_body;
    std::vector<std::pair<std::string, std::string>> headers;

    static Reply text(std::string body, int status = 200);
    /// A JSON document: `write` fills the top-level object.
    static Reply json(const std::function<void(util::JsonWriter&)>& write, int status = 200);
};

using Handler = std::function<Reply(Request&)>;

/// The one JSON error shape: {"success": false, "error_type", "error_code", "detail",
/// "request_id"}.
std::string error_json(std::string_view type, std::string_view code, std::string_view detail,
                       std::string_view request_id);
std::string new_request_id();

/// What the middleware counts and reads.
struct RouterParts {
    config::ConfigStore& config;
    const util::Clock& clock;
    Family& requests; ///< dataflow_http_requests_total {route, method, code}
    Family& duration; ///< dataflow_http_request_duration_seconds {route}
    const std::atomic<bool>& draining;
    std::atomic<int>& in_flight;
    std::atomic<long long>& last_progress_ns; ///< steady clock, when a request last finished
};

class Router {
public:
    explicit Router(RouterParts parts);

    struct Route {
        std::string method;  ///< GET or POST
        std::string pattern; ///< regex over the path
        std::string name;    ///< metric and log label ("/api/v1/dataflows/{id}")
        Scope scope = Scope::none;
        bool has_body = false; ///< the handler reads Request::body
        Handler handler;
        bool probe = false; ///< also served on the probe (metrics) listener
    };
    void add(Route route);
    void get(std::string pattern, Scope scope, Handler handler, std::string name = {});
    void post(std::string pattern, Scope scope, Handler handler, bool has_body = false,
              std::string name = {});
    /// A health probe: GET, no scope, on the API listener and on the probe listener.
    void probe(std::string pattern, Handler handler);

    enum class Listener {
        api,   ///< every route, CORS preflight
        probes ///< the probe routes only, served by their own small pool
    };
    /// Registers the listener's routes, the check that runs before any body byte is read
    /// (a body only where a route reads one, a known Content-Encoding), CORS preflight (OPTIONS)
    /// and the handler for what matches none (404, 405 with Allow, 413, 400) on `server`.
    void install(httplib::Server& server, Listener listener = Listener::api);

    /// The HTTP methods `path` is served with ("GET, POST"), empty when none.
    std::string allowed_methods(const std::string& path) const;

private:
    /// Before routing, before any body byte is read: true when it answered (refused).
    bool refuse_early(const httplib::Request& req, httplib::Response& res, Listener listener) const;
    void preflight(const httplib::Request& req, httplib::Response& res) const;
    void handle(const Route& route, const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader* reader) const;
    void respond(const Route& route, Request& request, httplib::Response& res) const;
    void finish(const Route& route, const httplib::Request& req, const httplib::Response& res,
                std::chrono::steady_clock::time_point start, const config::Config& config) const;

    RouterParts m_parts;
    mutable BodyBudget m_bodies;
    std::vector<Route> m_routes;
    std::vector<std::pair<std::regex, std::string>> m_methods; ///< pattern → method
};

} // namespace dataflow::service

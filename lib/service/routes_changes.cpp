// The change feed: GET /api/v1/changes (JSON) and GET /api/v1/changes.atom (Atom 1.0), both
// with an ETag and 304 for a client that already has the answer.

#include "live/changes.hpp"
#include "service/routes.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <httplib.h>

namespace dataflow::service {

namespace {

/// since=<seq> or since=<RFC 3339 time>; 400 for anything else.
void read_since(const Request& req, live::ChangeQuery& q) {
    auto since = req.param("since");
    if (since.empty()) {
        return;
    }
    std::int64_t seq = 0;
    auto [end, ec] = std::from_chars(since.data(), since.data() + since.size(), seq);
    if (ec == std::errc() && end == since.data() + since.size() && seq >= 0) {
        q.since_seq = seq;
        return;
    }
    auto t = util::parse_timestamp(since);
    if (!t || since.find('T') == std::string::npos) {
        throw UsageError("since: '" + util::printable(since.substr(0, 40)) +
                         "' is neither a sequence number nor an RFC 3339 time "
                         "(2026-12-01T10:00:00Z)");
    }
    q.since_ms = t->time_since_epoch().count();
}

/// The request's scheme://host for the feed's links: the proxy's X-Forwarded-Proto / Host when
/// they look like a scheme and a host, else http:// and the Host header.
std::string base_url(const Request& req) {
    auto proto = req.http.get_header_value("X-Forwarded-Proto");
    if (proto != "https" && proto != "http") {
        proto = "http";
    }
    auto host = req.http.get_header_value("X-Forwarded-Host");
    if (host.empty()) {
        host = req.http.get_header_value("Host");
    }
    bool ok =
        !host.empty() && host.size() <= 255 && std::all_of(host.begin(), host.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                   c == ':' || c == '[' || c == ']';
        });
    return fmt::format("{}://{}", proto, ok ? host : std::string("localhost"));
}

/// A rendering of the change feed from the rendered answers (`key`: the route and normalised
/// query), made from `history` on a miss.
Reply feed_answer(ServiceState& s, const Request& req,
                  const std::shared_ptr<const live::ChangeHistory>& history, const std::string& key,
                  const std::string& content_type, const std::function<std::string()>& render) {
    auto now = now_ms(s);
    auto rendered = s.feed_answers.get({req.config, history}, key, render, content_type, now,
                                       req.config->settings().server.response_cache_size);
    return reply_rendered(req, *rendered, "no-cache");
}

} // namespace

void add_change_routes(Router& router, ServiceState& state) {
    auto& s = state;
    router.get(
        "/api/v1/changes", Scope::read,
        [&s](Request& req) {
            live::ChangeQuery q;
            read_since(req, q);
            q.limit = static_cast<std::size_t>(req.int_param("limit", 100, 1, 1000));
            auto history = s.catalog.changes().history();
            return feed_answer(s, req, history,
                               fmt::format("json;{};{};{}", q.since_seq.value_or(-1),
                                           q.since_ms.value_or(-1), q.limit),
                               "application/json",
                               [&] { return live::render_changes_json(*history, q); });
        },
        "/api/v1/changes");
    router.get(
        "/api/v1/changes\\.atom", Scope::read,
        [&s](Request& req) {
            auto limit = static_cast<std::size_t>(req.int_param("limit", 50, 1, 1000));
            auto history = s.catalog.changes().history();
            auto base = base_url(req);
            return feed_answer(s, req, history, fmt::format("atom;{};{}", limit, base),
                               "application/atom+xml; charset=utf-8", [&] {
                                   return live::render_changes_atom(*history, s.catalog.label(),
                                                                    s.catalog.catalogue_url(), base,
                                                                    limit);
                               });
        },
        "/api/v1/changes.atom");
}

} // namespace dataflow::service

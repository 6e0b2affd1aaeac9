// Admin routes (scope admin): the cache's statistics and flush, a catalogue refresh, a
// configuration reload.

#include "redis/pool.hpp"
#include "service/routes.hpp"
#include "util/error.hpp"

namespace dataflow::service {

namespace {

void require_admin_enabled(const Request& req) {
    if (!req.config->settings().api.admin_enabled) {
        throw UsageError("admin endpoints are disabled (api.admin_enabled = false)");
    }
}

Reply cache_stats(ServiceState& s) {
    auto st = s.parts.cache.stats();
    return Reply::json([&](util::JsonWriter& w) {
        w.field("success", true);
        w.field("backend", st.backend);
        w.field("reachable", st.reachable);
        w.field("entries", static_cast<std::int64_t>(st.entries));
        w.field("hits", static_cast<std::int64_t>(st.hits));
        w.field("misses", static_cast<std::int64_t>(st.misses));
        w.field("hit_ratio", st.hit_ratio());
        w.field("bytes_used", static_cast<std::int64_t>(st.bytes_used));
    });
}

Reply cache_flush(ServiceState& s, const Request& req) {
    require_admin_enabled(req);
    cache::FlushResult r;
    try {
        r = req.has_param("tag") ? s.parts.cache.invalidate_tag(req.param("tag"), false)
                                 : s.parts.cache.flush(false);
    } catch (const redis::Error& e) {
        throw UnavailableError(e.what());
    }
    return Reply::json([&](util::JsonWriter& w) {
        w.field("success", true);
        w.field("invalidated", static_cast<std::int64_t>(r.entries));
        w.field("exact", r.exact);
    });
}

Reply catalog_refresh(ServiceState& s, const Request& req) {
    require_admin_enabled(req);
    if (s.catalog.mode() != config::CatalogMode::upstream) {
        throw UsageError("the catalogue is not fetched from the upstream (catalog.mode = " +
                         std::string(config::to_string(s.catalog.mode())) + ")");
    }
    s.catalog.refresh_soon();
    return Reply::json(
        [](util::JsonWriter& w) {
            w.field("success", true);
            w.field("message", "refresh scheduled");
        },
        202);
}

Reply config_reload(ServiceState& s, const Request& req) {
    require_admin_enabled(req);
    if (s.parts.reloader == nullptr) {
        throw UsageError("configuration reload is not available");
    }
    auto outcome = s.parts.reloader->reload();
    static constexpr const char* names[] = {"applied", "unchanged", "rejected"};
    bool rejected = outcome == config::ReloadOutcome::rejected;
    return Reply::json(
        [&](util::JsonWriter& w) {
            w.field("success", !rejected);
            w.field("outcome", names[static_cast<int>(outcome)]);
        },
        rejected ? 422 : 200);
}

} // namespace

void add_admin_routes(Router& router, ServiceState& s) {
    router.get("/api/v1/cache/stats", Scope::admin, [&s](Request&) { return cache_stats(s); });
    router.post("/api/v1/cache/flush", Scope::admin,
                [&s](Request& req) { return cache_flush(s, req); });
    router.post("/api/v1/catalog/refresh", Scope::admin,
                [&s](Request& req) { return catalog_refresh(s, req); });
    router.post("/api/v1/config/reload", Scope::admin,
                [&s](Request& req) { return config_reload(s, req); });
}

} // namespace dataflow::service

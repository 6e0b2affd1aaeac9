// The loader's last steps: the rule set (inline or analysis.rules_file), checks across keys,
// and the production profile.

#include "analysis/rules.hpp"
#include "analysis/rules_toml.hpp"
#include "config/loader_detail.hpp"
#include "util/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace dataflow::config::detail {

namespace fs = std::filesystem;

// ---- rules

void Loader::resolve_rules() {
    const KeyDef& file_key = *find_key("analysis.rules_file");
    const std::string& file = m_config.str("analysis.rules_file");
    const Origin& file_origin = m_config.origin(file_key);
    if (m_inline_rules && !file.empty()) {
        error(file_origin, "analysis.rules_file",
              fmt::format("both analysis.rules_file and [[analysis.rules]] (at {}) are set; "
                          "keep one",
                          m_inline_rules_origin.location()));
        return;
    }
    if (m_inline_rules) {
        m_config.set_rules(m_inline_rules, m_inline_rules_origin);
        return;
    }
    if (file.empty()) {
        return;
    }
    // A relative path is relative to the file that names it.
    fs::path path(file);
    if (path.is_relative() &&
        (file_origin.kind == SourceKind::file || file_origin.kind == SourceKind::config_dir ||
         file_origin.kind == SourceKind::secrets_dir)) {
        path = fs::path(file_origin.name).parent_path() / path;
    }
    try {
        m_config.set_rules(analysis::load_rules_file(path.string()), file_origin);
    } catch (const LocatedError& e) {
        error(Origin{SourceKind::file, e.file(), e.line(), e.column()}, "analysis.rules_file",
              e.detail());
    } catch (const Error& e) {
        error(file_origin, "analysis.rules_file", e.what());
    }
}

// ---- sources

void Loader::resolve_sources() {
    const KeyDef& file_key = *find_key("upstream.sources_file");
    const std::string& file = m_config.str("upstream.sources_file");
    const Origin& file_origin = m_config.origin(file_key);
    if (!file.empty()) {
        fs::path path(file);
        if (path.is_relative() &&
            (file_origin.kind == SourceKind::file || file_origin.kind == SourceKind::config_dir ||
             file_origin.kind == SourceKind::secrets_dir)) {
            path = fs::path(file_origin.name).parent_path() / path;
        }
        if (path.string() != file) {
            // Kept resolved, so a reload's check of the applied values (as flags) finds it.
            m_config.set(file_key, Value(path.string()), file_origin);
        }
        try {
            m_config.set_sources(load_sources_file(path.string()));
        } catch (const LocatedError& e) {
            error(Origin{SourceKind::file, e.file(), e.line(), e.column()}, "upstream.sources_file",
                  e.detail());
        } catch (const Error& e) {
            error(file_origin, "upstream.sources_file", e.what());
        }
    }
    const auto& id = m_config.str("upstream.source");
    if (m_config.sources()->find(id) == nullptr) {
        error(m_config.origin("upstream.source"), "upstream.source",
              fmt::format("\"{}\" is not a known source (known: {}); `dataflow sources` lists "
                          "them, upstream.sources_file adds one",
                          id, m_config.sources()->ids()));
    }
}

// ---- cross-key checks and the production profile

bool Loader::is_default(std::string_view key) const {
    return m_config.origin(key).kind == SourceKind::default_value;
}

Origin Loader::preferred_origin(std::string_view preferred, std::string_view fallback) const {
    return is_default(preferred) ? m_config.origin(fallback) : m_config.origin(preferred);
}

void Loader::validate() {
    validate_ports_and_times();
    validate_auth();
    validate_paths();
    if (m_config.str("environment") == "production") {
        validate_production();
    }
}

void Loader::validate_ports_and_times() {
    const auto& c = m_config;
    if (c.integer("server.metrics_port") != 0 &&
        c.integer("server.metrics_port") == c.integer("server.port")) {
        error(c.origin("server.metrics_port"), "server.metrics_port",
              "equals server.port; use 0 to serve /metrics on the API port");
    }
    if (c.size("server.max_body_memory") < c.size("server.max_body_size")) {
        error(preferred_origin("server.max_body_memory", "server.max_body_size"),
              "server.max_body_memory",
              "is less than server.max_body_size; the largest bodies could never be accepted");
    }
    if (c.duration("cache.stale_ttl") < c.duration("cache.fresh_ttl")) {
        error(preferred_origin("cache.stale_ttl", "cache.fresh_ttl"), "cache.stale_ttl",
              "is shorter than cache.fresh_ttl; an entry must stay fresh before it goes "
              "stale");
    }
    for (const char* cls : {"structure", "data"}) {
        auto deadline = fmt::format("upstream.{}_deadline", cls);
        auto connect = fmt::format("upstream.{}_connect_timeout", cls);
        if (c.duration(deadline) < c.duration(connect)) {
            error(preferred_origin(deadline, connect), deadline,
                  fmt::format("is shorter than {}; no call could ever finish", connect));
        }
    }
    if (c.duration("upstream.retry_after_max") < c.duration("upstream.retry_after_min")) {
        error(preferred_origin("upstream.retry_after_max", "upstream.retry_after_min"),
              "upstream.retry_after_max", "is shorter than upstream.retry_after_min");
    }
}

void Loader::validate_auth() {
    const auto& c = m_config;
    const auto& mode = c.str("auth.mode");
    if (mode == "token" && c.list("auth.tokens").empty() && c.list("auth.admin_tokens").empty()) {
        error(c.origin("auth.mode"), "auth.mode",
              "token authentication without auth.tokens or auth.admin_tokens; no request "
              "could be authorised");
    }
    if (mode == "jwt" && c.str("auth.jwt_secret").empty()) {
        error(c.origin("auth.mode"), "auth.mode",
              "JWT authentication without auth.jwt_secret; no token could be verified");
    }
    if (mode == "jwt" && !c.str("auth.jwt_secret").empty() &&
        c.str("auth.jwt_secret").size() < 32) {
        warning(c.origin("auth.jwt_secret"), "auth.jwt_secret",
                "an HMAC secret shorter than 32 bytes is weak; use 32 random bytes or more");
    }
    for (const char* key : {"auth.tokens", "auth.admin_tokens"}) {
        for (const auto& token : c.list(key)) {
            if (token.size() < 16) {
                warning(c.origin(key), key,
                        "a token shorter than 16 characters is easy to guess; use random "
                        "tokens of 32 characters or more");
                break;
            }
        }
    }
}

void Loader::validate_paths() {
    const auto& c = m_config;
    if (c.str("catalog.mode") == "file" && c.str("catalog.file").empty()) {
        error(c.origin("catalog.mode"), "catalog.file",
              "catalog.mode = file needs catalog.file (the path of a dataflow list)");
    }
    if (const auto& f = c.str("catalog.file"); !f.empty() && ::access(f.c_str(), R_OK) != 0) {
        error(c.origin("catalog.file"), "catalog.file",
              fmt::format("cannot read '{}': {}", f, std::strerror(errno)));
    }
    if (const auto& root = c.str("api.file_root"); !root.empty() && !is_dir(root)) {
        error(c.origin("api.file_root"), "api.file_root",
              fmt::format("'{}' is not a directory", root));
    }
    if (const auto& ca = c.str("upstream.ca_file");
        !ca.empty() && ::access(ca.c_str(), R_OK) != 0) {
        error(c.origin("upstream.ca_file"), "upstream.ca_file",
              fmt::format("cannot read '{}': {}", ca, std::strerror(errno)));
    }
    if (c.str("cache.backend") == "redis") {
        validate_redis_topology();
    }
    if (c.str("cache.backend") != "redis") {
        for (const auto& key : schema()) {
            if (key.name.substr(0, 6) == "redis." && !is_default(key.name)) {
                warning(c.origin(key.name), std::string(key.name),
                        "has no effect with cache.backend = memory");
            }
        }
    }
}

void Loader::validate_redis_topology() {
    const auto& c = m_config;
    const auto& mode = c.str("redis.mode");
    if (mode == "sentinel" && c.list("redis.sentinels").empty()) {
        error(preferred_origin("redis.sentinels", "redis.mode"), "redis.sentinels",
              "redis.mode = sentinel needs the sentinels to ask for the master: set "
              "redis.sentinels (host:port, comma-separated in DATAFLOW_REDIS_SENTINELS)");
    }
    if (mode == "sentinel" && c.str("redis.sentinel_master").empty()) {
        error(preferred_origin("redis.sentinel_master", "redis.mode"), "redis.sentinel_master",
              "redis.mode = sentinel needs the name of the master set (SENTINEL monitor NAME)");
    }
    if (mode == "cluster" && c.integer("redis.db") != 0) {
        error(preferred_origin("redis.db", "redis.mode"), "redis.db",
              "a Redis Cluster has database 0 only: leave redis.db at 0 (separate deployments "
              "with redis.key_prefix)");
    }
    if (mode != "sentinel") {
        for (const char* key :
             {"redis.sentinels", "redis.sentinel_username", "redis.sentinel_password"}) {
            if (!is_default(key)) {
                warning(c.origin(key), key, "has no effect unless redis.mode = sentinel");
            }
        }
    }
    if (mode == "cluster" && c.str("redis.key_prefix").find_first_of("{}") != std::string::npos) {
        warning(c.origin("redis.key_prefix"), "redis.key_prefix",
                "a { or } in the prefix puts every key on one hash slot of the cluster (one "
                "shard takes all the load); the keys carry their own hash tags (docs/CACHE.md)");
    }
    if (mode != "cluster" && !is_default("redis.nodes")) {
        warning(c.origin("redis.nodes"), "redis.nodes",
                "has no effect unless redis.mode = cluster");
    }
}

void Loader::validate_production() {
    const auto& c = m_config;
    const auto& host = c.str("redis.host");
    if (c.str("cache.backend") == "redis" && c.str("redis.mode") != "sentinel" &&
        (host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]" ||
         host.rfind("127.", 0) == 0)) {
        error(preferred_origin("redis.host", "cache.backend"), "redis.host",
              fmt::format("production with distributed caching on '{}': each replica would "
                          "use its own Redis; set redis.host to the Redis Service "
                          "(e.g. redis.<namespace>.svc.cluster.local)",
                          host));
    }
    const auto& level = c.str("log.level");
    if (level == "debug" || level == "trace") {
        error(c.origin("log.level"), "log.level",
              fmt::format("'{}' in production logs request details at volume; use info "
                          "(raise it on one pod for a while if you must)",
                          level));
    }
    if (c.flag("api.admin_enabled") && c.str("auth.mode") == "none") {
        error(preferred_origin("api.admin_enabled", "auth.mode"), "api.admin_enabled",
              "admin endpoints are enabled without authentication; set auth.mode = token "
              "(with auth.admin_tokens) or jwt, or disable api.admin_enabled");
    }
    const Source* source = c.sources()->find(c.str("upstream.source"));
    const auto& base = c.str("upstream.base_url").empty() && source != nullptr
                           ? source->base_url
                           : c.str("upstream.base_url");
    if (base.rfind("https://", 0) != 0) {
        error(c.origin("upstream.base_url"), "upstream.base_url",
              "production needs an https:// upstream");
    }
}

} // namespace dataflow::config::detail

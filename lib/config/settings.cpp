#include "config/settings.hpp"

#include "config/config.hpp"

#include <fmt/format.h>

#include <array>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace dataflow::config {

namespace {

// The spellings of each enumeration, in the enum's order (the schema's choices, same order; a
// unit test compares them).
constexpr std::array<std::string_view, 3> k_environments{"development", "staging", "production"};
constexpr std::array<std::string_view, 3> k_auth_modes{"none", "token", "jwt"};
constexpr std::array<std::string_view, 3> k_catalog_modes{"upstream", "file", "off"};
constexpr std::array<std::string_view, 6> k_log_levels{"trace", "debug", "info",
                                                       "warn",  "error", "off"};
constexpr std::array<std::string_view, 2> k_log_formats{"text", "json"};
constexpr std::array<std::string_view, 4> k_probe_details{"full", "dataonly", "serieskeysonly",
                                                          "nodata"};
constexpr std::array<std::string_view, 2> k_cache_backends{"memory", "redis"};
constexpr std::array<std::string_view, 3> k_redis_modes{"standalone", "cluster", "sentinel"};
constexpr std::array<std::string_view, 2> k_match_modes{"substring", "word"};

std::span<const std::string_view> names_of(Environment) {
    return k_environments;
}
std::span<const std::string_view> names_of(AuthMode) {
    return k_auth_modes;
}
std::span<const std::string_view> names_of(CatalogMode) {
    return k_catalog_modes;
}
std::span<const std::string_view> names_of(LogLevel) {
    return k_log_levels;
}
std::span<const std::string_view> names_of(LogFormat) {
    return k_log_formats;
}
std::span<const std::string_view> names_of(ProbeDetail) {
    return k_probe_details;
}
std::span<const std::string_view> names_of(CacheBackend) {
    return k_cache_backends;
}
std::span<const std::string_view> names_of(RedisMode) {
    return k_redis_modes;
}
std::span<const std::string_view> names_of(MatchMode) {
    return k_match_modes;
}

template <class E>
std::string_view name_of(E value) {
    auto names = names_of(value);
    auto i = static_cast<std::size_t>(value);
    return i < names.size() ? names[i] : std::string_view("?");
}

/// Reads each key once into its field, checking the key's type against the field's, and
/// remembers which keys it read so that a schema key without a field is caught.
class Reader {
public:
    explicit Reader(const Config& config) : m_config(config), m_read(schema().size(), false) {}

    void operator()(std::string_view name, std::string& out) {
        out = std::get<std::string>(get(name, KeyType::string));
    }
    void operator()(std::string_view name, int& out) {
        out = static_cast<int>(std::get<std::int64_t>(get(name, KeyType::integer)));
    }
    void operator()(std::string_view name, bool& out) {
        out = std::get<bool>(get(name, KeyType::boolean));
    }
    void operator()(std::string_view name, double& out) {
        out = std::get<double>(get(name, KeyType::number));
    }
    void operator()(std::string_view name, Duration& out) {
        out = Duration(std::get<std::int64_t>(get(name, KeyType::duration)));
    }
    void operator()(std::string_view name, std::uint64_t& out) {
        out = static_cast<std::uint64_t>(std::get<std::int64_t>(get(name, KeyType::size)));
    }
    void operator()(std::string_view name, Strings& out) {
        out = std::get<Strings>(get(name, KeyType::list));
    }
    template <class E>
    requires std::is_enum_v<E>
    void operator()(std::string_view name, E& out) {
        const auto& text = std::get<std::string>(get(name, KeyType::enumeration));
        auto names = names_of(out);
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == text) {
                out = static_cast<E>(i);
                return;
            }
        }
        throw std::logic_error(
            fmt::format("settings: {} = \"{}\" is no value of its enum type", name, text));
    }
    void rules(std::string_view name, std::shared_ptr<const analysis::RuleSet>& out) {
        get(name, KeyType::rules);
        out = m_config.rules();
    }

    /// Throws when a schema key was not read into any field.
    void check_every_key_read() const {
        auto keys = schema();
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (!m_read[i]) {
                throw std::logic_error(
                    fmt::format("settings: schema key {} has no settings field", keys[i].name));
            }
        }
    }

private:
    const Value& get(std::string_view name, KeyType type) {
        const KeyDef* key = find_key(name);
        if (key == nullptr || key->type != type) {
            throw std::logic_error(
                fmt::format("settings: {} is {} in the schema, not a {} field", name,
                            key == nullptr ? std::string_view("missing") : type_name(key->type),
                            type_name(type)));
        }
        m_read[key_index(*key)] = true;
        return m_config.value(*key);
    }

    const Config& m_config;
    std::vector<bool> m_read;
};

void read_identity(Reader& r, IdentitySettings& s) {
    r("environment", s.environment);
    r("service_name", s.service_name);
    r("namespace", s.namespace_);
}

void read_server(Reader& r, ServerSettings& s) {
    r("server.host", s.host);
    r("server.port", s.port);
    r("server.metrics_port", s.metrics_port);
    r("server.threads", s.threads);
    r("server.max_threads", s.max_threads);
    r("server.max_concurrent_analyses", s.max_concurrent_analyses);
    r("server.analysis_queue_size", s.analysis_queue_size);
    r("server.analysis_queue_wait", s.analysis_queue_wait);
    r("server.response_cache_size", s.response_cache_size);
    r("server.keep_alive_max_count", s.keep_alive_max_count);
    r("server.keep_alive_timeout", s.keep_alive_timeout);
    r("server.read_timeout", s.read_timeout);
    r("server.write_timeout", s.write_timeout);
    r("server.request_timeout", s.request_timeout);
    r("server.max_body_size", s.max_body_size);
    r("server.max_body_memory", s.max_body_memory);
    r("server.max_header_bytes", s.max_header_bytes);
    r("server.max_headers", s.max_headers);
    r("server.max_connections", s.max_connections);
    r("server.drain_delay", s.drain_delay);
    r("server.shutdown_timeout", s.shutdown_timeout);
}

void read_api_auth_catalog(Reader& r, Settings& s) {
    r("api.file_root", s.api.file_root);
    r("api.admin_enabled", s.api.admin_enabled);
    r("api.cors_origins", s.api.cors_origins);
    r("api.max_probes_per_request", s.api.max_probes_per_request);
    r("auth.mode", s.auth.mode);
    r("auth.tokens", s.auth.tokens);
    r("auth.admin_tokens", s.auth.admin_tokens);
    r("auth.jwt_secret", s.auth.jwt_secret);
    r("auth.jwt_issuer", s.auth.jwt_issuer);
    r("auth.jwt_audience", s.auth.jwt_audience);
    r("catalog.mode", s.catalog.mode);
    r("catalog.file", s.catalog.file);
    r("catalog.refresh_interval", s.catalog.refresh_interval);
    r("catalog.agency_categories", s.catalog.agency_categories);
    r("catalog.history_size", s.catalog.history_size);
    r("catalog.history_max_age", s.catalog.history_max_age);
}

void read_observability(Reader& r, Settings& s) {
    r("log.level", s.log.level);
    r("log.format", s.log.format);
    r("log.slow_request_threshold", s.log.slow_request_threshold);
    r("metrics.enabled", s.metrics.enabled);
    r("tracing.enabled", s.tracing.enabled);
    r("health.redis_check_interval", s.health.redis_check_interval);
    r("health.stall_timeout", s.health.stall_timeout);
    r("reload.enabled", s.reload.enabled);
    r("reload.debounce", s.reload.debounce);
    r("reload.recheck_interval", s.reload.recheck_interval);
}

void read_upstream(Reader& r, UpstreamSettings& s) {
    r("upstream.source", s.source);
    r("upstream.sources_file", s.sources_file);
    r("upstream.base_url", s.base_url);
    r("upstream.agency", s.agency);
    r("upstream.user_agent", s.user_agent);
    r("upstream.ca_file", s.ca_file);
    r("upstream.structure_connect_timeout", s.structure_connect_timeout);
    r("upstream.structure_read_timeout", s.structure_read_timeout);
    r("upstream.structure_deadline", s.structure_deadline);
    r("upstream.data_connect_timeout", s.data_connect_timeout);
    r("upstream.data_read_timeout", s.data_read_timeout);
    r("upstream.data_deadline", s.data_deadline);
    r("upstream.max_response_size", s.max_response_size);
    r("upstream.max_redirects", s.max_redirects);
    r("upstream.retries", s.retries);
    r("upstream.retry_base_delay", s.retry_base_delay);
    r("upstream.retry_max_delay", s.retry_max_delay);
    r("upstream.retry_after_min", s.retry_after_min);
    r("upstream.retry_after_max", s.retry_after_max);
    r("upstream.backoff_default", s.backoff_default);
    r("upstream.rate_limit_per_minute", s.rate_limit_per_minute);
    r("upstream.rate_limit_burst", s.rate_limit_burst);
    r("upstream.replicas", s.replicas);
    r("upstream.host_rate_limits", s.host_rate_limits);
}

void read_probe_breaker(Reader& r, Settings& s) {
    r("probe.last_n_observations", s.probe.last_n_observations);
    r("probe.detail", s.probe.detail);
    r("probe.max_bytes", s.probe.max_bytes);
    r("breaker.enabled", s.breaker.enabled);
    r("breaker.failure_threshold", s.breaker.failure_threshold);
    r("breaker.failure_ratio", s.breaker.failure_ratio);
    r("breaker.minimum_calls", s.breaker.minimum_calls);
    r("breaker.window", s.breaker.window);
    r("breaker.open_duration", s.breaker.open_duration);
    r("breaker.half_open_successes", s.breaker.half_open_successes);
    r("breaker.slow_call_threshold", s.breaker.slow_call_threshold);
}

void read_cache_redis(Reader& r, Settings& s) {
    r("cache.backend", s.cache.backend);
    r("cache.memory_budget", s.cache.memory_budget);
    r("cache.fresh_ttl", s.cache.fresh_ttl);
    r("cache.stale_ttl", s.cache.stale_ttl);
    r("cache.probe_ttl", s.cache.probe_ttl);
    r("cache.negative_ttl", s.cache.negative_ttl);
    r("cache.lock_ttl", s.cache.lock_ttl);
    r("cache.lock_wait", s.cache.lock_wait);
    r("redis.mode", s.redis.mode);
    r("redis.host", s.redis.host);
    r("redis.nodes", s.redis.nodes);
    r("redis.sentinels", s.redis.sentinels);
    r("redis.sentinel_master", s.redis.sentinel_master);
    r("redis.sentinel_username", s.redis.sentinel_username);
    r("redis.sentinel_password", s.redis.sentinel_password);
    r("redis.port", s.redis.port);
    r("redis.db", s.redis.db);
    r("redis.username", s.redis.username);
    r("redis.password", s.redis.password);
    r("redis.connect_timeout", s.redis.connect_timeout);
    r("redis.command_timeout", s.redis.command_timeout);
    r("redis.pool_size", s.redis.pool_size);
    r("redis.key_prefix", s.redis.key_prefix);
}

void read_analysis(Reader& r, AnalysisSettings& s) {
    r("analysis.languages", s.languages);
    r("analysis.match", s.match);
    r("analysis.limit", s.limit);
    r("analysis.min_score", s.min_score);
    r("analysis.max_input_size", s.max_input_size);
    r("analysis.rules_file", s.rules_file);
    r.rules("analysis.rules", s.rules);
}

} // namespace

std::string_view to_string(Environment value) {
    return name_of(value);
}
std::string_view to_string(AuthMode value) {
    return name_of(value);
}
std::string_view to_string(CatalogMode value) {
    return name_of(value);
}
std::string_view to_string(LogLevel value) {
    return name_of(value);
}
std::string_view to_string(LogFormat value) {
    return name_of(value);
}
std::string_view to_string(ProbeDetail value) {
    return name_of(value);
}
std::string_view to_string(CacheBackend value) {
    return name_of(value);
}
std::string_view to_string(RedisMode value) {
    return name_of(value);
}
std::string_view to_string(MatchMode value) {
    return name_of(value);
}

Settings build_settings(const Config& config) {
    Settings s;
    s.sources = config.sources();
    Reader r(config);
    read_identity(r, s.identity);
    read_server(r, s.server);
    read_api_auth_catalog(r, s);
    read_observability(r, s);
    read_upstream(r, s.upstream);
    read_probe_breaker(r, s);
    read_cache_redis(r, s);
    read_analysis(r, s.analysis);
    r.check_every_key_read();
    return s;
}

} // namespace dataflow::config

#pragma once
/// Typed settings: every schema key as a field of its area's struct, built once per configuration
/// snapshot (Config::finish) so code reads `config.settings().server.port` instead of looking a
/// key up by its string. A field is named after the key's last component (server.port ->
/// settings.server.port); the top-level keys live in `identity`. Durations are milliseconds,
/// sizes bytes, enumerations enum classes (to_string gives the schema's spelling). A default
/// Config's settings hold the schema defaults: the structs carry no defaults of their own.

#include "config/sources.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {
class RuleSet;
}

namespace dataflow::config {

class Config;

enum class Environment { development, staging, production };
enum class AuthMode { none, token, jwt };
enum class CatalogMode { upstream, file, off };
enum class LogLevel { trace, debug, info, warn, error, off };
enum class LogFormat { text, json };
enum class ProbeDetail { full, dataonly, serieskeysonly, nodata };
enum class CacheBackend { memory, redis };
enum class RedisMode { standalone, cluster, sentinel };
enum class MatchMode { substring, word };

/// The schema's spelling of each value ("production", "jwt", "serieskeysonly", ...).
std::string_view to_string(Environment value);
std::string_view to_string(AuthMode value);
std::string_view to_string(CatalogMode value);
std::string_view to_string(LogLevel value);
std::string_view to_string(LogFormat value);
std::string_view to_string(ProbeDetail value);
std::string_view to_string(CacheBackend value);
std::string_view to_string(RedisMode value);
std::string_view to_string(MatchMode value);

using Duration = std::chrono::milliseconds;
using Strings = std::vector<std::string>;

/// The top-level keys: environment, service_name, namespace.
struct IdentitySettings {
    Environment environment{};
    std::string service_name;
    std::string namespace_; ///< the key `namespace` (a C++ keyword)
};

struct ServerSettings {
    std::string host;
    int port = 0;
    int metrics_port = 0;
    int threads = 0;
    int max_threads = 0;
    int max_concurrent_analyses = 0;
    int analysis_queue_size = 0;
    Duration analysis_queue_wait{};
    std::uint64_t response_cache_size = 0;
    int keep_alive_max_count = 0;
    Duration keep_alive_timeout{};
    Duration read_timeout{};
    Duration write_timeout{};
    Duration request_timeout{};
    std::uint64_t max_body_size = 0;
    std::uint64_t max_body_memory = 0;
    std::uint64_t max_header_bytes = 0;
    int max_headers = 0;
    int max_connections = 0;
    Duration drain_delay{};
    Duration shutdown_timeout{};
};

struct ApiSettings {
    std::string file_root;
    bool admin_enabled = false;
    Strings cors_origins;
    int max_probes_per_request = 0;
};

/// Secrets (tokens, jwt_secret) are plain strings: never log or print them.
struct AuthSettings {
    AuthMode mode{};
    Strings tokens;       ///< scope read
    Strings admin_tokens; ///< scopes read, write, admin
    std::string jwt_secret;
    std::string jwt_issuer;
    std::string jwt_audience;
};

struct CatalogSettings {
    CatalogMode mode{};
    std::string file;
    Duration refresh_interval{};
    bool agency_categories = false;
    int history_size = 0;
    Duration history_max_age{};
};

struct LogSettings {
    LogLevel level{};
    LogFormat format{};
    Duration slow_request_threshold{};
};

struct MetricsSettings {
    bool enabled = false;
};

struct TracingSettings {
    bool enabled = false;
};

struct UpstreamSettings {
    std::string source;       ///< an id of the registry (Settings::sources)
    std::string sources_file; ///< loaded into the registry by the loader
    /// Replaces the source's endpoint when set ("" unless set); upstream::configured_source()
    /// resolves the two.
    std::string base_url;
    std::string agency; ///< replaces the source's catalogue agency when set
    std::string user_agent;
    std::string ca_file;
    Duration structure_connect_timeout{};
    Duration structure_read_timeout{};
    Duration structure_deadline{};
    Duration data_connect_timeout{};
    Duration data_read_timeout{};
    Duration data_deadline{};
    std::uint64_t max_response_size = 0;
    int max_redirects = 0;
    int retries = 0;
    Duration retry_base_delay{};
    Duration retry_max_delay{};
    Duration retry_after_min{};
    Duration retry_after_max{};
    Duration backoff_default{};
    double rate_limit_per_minute = 0;
    int rate_limit_burst = 0;
    int replicas = 0;
    Strings host_rate_limits; ///< host=PER_MINUTE[/BURST], checked by the schema
};

struct ProbeSettings {
    int last_n_observations = 0;
    ProbeDetail detail{};
    std::uint64_t max_bytes = 0;
};

struct BreakerSettings {
    bool enabled = false;
    int failure_threshold = 0;
    double failure_ratio = 0;
    int minimum_calls = 0;
    Duration window{};
    Duration open_duration{};
    int half_open_successes = 0;
    Duration slow_call_threshold{};
};

struct CacheSettings {
    CacheBackend backend{};
    std::uint64_t memory_budget = 0;
    Duration fresh_ttl{};
    Duration stale_ttl{};
    Duration probe_ttl{};
    Duration negative_ttl{};
    Duration lock_ttl{};
    Duration lock_wait{};
};

/// password is a secret: never log or print it.
struct RedisSettings {
    RedisMode mode{};
    std::string host;
    int port = 0;
    Strings nodes;     ///< host:port
    Strings sentinels; ///< host:port
    std::string sentinel_master;
    std::string sentinel_username;
    std::string sentinel_password;
    int db = 0;
    std::string username;
    std::string password;
    Duration connect_timeout{};
    Duration command_timeout{};
    int pool_size = 0;
    std::string key_prefix;
};

struct AnalysisSettings {
    Strings languages;
    MatchMode match{};
    int limit = 0;
    int min_score = 0;
    std::uint64_t max_input_size = 0;
    std::string rules_file;
    /// The key analysis.rules: inline rules, rules_file's, or the built-in ones (Config::rules).
    std::shared_ptr<const analysis::RuleSet> rules;
};

struct HealthSettings {
    Duration redis_check_interval{};
    Duration stall_timeout{};
};

struct ReloadSettings {
    bool enabled = false;
    Duration debounce{};
    Duration recheck_interval{};
};

struct Settings {
    /// The source registry (Config::sources()): built-in, extended by upstream.sources_file.
    std::shared_ptr<const SourceRegistry> sources;
    IdentitySettings identity;
    ServerSettings server;
    ApiSettings api;
    AuthSettings auth;
    CatalogSettings catalog;
    LogSettings log;
    MetricsSettings metrics;
    TracingSettings tracing;
    UpstreamSettings upstream;
    ProbeSettings probe;
    BreakerSettings breaker;
    CacheSettings cache;
    RedisSettings redis;
    AnalysisSettings analysis;
    HealthSettings health;
    ReloadSettings reload;
};

/// Every key's value of `config` as typed settings. Throws std::logic_error when the schema has
/// a key no field takes, or an enumeration value the enum lacks (a bug, caught by any test).
Settings build_settings(const Config& config);

} // namespace dataflow::config

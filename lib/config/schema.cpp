#include "config/schema.hpp"

#include "redis/client.hpp"
#include "resilience/rate_limiter.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"
#include "util/url.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <unordered_map>

namespace dataflow::config {

namespace {

constexpr double ms = 1;
constexpr double sec = 1000;
constexpr double minute = 60 * sec;
constexpr double hour = 60 * minute;
constexpr double day = 24 * hour;
constexpr double KiB = 1024;
constexpr double MiB = 1024 * KiB;
constexpr double GiB = 1024 * MiB;

using T = KeyType;

// Designated initializers leave the other members at their defaults; GCC 12 still warns.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// clang-format off
const KeyDef k_schema[] = {
    // ---- service identity
    {.name = "environment", .type = T::enumeration, .default_text = "development",
     .choices = "development|staging|production;dev=development|prod=production",
     .description = "Deployment profile; production turns risky settings into errors"},
    {.name = "service_name", .type = T::string, .default_text = "dataflow-analyzer",
     .check = Check::no_newline,
     .description = "Name reported in logs, metrics and status output"},
    {.name = "namespace", .type = T::string, .default_text = "default", .check = Check::no_newline,
     .description = "Kubernetes namespace, reported in status output"},

    // ---- HTTP server (dataflow serve)
    {.name = "server.host", .type = T::string, .default_text = "0.0.0.0", .check = Check::host,
     .description = "Address the API listens on"},
    {.name = "server.port", .type = T::integer, .default_text = "8000", .min = 0, .max = 65535,
     .description = "API port (0: any free port, logged at startup)"},
    {.name = "server.metrics_port", .type = T::integer, .default_text = "8001", .min = 0,
     .max = 65535, .description = "Port of /metrics; 0 serves metrics on the API port"},
    {.name = "server.threads", .type = T::integer, .default_text = "16", .min = 1, .max = 1024,
     .description = "Worker threads always running (each serves one connection at a time)"},
    {.name = "server.max_threads", .type = T::integer, .default_text = "256", .min = 1,
     .max = 4096,
     .description = "Worker threads at most: the pool grows while every worker is busy (a "
                    "keep-alive connection holds its worker), then connections queue"},
    {.name = "server.max_concurrent_analyses", .type = T::integer, .default_text = "4", .min = 1,
     .max = 1024, .reloadable = true,
     .description = "Analyses running at once; beyond it requests wait in a queue "
                    "(server.analysis_queue_size, server.analysis_queue_wait)"},
    {.name = "server.analysis_queue_size", .type = T::integer, .default_text = "64", .min = 0,
     .max = 4096, .reloadable = true,
     .description = "Analyses waiting at most for one of server.max_concurrent_analyses, in "
                    "order of arrival; beyond it requests get 503 with Retry-After at once, "
                    "before their body is read"},
    {.name = "server.analysis_queue_wait", .type = T::duration, .default_text = "500ms",
     .min = 0, .max = 30 * sec, .reloadable = true,
     .description = "Longest wait in the analysis queue before 503 with Retry-After (0: no "
                    "queue)"},
    {.name = "server.response_cache_size", .type = T::size, .default_text = "32MiB", .min = 0,
     .max = 4 * GiB, .reloadable = true,
     .description = "Memory for rendered answers of the served catalogue and the change feed "
                    "(each, per replica; 0 keeps none): served with a strong ETag and gzip "
                    "without rendering again until the catalogue or the configuration changes"},
    {.name = "server.keep_alive_max_count", .type = T::integer, .default_text = "100", .min = 1,
     .max = 100000, .description = "Requests served on one keep-alive connection"},
    {.name = "server.keep_alive_timeout", .type = T::duration, .default_text = "5s", .min = 0,
     .max = 5 * minute, .description = "Idle time before a keep-alive connection is closed"},
    {.name = "server.read_timeout", .type = T::duration, .default_text = "30s", .min = 100 * ms,
     .max = 10 * minute,
     .description = "Longest wait for the next bytes of a request (the whole request has "
                    "server.request_timeout)"},
    {.name = "server.write_timeout", .type = T::duration, .default_text = "30s", .min = 100 * ms,
     .max = 10 * minute, .description = "Time allowed to send a response"},
    {.name = "server.request_timeout", .type = T::duration, .default_text = "60s", .min = 100 * ms,
     .max = 1 * hour, .reloadable = true,
     .description = "Time allowed to receive a whole request, head and body (408 beyond it); "
                    "server.read_timeout bounds each wait within it"},
    {.name = "server.max_body_size", .type = T::size, .default_text = "64MiB", .min = 1 * KiB,
     .max = 1 * GiB,
     .description = "Largest request body accepted, with or without Content-Length, counted "
                    "after decompression (413 beyond it, and the connection is closed)"},
    {.name = "server.max_body_memory", .type = T::size, .default_text = "64MiB", .min = 1 * KiB,
     .max = 16 * GiB, .reloadable = true,
     .description = "Request bodies held in memory at once, all requests together; a body "
                    "that would go beyond it gets 503 busy with Retry-After (at least "
                    "server.max_body_size)"},
    {.name = "server.max_header_bytes", .type = T::size, .default_text = "32KiB", .min = 1 * KiB,
     .max = 1 * MiB,
     .description = "Largest request head: request line and headers (431 beyond it)"},
    {.name = "server.max_headers", .type = T::integer, .default_text = "100", .min = 1,
     .max = 10000, .description = "Header lines in a request at most (431 beyond it)"},
    {.name = "server.max_connections", .type = T::integer, .default_text = "512", .min = 1,
     .max = 100000,
     .description = "Open connections per listener at most, served or waiting for a worker; "
                    "beyond it a new connection gets 503 at once, unread"},
    {.name = "server.drain_delay", .type = T::duration, .default_text = "5s", .min = 0,
     .max = 5 * minute, .reloadable = true,
     .description = "After SIGTERM: time readiness reports 503 before the listener closes"},
    {.name = "server.shutdown_timeout", .type = T::duration, .default_text = "20s", .min = 0,
     .max = 10 * minute, .reloadable = true,
     .description = "After draining: time in-flight requests get to finish"},

    // ---- API behaviour
    {.name = "api.file_root", .type = T::string, .default_text = "",
     .description = "Directory xml_file_path may read from; empty refuses xml_file_path"},
    {.name = "api.admin_enabled", .type = T::boolean, .default_text = "false", .reloadable = true,
     .description = "Enable admin endpoints (cache flush, reload)"},

    {.name = "api.cors_origins", .type = T::list, .default_text = "", .reloadable = true,
     .check = Check::no_newline,
     .description = "Origins allowed by CORS (empty: CORS off; * allows any)"},
    {.name = "api.max_probes_per_request", .type = T::integer, .default_text = "10", .min = 0,
     .max = 1000, .reloadable = true,
     .description = "include_tests: dataflows whose probe results a request reports or schedules"},

    // ---- authentication
    {.name = "auth.mode", .type = T::enumeration, .default_text = "none",
     .choices = "none|token|jwt", .reloadable = true,
     .description = "none, token (static bearer tokens) or jwt (HS256 bearer JWTs)"},
    {.name = "auth.tokens", .type = T::list, .default_text = "", .secret = true,
     .reloadable = true, .check = Check::no_newline,
     .description = "Bearer tokens with the read scope"},
    {.name = "auth.admin_tokens", .type = T::list, .default_text = "", .secret = true,
     .reloadable = true, .check = Check::no_newline,
     .description = "Bearer tokens with the read, write and admin scopes"},
    {.name = "auth.jwt_secret", .type = T::string, .default_text = "", .secret = true,
     .reloadable = true, .description = "HMAC secret of HS256 bearer JWTs"},
    {.name = "auth.jwt_issuer", .type = T::string, .default_text = "osservatorio-istat",
     .reloadable = true, .check = Check::no_newline,
     .description = "Required iss claim (empty: not checked)"},
    {.name = "auth.jwt_audience", .type = T::string, .default_text = "osservatorio-api",
     .reloadable = true, .check = Check::no_newline,
     .description = "Required aud claim (empty: not checked)"},

    // ---- the served catalogue
    {.name = "catalog.mode", .type = T::enumeration, .default_text = "upstream",
     .choices = "upstream|file|off", .reloadable = false,
     .description = "What /api/v1/dataflows serves: the upstream's catalogue, catalog.file, or nothing"},
    {.name = "catalog.file", .type = T::string, .default_text = "",
     .description = "Local catalogue for catalog.mode = file (the offline default)"},
    {.name = "catalog.refresh_interval", .type = T::duration, .default_text = "6h",
     .min = 1 * minute, .max = 30 * day, .reloadable = true,
     .description = "How often the upstream catalogue is refreshed (one replica at a time)"},
    {.name = "catalog.agency_categories", .type = T::boolean, .default_text = "false",
     .reloadable = true,
     .description = "Also fetch the source's category schemes and categorisations (2 more calls)"},
    {.name = "catalog.history_size", .type = T::integer, .default_text = "100", .min = 1,
     .max = 10000, .reloadable = true,
     .description = "Change sets the change feed keeps (GET /api/v1/changes)"},
    {.name = "catalog.history_max_age", .type = T::duration, .default_text = "90d",
     .min = 1 * hour, .max = 3650 * day, .reloadable = true,
     .description = "Change sets older than this leave the change feed"},

    // ---- logging, metrics, tracing
    {.name = "log.level", .type = T::enumeration, .default_text = "info",
     .choices = "trace|debug|info|warn|error|off;warning=warn|critical=error",
     .reloadable = true, .description = "Log threshold"},
    {.name = "log.format", .type = T::enumeration, .default_text = "text", .choices = "text|json",
     .description = "Log format on stderr: text for people, json lines for collectors"},
    {.name = "log.slow_request_threshold", .type = T::duration, .default_text = "1s", .min = 0,
     .max = 1 * hour, .reloadable = true,
     .description = "Requests slower than this are logged at warn level"},
    {.name = "metrics.enabled", .type = T::boolean, .default_text = "true",
     .description = "Serve Prometheus metrics"},
    {.name = "tracing.enabled", .type = T::boolean, .default_text = "false", .reloadable = true,
     .description = "Log the W3C traceparent trace id of each request"},

    // ---- upstream SDMX REST API
    {.name = "upstream.source", .type = T::string, .default_text = "ISTAT", .reloadable = true,
     .check = Check::sdmx_id,
     .description = "The SDMX source (agency) to read: an id of `dataflow sources`"},
    {.name = "upstream.sources_file", .type = T::string, .default_text = "", .reloadable = true,
     .description = "TOML file of [sources.ID] tables changing or adding sources"},
    {.name = "upstream.base_url", .type = T::string, .default_text = "", .reloadable = true,
     .check = Check::http_url,
     .description = "SDMX REST endpoint; empty uses the source's (wins over it when set)"},
    {.name = "upstream.agency", .type = T::string, .default_text = "", .reloadable = true,
     .check = Check::sdmx_id,
     .description = "Agency whose dataflow catalogue is read; empty uses the source's"},
    {.name = "upstream.user_agent", .type = T::string, .default_text = "dataflow/" DATAFLOW_VERSION,
     .reloadable = true, .check = Check::no_newline, .description = "User-Agent header sent upstream"},
    {.name = "upstream.ca_file", .type = T::string, .default_text = "", .reloadable = true,
     .description = "CA bundle for HTTPS; empty uses the system bundle"},
    {.name = "upstream.structure_connect_timeout", .type = T::duration, .default_text = "10s",
     .min = 100 * ms, .max = 5 * minute, .reloadable = true,
     .description = "Catalogue and structure calls: time to connect"},
    {.name = "upstream.structure_read_timeout", .type = T::duration, .default_text = "60s",
     .min = 100 * ms, .max = 1 * hour, .reloadable = true,
     .description = "Catalogue and structure calls: longest silence while reading"},
    {.name = "upstream.structure_deadline", .type = T::duration, .default_text = "120s",
     .min = 100 * ms, .max = 2 * hour, .reloadable = true,
     .description = "Catalogue and structure calls: total time, waiting and retries included"},
    {.name = "upstream.data_connect_timeout", .type = T::duration, .default_text = "10s",
     .min = 100 * ms, .max = 5 * minute, .reloadable = true,
     .description = "Data calls (probes): time to connect"},
    {.name = "upstream.data_read_timeout", .type = T::duration, .default_text = "120s",
     .min = 100 * ms, .max = 2 * hour, .reloadable = true,
     .description = "Data calls (probes): longest silence while reading"},
    {.name = "upstream.data_deadline", .type = T::duration, .default_text = "180s",
     .min = 100 * ms, .max = 6 * hour, .reloadable = true,
     .description = "Data calls (probes): total time, waiting and retries included"},
    {.name = "upstream.max_response_size", .type = T::size, .default_text = "256MiB",
     .min = 1 * KiB, .max = 4 * GiB, .reloadable = true,
     .description = "Largest catalogue or structure response read (decompressed)"},
    {.name = "upstream.max_redirects", .type = T::integer, .default_text = "3", .min = 0, .max = 10,
     .reloadable = true, .description = "Redirects followed (never from https to http)"},
    {.name = "upstream.retries", .type = T::integer, .default_text = "2", .min = 0, .max = 10,
     .reloadable = true,
     .description = "Retries after a timeout, network error or 5xx (never after a 4xx)"},
    {.name = "upstream.retry_base_delay", .type = T::duration, .default_text = "2s", .min = 1 * ms,
     .max = 10 * minute, .reloadable = true,
     .description = "First retry backoff; doubles per attempt, with full jitter"},
    {.name = "upstream.retry_max_delay", .type = T::duration, .default_text = "60s", .min = 1 * ms,
     .max = 1 * hour, .reloadable = true, .description = "Longest backoff between retries"},
    {.name = "upstream.retry_after_min", .type = T::duration, .default_text = "60s", .min = 0,
     .max = 1 * hour, .reloadable = true,
     .description = "Shortest back-off honoured after a 429 (Retry-After: 0 is not an invitation)"},
    {.name = "upstream.retry_after_max", .type = T::duration, .default_text = "1h", .min = 1 * sec,
     .max = 7 * day, .reloadable = true, .description = "Cap on an upstream Retry-After"},
    {.name = "upstream.backoff_default", .type = T::duration, .default_text = "15m",
     .min = 1 * sec, .max = 7 * day, .reloadable = true,
     .description = "Back-off after a 429 without Retry-After"},
    {.name = "upstream.rate_limit_per_minute", .type = T::number, .default_text = "4", .min = 0.01,
     .max = 6000, .reloadable = true,
     .description = "Requests per minute to a host no source covers (sources have their own)"},
    {.name = "upstream.rate_limit_burst", .type = T::integer, .default_text = "1", .min = 1,
     .max = 100, .reloadable = true,
     .description = "Requests that may be sent back to back to a host no source covers"},
    {.name = "upstream.replicas", .type = T::integer, .default_text = "1", .min = 1, .max = 1000,
     .reloadable = true,
     .description = "Replicas sharing the budget; without Redis each uses budget / replicas"},
    {.name = "upstream.host_rate_limits", .type = T::list, .default_text = "", .reloadable = true,
     .check = Check::host_limits,
     .description = "Per-host limits as host=PER_MINUTE[/BURST], e.g. sdmx.oecd.org=20/5"},

    // ---- data-access probes
    {.name = "probe.last_n_observations", .type = T::integer, .default_text = "0", .min = 0,
     .max = 1000000, .reloadable = true,
     .description = "Probe only the last N observations per series (0 = all the data)"},
    {.name = "probe.detail", .type = T::enumeration, .default_text = "full",
     .choices = "full|dataonly|serieskeysonly|nodata", .reloadable = true,
     .description = "SDMX detail parameter of probe requests (full: not sent)"},
    {.name = "probe.max_bytes", .type = T::size, .default_text = "100MiB", .min = 1 * KiB,
     .max = 64 * GiB, .reloadable = true,
     .description = "Bytes read per probe (decompressed); beyond it the probe stops and says so"},

    // ---- circuit breakers
    {.name = "breaker.enabled", .type = T::boolean, .default_text = "true", .reloadable = true,
     .description = "Circuit breakers in front of the upstream and Redis"},
    {.name = "breaker.failure_threshold", .type = T::integer, .default_text = "5", .min = 1,
     .max = 1000, .reloadable = true, .description = "Consecutive failures that open a breaker"},
    {.name = "breaker.failure_ratio", .type = T::number, .default_text = "0.5", .min = 0.01,
     .max = 1, .reloadable = true,
     .description = "Failure ratio over the window that opens a breaker"},
    {.name = "breaker.minimum_calls", .type = T::integer, .default_text = "10", .min = 1,
     .max = 100000, .reloadable = true,
     .description = "Calls in the window before the ratio counts"},
    {.name = "breaker.window", .type = T::duration, .default_text = "60s", .min = 1 * sec,
     .max = 1 * hour, .reloadable = true, .description = "Sliding window of the failure ratio"},
    {.name = "breaker.open_duration", .type = T::duration, .default_text = "60s", .min = 100 * ms,
     .max = 1 * day, .reloadable = true,
     .description = "Time an open breaker waits before one trial call (half-open)"},
    {.name = "breaker.half_open_successes", .type = T::integer, .default_text = "1", .min = 1,
     .max = 100, .reloadable = true,
     .description = "Successful trial calls (one at a time) that close a half-open breaker"},
    {.name = "breaker.slow_call_threshold", .type = T::duration, .default_text = "30s",
     .min = 1 * ms, .max = 1 * hour, .reloadable = true,
     .description = "Calls slower than this count as failures"},

    // ---- cache
    {.name = "cache.backend", .type = T::enumeration, .default_text = "memory",
     .choices = "memory|redis", .description = "memory (one process) or redis (shared by replicas)"},
    {.name = "cache.memory_budget", .type = T::size, .default_text = "64MiB", .min = 0,
     .max = 64 * GiB, .description = "Bytes the in-memory cache (or near cache) may hold"},
    {.name = "cache.fresh_ttl", .type = T::duration, .default_text = "1h", .min = 1 * sec,
     .max = 30 * day, .reloadable = true,
     .description = "Age until which a catalogue or analysis is served as fresh"},
    {.name = "cache.stale_ttl", .type = T::duration, .default_text = "7d", .min = 1 * sec,
     .max = 365 * day, .reloadable = true,
     .description = "Age until which a stale entry may be served while refreshing or on error"},
    {.name = "cache.probe_ttl", .type = T::duration, .default_text = "24h", .min = 1 * sec,
     .max = 365 * day, .reloadable = true, .description = "Lifetime of a data-probe result"},
    {.name = "cache.negative_ttl", .type = T::duration, .default_text = "10m", .min = 1 * sec,
     .max = 30 * day, .reloadable = true,
     .description = "Lifetime of a negative result (no data, probe timed out)"},

    {.name = "cache.lock_ttl", .type = T::duration, .default_text = "30s", .min = 100 * ms,
     .max = 1 * hour, .reloadable = true,
     .description = "Lifetime of the lock that lets one replica refresh an entry"},
    {.name = "cache.lock_wait", .type = T::duration, .default_text = "5s", .min = 0,
     .max = 10 * minute, .reloadable = true,
     .description = "How long a replica waits for another's refresh of a missing entry"},

    // ---- Redis
    {.name = "redis.mode", .type = T::enumeration, .default_text = "standalone",
     .choices = "standalone|cluster|sentinel",
     .description = "How Redis runs: one node, a Redis Cluster, or behind Sentinel"},
    {.name = "redis.host", .type = T::string, .default_text = "localhost", .check = Check::host,
     .description = "Redis host (cache.backend = redis); cluster: a seed node"},
    {.name = "redis.port", .type = T::integer, .default_text = "6379", .min = 1, .max = 65535,
     .description = "Redis port"},
    {.name = "redis.nodes", .type = T::list, .default_text = "", .check = Check::endpoints,
     .description = "Cluster: more seed nodes, host:port (redis.host:redis.port is one)"},
    {.name = "redis.sentinels", .type = T::list, .default_text = "", .check = Check::endpoints,
     .description = "Sentinel: the sentinels to ask for the master, host:port (port 26379 "
                    "when left out)"},
    {.name = "redis.sentinel_master", .type = T::string, .default_text = "mymaster",
     .check = Check::no_newline, .description = "Sentinel: the name of the master set"},
    {.name = "redis.sentinel_username", .type = T::string, .default_text = "",
     .check = Check::no_newline,
     .description = "Sentinel: ACL user for the sentinels (the data nodes use redis.username)"},
    {.name = "redis.sentinel_password", .type = T::string, .default_text = "", .secret = true,
     .check = Check::no_newline,
     .description = "Sentinel: password of the sentinels (the data nodes use redis.password)"},
    {.name = "redis.db", .type = T::integer, .default_text = "0", .min = 0, .max = 255,
     .description = "Redis database number"},
    {.name = "redis.username", .type = T::string, .default_text = "", .check = Check::no_newline,
     .description = "Redis ACL user name (Redis 6+); empty uses the default user"},
    {.name = "redis.password", .type = T::string, .default_text = "", .secret = true,
     .check = Check::no_newline,
     .description = "Redis password (from the secrets directory); TLS is the platform's job"},
    {.name = "redis.connect_timeout", .type = T::duration, .default_text = "100ms", .min = 1 * ms,
     .max = 1 * minute, .description = "Time to connect to Redis"},
    {.name = "redis.command_timeout", .type = T::duration, .default_text = "500ms", .min = 1 * ms,
     .max = 1 * minute, .description = "Time for one Redis command"},
    {.name = "redis.pool_size", .type = T::integer, .default_text = "8", .min = 1, .max = 256,
     .description = "Redis connections per process"},
    {.name = "redis.key_prefix", .type = T::string, .default_text = "dataflow",
     .check = Check::no_newline,
     .description = "Prefix of every Redis key, so deployments can share a Redis"},

    // ---- analysis
    {.name = "analysis.languages", .type = T::list, .default_text = "it,en", .reloadable = true,
     .check = Check::language, .description = "Display-name language priority"},
    {.name = "analysis.match", .type = T::enumeration, .default_text = "substring",
     .choices = "substring|word", .reloadable = true,
     .description = "Keyword matching: substring (reference) or word (word start)"},
    {.name = "analysis.limit", .type = T::integer, .default_text = "100", .min = 0,
     .max = 10000000, .reloadable = true,
     .description = "Dataflows in a report, shared across categories (0 = all)"},
    {.name = "analysis.min_score", .type = T::integer, .default_text = "0", .min = -1000000000,
     .max = 1000000000, .reloadable = true,
     .description = "Relevance score a dataflow needs; 0 or less keeps every dataflow"},
    {.name = "analysis.max_input_size", .type = T::size, .default_text = "256MiB", .min = 1 * KiB,
     .max = 4 * GiB, .reloadable = true, .description = "Largest catalogue accepted"},
    {.name = "analysis.rules_file", .type = T::string, .default_text = "", .reloadable = true,
     .description = "TOML rule file ([[rules]]) replacing the built-in rules"},
    {.name = "analysis.rules", .type = T::rules, .default_text = "", .reloadable = true,
     .description = "Inline rule set ([[analysis.rules]] tables) replacing the built-in rules"},

    // ---- health checks
    {.name = "health.redis_check_interval", .type = T::duration, .default_text = "5s",
     .min = 100 * ms, .max = 10 * minute, .reloadable = true,
     .description = "How often Redis is pinged for status (never on a probe's path)"},
    {.name = "health.stall_timeout", .type = T::duration, .default_text = "60s", .min = 1 * sec,
     .max = 1 * hour, .reloadable = true,
     .description = "Liveness fails when the request workers make no progress for this long"},

    // ---- configuration reload
    {.name = "reload.enabled", .type = T::boolean, .default_text = "true",
     .description = "Watch the config and secrets directories and SIGHUP"},
    {.name = "reload.debounce", .type = T::duration, .default_text = "500ms", .min = 0,
     .max = 1 * minute, .reloadable = true,
     .description = "Quiet time after a change before reloading"},
    {.name = "reload.recheck_interval", .type = T::duration, .default_text = "30s",
     .min = 1 * sec, .max = 1 * hour, .reloadable = true,
     .description = "Periodic re-check of the directories (inotify fallback)"},
};

const Alias k_aliases[] = {
    {"DATAFLOW_ENABLE_DISTRIBUTED_CACHING", "cache.backend",
     "use DATAFLOW_CACHE_BACKEND=redis|memory", true},
    {"DATAFLOW_ENABLE_METRICS", "metrics.enabled", "use DATAFLOW_METRICS_ENABLED"},
    {"DATAFLOW_ENABLE_CIRCUIT_BREAKER", "breaker.enabled", "use DATAFLOW_BREAKER_ENABLED"},
    {"DATAFLOW_ENABLE_TRACING", "tracing.enabled", "use DATAFLOW_TRACING_ENABLED"},
    {"DATAFLOW_ISTAT_API_BASE_URL", "upstream.base_url", "use DATAFLOW_UPSTREAM_BASE_URL"},
    {"DATAFLOW_JWT_SECRET", "auth.jwt_secret", "use DATAFLOW_AUTH_JWT_SECRET"},
    {"DATAFLOW_OBSERVABILITY_LOG_LEVEL", "log.level", "use DATAFLOW_LOG_LEVEL"},
    {"DATAFLOW_OBSERVABILITY_LOG_FORMAT", "log.format", "use DATAFLOW_LOG_FORMAT"},
    // The reference deployment's Secret file names.
    {"redis_password", "redis.password", "", false, false},
    {"jwt_secret", "auth.jwt_secret", "", false, false},
    {"database_url", "", "dataflow uses no database; the value is ignored"},
    {"DATAFLOW_DATABASE_URL", "", "dataflow uses no database; the value is ignored"},
};
// clang-format on
#pragma GCC diagnostic pop

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    while (true) {
        auto p = s.find(sep);
        out.push_back(s.substr(0, p));
        if (p == std::string_view::npos) {
            break;
        }
        s.remove_prefix(p + 1);
    }
    return out;
}

/// Allowed values and aliases of an enumeration key.
struct Choices {
    std::vector<std::string_view> values;
    std::vector<std::pair<std::string_view, std::string_view>> aliases;
};

Choices choices_of(const KeyDef& key) {
    Choices c;
    auto semi = key.choices.find(';');
    for (auto v : split(key.choices.substr(0, semi), '|')) {
        c.values.push_back(v);
    }
    if (semi != std::string_view::npos) {
        for (auto a : split(key.choices.substr(semi + 1), '|')) {
            auto eq = a.find('=');
            c.aliases.emplace_back(a.substr(0, eq), a.substr(eq + 1));
        }
    }
    return c;
}

bool is_host(std::string_view s) {
    if (s.empty() || s.size() > 253) {
        return false;
    }
    if (s.front() == '[' && s.back() == ']') {
        s = s.substr(1, s.size() - 2);
        return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        });
    }
    if (s.find(':') != std::string_view::npos) { // bare IPv6
        return std::all_of(s.begin(), s.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        });
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    });
}

std::string check_url(std::string_view s) {
    return util::parse_url(s, false).error;
}

bool is_language_tag(std::string_view s) {
    return !s.empty() && s.size() <= 35 && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
    });
}

std::string format_number(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        return fmt::format("{}", static_cast<long long>(v));
    }
    return fmt::format("{}", v);
}

const std::unordered_map<std::string_view, std::size_t>& name_index() {
    static const auto index = [] {
        std::unordered_map<std::string_view, std::size_t> m;
        for (std::size_t i = 0; i < std::size(k_schema); ++i) {
            m.emplace(k_schema[i].name, i);
        }
        return m;
    }();
    return index;
}

const std::unordered_map<std::string, std::size_t>& env_index() {
    static const auto index = [] {
        std::unordered_map<std::string, std::size_t> m;
        for (std::size_t i = 0; i < std::size(k_schema); ++i) {
            m.emplace(env_name(k_schema[i].name), i);
        }
        return m;
    }();
    return index;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = util::ascii_lower(a[i - 1]) == util::ascii_lower(b[j - 1]) ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

} // namespace

std::span<const KeyDef> schema() {
    return k_schema;
}

const KeyDef* find_key(std::string_view name) {
    const auto& index = name_index();
    auto it = index.find(name);
    return it == index.end() ? nullptr : &k_schema[it->second];
}

std::size_t key_index(const KeyDef& key) {
    return static_cast<std::size_t>(&key - k_schema);
}

std::string env_name(std::string_view key) {
    std::string out = "DATAFLOW_";
    for (char c : key) {
        out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

const KeyDef* find_key_by_env(std::string_view env) {
    const auto& index = env_index();
    auto it = index.find(std::string(env));
    return it == index.end() ? nullptr : &k_schema[it->second];
}

std::span<const Alias> aliases() {
    return k_aliases;
}

const Alias* find_alias(std::string_view name) {
    for (const auto& a : k_aliases) {
        if (a.name == name) {
            return &a;
        }
    }
    return nullptr;
}

std::string_view type_name(KeyType type) {
    switch (type) {
    case KeyType::string:
        return "string";
    case KeyType::integer:
        return "integer";
    case KeyType::number:
        return "number";
    case KeyType::boolean:
        return "boolean";
    case KeyType::duration:
        return "duration";
    case KeyType::size:
        return "size";
    case KeyType::enumeration:
        return "enum";
    case KeyType::list:
        return "list";
    case KeyType::rules:
        return "rules";
    }
    return "?";
}

std::string describe_range(const KeyDef& key) {
    if (key.type == KeyType::enumeration) {
        std::string out;
        for (auto v : choices_of(key).values) {
            out += out.empty() ? "" : " | ";
            out += v;
        }
        return out;
    }
    if (!(key.min < key.max)) {
        return {};
    }
    switch (key.type) {
    case KeyType::duration:
        return util::format_duration_ms(static_cast<std::int64_t>(key.min)) + ".." +
               util::format_duration_ms(static_cast<std::int64_t>(key.max));
    case KeyType::size:
        return util::format_size(static_cast<std::uint64_t>(key.min)) + ".." +
               util::format_size(static_cast<std::uint64_t>(key.max));
    default:
        return format_number(key.min) + ".." + format_number(key.max);
    }
}

std::string check_value(const KeyDef& key, const Value& value) {
    auto out_of_range = [&](const std::string& shown) {
        return fmt::format("{} is out of range {}", key.secret ? "the value" : shown,
                           describe_range(key));
    };
    bool ranged = key.min < key.max;
    switch (key.type) {
    case KeyType::integer:
    case KeyType::duration:
    case KeyType::size: {
        auto v = std::get<std::int64_t>(value);
        if (ranged && (static_cast<double>(v) < key.min || static_cast<double>(v) > key.max)) {
            return out_of_range(format_value(key, value));
        }
        return {};
    }
    case KeyType::number: {
        auto v = std::get<double>(value);
        if (!std::isfinite(v)) {
            return "must be a finite number";
        }
        if (ranged && (v < key.min || v > key.max)) {
            return out_of_range(format_value(key, value));
        }
        return {};
    }
    case KeyType::enumeration: {
        const auto& v = std::get<std::string>(value);
        auto c = choices_of(key);
        if (std::find(c.values.begin(), c.values.end(), v) == c.values.end()) {
            return fmt::format("\"{}\" is not one of {}", v, describe_range(key));
        }
        return {};
    }
    case KeyType::string: {
        const auto& v = std::get<std::string>(value);
        if (v.size() > 4096) {
            return "is longer than 4096 bytes";
        }
        if (v.find('\0') != std::string::npos) {
            return "contains a NUL byte";
        }
        if (v.empty()) {
            return {};
        }
        switch (key.check) {
        case Check::http_url: {
            auto why = check_url(v);
            return why.empty() ? why : fmt::format("\"{}\" {}", v, why);
        }
        case Check::sdmx_id:
            return util::is_sdmx_id(v) ? std::string()
                                       : fmt::format("\"{}\" is not an SDMX identifier (letters, "
                                                     "digits, _ @ $ -)",
                                                     v);
        case Check::host:
            return is_host(v) ? std::string()
                              : fmt::format("\"{}\" is not a host name or IP address (no "
                                            "scheme, port or path)",
                                            v);
        case Check::no_newline:
            if (v.find_first_of("\r\n") != std::string::npos) {
                return "must be a single line";
            }
            return {};
        default:
            return {};
        }
    }
    case KeyType::list: {
        const auto& items = std::get<std::vector<std::string>>(value);
        if (items.size() > 1000) {
            return "has more than 1000 items";
        }
        for (const auto& item : items) {
            if (key.check == Check::host_limits) {
                std::map<std::string, resilience::RateLimit> limits;
                auto why = resilience::parse_host_limits({item}, limits);
                if (!why.empty()) {
                    return why;
                }
            }
            if (key.check == Check::endpoints && !redis::parse_endpoint(item, 1)) {
                return fmt::format("\"{}\" is not host:port (an IPv6 address as [addr]:port)",
                                   item);
            }
            if (key.check == Check::language && !is_language_tag(item)) {
                return fmt::format("\"{}\" is not a language tag (e.g. it, en, pt-BR)", item);
            }
            if (item.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
                return "items must be single lines";
            }
        }
        return {};
    }
    case KeyType::boolean:
    case KeyType::rules:
        return {};
    }
    return {};
}

ParseResult parse_value(const KeyDef& key, std::string_view text) {
    ParseResult r;
    auto shown = [&]() -> std::string {
        if (key.secret) {
            return "the value";
        }
        std::string s(text.substr(0, 80));
        for (char& c : s) {
            if (static_cast<unsigned char>(c) < 0x20) {
                c = ' ';
            }
        }
        return fmt::format("\"{}\"{}", s, text.size() > 80 ? "..." : "");
    };
    Value value;
    auto t = util::trim(text);
    switch (key.type) {
    case KeyType::string:
        value = std::string(text);
        break;
    case KeyType::integer: {
        std::int64_t v = 0;
        auto begin = t.data();
        if (!t.empty() && t.front() == '+') {
            ++begin;
        }
        auto [ptr, ec] = std::from_chars(begin, t.data() + t.size(), v);
        if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
            r.error = fmt::format("{} is not an integer", shown());
            return r;
        }
        value = v;
        break;
    }
    case KeyType::number: {
        double v = 0;
        auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (t.empty() || ec != std::errc() || ptr != t.data() + t.size()) {
            r.error = fmt::format("{} is not a number", shown());
            return r;
        }
        value = v;
        break;
    }
    case KeyType::boolean: {
        auto v = util::ascii_lower(t);
        if (v == "true" || v == "yes" || v == "on" || v == "1") {
            value = true;
        } else if (v == "false" || v == "no" || v == "off" || v == "0") {
            value = false;
        } else {
            r.error = fmt::format("{} is not a boolean (true or false)", shown());
            return r;
        }
        break;
    }
    case KeyType::duration: {
        auto v = util::parse_duration_ms(t);
        if (!v) {
            r.error = fmt::format("{} is not a duration (e.g. 500ms, 30s, 5m, 1h; a bare number "
                                  "is seconds)",
                                  shown());
            return r;
        }
        value = *v;
        break;
    }
    case KeyType::size: {
        auto v = util::parse_size(t);
        if (!v) {
            r.error = fmt::format("{} is not a size (e.g. 1048576, 512KiB, 64MiB, 1G)", shown());
            return r;
        }
        if (*v == UINT64_MAX) {
            r.error = fmt::format("{} is too large (at most {})", shown(),
                                  util::format_size(static_cast<std::uint64_t>(key.max)));
            return r;
        }
        value = static_cast<std::int64_t>(*v);
        break;
    }
    case KeyType::enumeration: {
        auto v = util::ascii_lower(t);
        auto c = choices_of(key);
        for (const auto& [from, to] : c.aliases) {
            if (v == from) {
                v = std::string(to);
            }
        }
        value = v;
        break;
    }
    case KeyType::list: {
        std::vector<std::string> items;
        if (!t.empty()) {
            for (auto item : split(t, ',')) {
                item = util::trim(item);
                if (!item.empty()) {
                    items.emplace_back(item);
                }
            }
        }
        value = std::move(items);
        break;
    }
    case KeyType::rules:
        r.error = "can only be set in a TOML file, as [[analysis.rules]] tables";
        return r;
    }
    r.error = check_value(key, value);
    if (r.error.empty()) {
        r.value = std::move(value);
    }
    return r;
}

std::string format_value(const KeyDef& key, const Value& value) {
    switch (key.type) {
    case KeyType::duration:
        return util::format_duration_ms(std::get<std::int64_t>(value));
    case KeyType::size:
        return util::format_size(static_cast<std::uint64_t>(std::get<std::int64_t>(value)));
    case KeyType::integer:
        return std::to_string(std::get<std::int64_t>(value));
    case KeyType::number:
        return format_number(std::get<double>(value));
    case KeyType::boolean:
        return std::get<bool>(value) ? "true" : "false";
    case KeyType::list: {
        std::string out;
        for (const auto& item : std::get<std::vector<std::string>>(value)) {
            out += out.empty() ? "" : ",";
            out += item;
        }
        return out;
    }
    case KeyType::rules:
        return {};
    default:
        return std::get<std::string>(value);
    }
}

std::string closest(std::string_view name, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = SIZE_MAX;
    for (const auto& c : candidates) {
        auto d = edit_distance(name, c);
        // A candidate that extends the name ("cache.ttl" -> "cache.fresh_ttl") is also close.
        bool contains = name.size() >= 4 &&
                        util::ascii_lower(c).find(util::ascii_lower(name)) != std::string::npos;
        if (contains) {
            d = std::min(d, std::size_t{2});
        }
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    std::size_t allowed = std::max<std::size_t>(2, name.size() / 3);
    return best_distance <= allowed ? best : std::string();
}

bool is_loader_variable(std::string_view env) {
    return env == "DATAFLOW_CONFIG" || env == "DATAFLOW_CONFIG_DIR" ||
           env == "DATAFLOW_SECRETS_DIR";
}

bool is_kubernetes_service_variable(std::string_view env, std::string_view value) {
    // <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT[_<NAME>], <SVC>_PORT=tcp://..,
    // <SVC>_PORT_<N>_<PROTO>[_ADDR|_PORT|_PROTO]
    auto ends_with = [&](std::string_view suffix) {
        return env.size() > suffix.size() && env.substr(env.size() - suffix.size()) == suffix;
    };
    if (ends_with("_SERVICE_HOST") || ends_with("_SERVICE_PORT")) {
        return true;
    }
    if (env.find("_SERVICE_PORT_") != std::string_view::npos) {
        return true;
    }
    auto p = env.find("_PORT_");
    while (p != std::string_view::npos) {
        auto rest = env.substr(p + 6);
        std::size_t digits = 0;
        while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) {
            ++digits;
        }
        if (digits > 0 && rest.size() > digits && rest[digits] == '_') {
            auto proto = rest.substr(digits + 1, 4);
            if (proto.substr(0, 3) == "TCP" || proto.substr(0, 3) == "UDP" || proto == "SCTP") {
                return true;
            }
        }
        p = env.find("_PORT_", p + 1);
    }
    if (ends_with("_PORT")) {
        return value.substr(0, 6) == "tcp://" || value.substr(0, 6) == "udp://" ||
               value.substr(0, 7) == "sctp://";
    }
    return false;
}

} // namespace dataflow::config

// Typed settings (config/settings.hpp): every schema key maps to one field, built once per
// snapshot; and every reloadable key, changed through a reload, reaches the code that reads it
// (the snapshot's settings for per-request reads; the running Upstream, breakers, limiter, log
// level and cache policies for what is re-applied to long-lived objects).

#include "analysis/rules.hpp"
#include "cache/memory_cache.hpp"
#include "cache/setup.hpp"
#include "config/loader.hpp"
#include "config/reload.hpp"
#include "service/auth.hpp"
#include "service/service.hpp"
#include "support/support.hpp"
#include "upstream/setup.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace dataflow;
using namespace std::chrono_literals;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

config::Value as_value(const std::string& v) {
    return v;
}
config::Value as_value(int v) {
    return std::int64_t{v};
}
config::Value as_value(bool v) {
    return v;
}
config::Value as_value(double v) {
    return v;
}
config::Value as_value(std::chrono::milliseconds v) {
    return std::int64_t{v.count()};
}
config::Value as_value(std::uint64_t v) {
    return static_cast<std::int64_t>(v);
}
config::Value as_value(const std::vector<std::string>& v) {
    return v;
}
template <class E>
requires std::is_enum_v<E> config::Value as_value(E v) {
    return std::string(config::to_string(v));
}
config::Value as_value(const std::shared_ptr<const analysis::RuleSet>& rules) {
    return rules ? rules->fingerprint() : std::string();
}

/// A key, the field that holds it, and (for a reloadable key) a valid value other than the
/// default that a reload switches to; "" for a restart-only key. The rule keys take paths and
/// TOML, filled in by the test.
struct Field {
    std::string key;
    std::function<config::Value(const config::Settings&)> read;
    std::string reload_to;
};

#define FIELD(key, member, reload_to)                                                              \
    Field {                                                                                        \
        key, [](const config::Settings& s) { return as_value(s.member); }, reload_to               \
    }

/// In reload order: a key a later one needs valid comes first (auth.jwt_secret before
/// auth.mode = jwt, cache.fresh_ttl before a shorter stale_ttl could be checked against it).
std::vector<Field> fields() {
    return {
        FIELD("environment", identity.environment, ""),
        FIELD("service_name", identity.service_name, ""),
        FIELD("namespace", identity.namespace_, ""),
        FIELD("server.host", server.host, ""),
        FIELD("server.port", server.port, ""),
        FIELD("server.metrics_port", server.metrics_port, ""),
        FIELD("server.threads", server.threads, ""),
        FIELD("server.max_threads", server.max_threads, ""),
        FIELD("server.max_concurrent_analyses", server.max_concurrent_analyses, "7"),
        FIELD("server.analysis_queue_size", server.analysis_queue_size, "9"),
        FIELD("server.analysis_queue_wait", server.analysis_queue_wait, "250ms"),
        FIELD("server.response_cache_size", server.response_cache_size, "8MiB"),
        FIELD("server.keep_alive_max_count", server.keep_alive_max_count, ""),
        FIELD("server.keep_alive_timeout", server.keep_alive_timeout, ""),
        FIELD("server.read_timeout", server.read_timeout, ""),
        FIELD("server.write_timeout", server.write_timeout, ""),
        FIELD("server.request_timeout", server.request_timeout, "90s"),
        FIELD("server.max_body_size", server.max_body_size, ""),
        FIELD("server.max_body_memory", server.max_body_memory, "96MiB"),
        FIELD("server.max_header_bytes", server.max_header_bytes, ""),
        FIELD("server.max_headers", server.max_headers, ""),
        FIELD("server.max_connections", server.max_connections, ""),
        FIELD("server.drain_delay", server.drain_delay, "2s"),
        FIELD("server.shutdown_timeout", server.shutdown_timeout, "45s"),
        FIELD("api.file_root", api.file_root, ""),
        FIELD("api.admin_enabled", api.admin_enabled, "true"),
        FIELD("api.cors_origins", api.cors_origins, "https://a.example,https://b.example"),
        FIELD("api.max_probes_per_request", api.max_probes_per_request, "3"),
        FIELD("auth.tokens", auth.tokens, "read-token-0123456789abcdef"),
        FIELD("auth.admin_tokens", auth.admin_tokens, "admin-token-0123456789abcdef"),
        FIELD("auth.jwt_secret", auth.jwt_secret, "jwt-secret-0123456789abcdef0123456789"),
        FIELD("auth.jwt_issuer", auth.jwt_issuer, "issuer.example"),
        FIELD("auth.jwt_audience", auth.jwt_audience, "audience.example"),
        FIELD("auth.mode", auth.mode, "jwt"),
        FIELD("catalog.mode", catalog.mode, ""),
        FIELD("catalog.file", catalog.file, ""),
        FIELD("catalog.refresh_interval", catalog.refresh_interval, "2h"),
        FIELD("catalog.agency_categories", catalog.agency_categories, "true"),
        FIELD("catalog.history_size", catalog.history_size, "20"),
        FIELD("catalog.history_max_age", catalog.history_max_age, "30d"),
        FIELD("log.level", log.level, "error"),
        FIELD("log.format", log.format, ""),
        FIELD("log.slow_request_threshold", log.slow_request_threshold, "250ms"),
        FIELD("metrics.enabled", metrics.enabled, ""),
        FIELD("tracing.enabled", tracing.enabled, "true"),
        FIELD("upstream.source", upstream.source, "ECB"),
        FIELD("upstream.sources_file", upstream.sources_file, "@sources_file"),
        FIELD("upstream.base_url", upstream.base_url, "https://sdmx.example.org/rest"),
        FIELD("upstream.agency", upstream.agency, "ESTAT"),
        FIELD("upstream.user_agent", upstream.user_agent, "reloaded-agent/2"),
        FIELD("upstream.ca_file", upstream.ca_file, "@ca_file"),
        FIELD("upstream.structure_connect_timeout", upstream.structure_connect_timeout, "5s"),
        FIELD("upstream.structure_read_timeout", upstream.structure_read_timeout, "30s"),
        FIELD("upstream.structure_deadline", upstream.structure_deadline, "100s"),
        FIELD("upstream.data_connect_timeout", upstream.data_connect_timeout, "6s"),
        FIELD("upstream.data_read_timeout", upstream.data_read_timeout, "90s"),
        FIELD("upstream.data_deadline", upstream.data_deadline, "150s"),
        FIELD("upstream.max_response_size", upstream.max_response_size, "128MiB"),
        FIELD("upstream.max_redirects", upstream.max_redirects, "5"),
        FIELD("upstream.retries", upstream.retries, "4"),
        FIELD("upstream.retry_base_delay", upstream.retry_base_delay, "3s"),
        FIELD("upstream.retry_max_delay", upstream.retry_max_delay, "40s"),
        FIELD("upstream.retry_after_min", upstream.retry_after_min, "30s"),
        FIELD("upstream.retry_after_max", upstream.retry_after_max, "2h"),
        FIELD("upstream.backoff_default", upstream.backoff_default, "20m"),
        FIELD("upstream.rate_limit_per_minute", upstream.rate_limit_per_minute, "30"),
        FIELD("upstream.rate_limit_burst", upstream.rate_limit_burst, "3"),
        FIELD("upstream.replicas", upstream.replicas, "4"),
        FIELD("upstream.host_rate_limits", upstream.host_rate_limits, "sdmx.oecd.org=20/5"),
        FIELD("probe.last_n_observations", probe.last_n_observations, "12"),
        FIELD("probe.detail", probe.detail, "serieskeysonly"),
        FIELD("probe.max_bytes", probe.max_bytes, "10MiB"),
        FIELD("breaker.enabled", breaker.enabled, "false"),
        FIELD("breaker.failure_threshold", breaker.failure_threshold, "2"),
        FIELD("breaker.failure_ratio", breaker.failure_ratio, "0.25"),
        FIELD("breaker.minimum_calls", breaker.minimum_calls, "20"),
        FIELD("breaker.window", breaker.window, "2m"),
        FIELD("breaker.open_duration", breaker.open_duration, "90s"),
        FIELD("breaker.half_open_successes", breaker.half_open_successes, "3"),
        FIELD("breaker.slow_call_threshold", breaker.slow_call_threshold, "10s"),
        FIELD("cache.backend", cache.backend, ""),
        FIELD("cache.memory_budget", cache.memory_budget, ""),
        FIELD("cache.fresh_ttl", cache.fresh_ttl, "2h"),
        FIELD("cache.stale_ttl", cache.stale_ttl, "3d"),
        FIELD("cache.probe_ttl", cache.probe_ttl, "12h"),
        FIELD("cache.negative_ttl", cache.negative_ttl, "5m"),
        FIELD("cache.lock_ttl", cache.lock_ttl, "20s"),
        FIELD("cache.lock_wait", cache.lock_wait, "2s"),
        FIELD("redis.mode", redis.mode, ""),
        FIELD("redis.host", redis.host, ""),
        FIELD("redis.nodes", redis.nodes, ""),
        FIELD("redis.sentinels", redis.sentinels, ""),
        FIELD("redis.sentinel_master", redis.sentinel_master, ""),
        FIELD("redis.sentinel_username", redis.sentinel_username, ""),
        FIELD("redis.sentinel_password", redis.sentinel_password, ""),
        FIELD("redis.port", redis.port, ""),
        FIELD("redis.db", redis.db, ""),
        FIELD("redis.username", redis.username, ""),
        FIELD("redis.password", redis.password, ""),
        FIELD("redis.connect_timeout", redis.connect_timeout, ""),
        FIELD("redis.command_timeout", redis.command_timeout, ""),
        FIELD("redis.pool_size", redis.pool_size, ""),
        FIELD("redis.key_prefix", redis.key_prefix, ""),
        FIELD("analysis.languages", analysis.languages, "en,it,de"),
        FIELD("analysis.match", analysis.match, "word"),
        FIELD("analysis.limit", analysis.limit, "25"),
        FIELD("analysis.min_score", analysis.min_score, "5"),
        FIELD("analysis.max_input_size", analysis.max_input_size, "32MiB"),
        FIELD("analysis.rules_file", analysis.rules_file, "@rules_file"),
        FIELD("analysis.rules", analysis.rules, "@inline_rules"),
        FIELD("health.redis_check_interval", health.redis_check_interval, "2s"),
        FIELD("health.stall_timeout", health.stall_timeout, "30s"),
        FIELD("reload.enabled", reload.enabled, ""),
        FIELD("reload.debounce", reload.debounce, "1s"),
        FIELD("reload.recheck_interval", reload.recheck_interval, "10s"),
    };
}

#undef FIELD

/// Options that read nothing from this machine, and a config directory that a test writes
/// one file per key into (as a mounted ConfigMap).
struct Fixture {
    TempDir dir;
    util::ManualClock clock;
    config::LoadOptions options;

    Fixture() {
        options.default_config_dir.clear();
        options.default_secrets_dir.clear();
        options.config_dir = config_dir().string();
        fs::create_directories(config_dir());
    }
    fs::path config_dir() const { return dir.path() / "config"; }
    void set(const std::string& key, const std::string& value) const {
        test::write_file(config_dir() / key, value + "\n");
    }
    void unset(const std::string& key) const { fs::remove(config_dir() / key); }
    config::LoadResult load() const { return config::load(options); }
};

std::string findings_of(const config::LoadResult& r) {
    std::string out;
    for (const auto& f : r.findings) {
        out += f.text() + "\n";
    }
    return out;
}

std::string bearer(const std::string& token) {
    return "Bearer " + token;
}

/// A signed HS256 token with the given issuer and audience, valid at k_now.
constexpr std::int64_t k_now = 1'800'000'000;
std::string make_jwt(const std::string& secret, const std::string& iss, const std::string& aud) {
    auto head = service::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
    auto body = service::base64url_encode(R"({"sub":"analyst","iss":")" + iss + R"(","aud":")" +
                                          aud + R"(","exp":)" + std::to_string(k_now + 3600) + "}");
    auto input = head + "." + body;
    return input + "." + service::hs256_sign(secret, input);
}

/// Restores spdlog's level after a test that lets the service change it.
struct KeepLogLevel {
    spdlog::level::level_enum level = spdlog::get_level();
    ~KeepLogLevel() { spdlog::set_level(level); }
};

} // namespace

TEST_SUITE("settings") {
    TEST_CASE("settings: every schema key has exactly one field in the test table") {
        const auto rows = fields();
        std::set<std::string> table;
        for (const auto& f : rows) {
            CHECK_MESSAGE(table.insert(f.key).second, f.key << " is listed twice");
            CHECK_MESSAGE(config::find_key(f.key) != nullptr, f.key << " is not in the schema");
        }
        for (const auto& key : config::schema()) {
            CHECK_MESSAGE(table.count(std::string(key.name)) == 1,
                          key.name << " has no row in fields(): add its settings field");
            // A reloadable key has a new value to reload to; a restart-only one none.
            auto it = std::find_if(rows.begin(), rows.end(),
                                   [&](const Field& f) { return f.key == key.name; });
            if (it != rows.end()) {
                CHECK_MESSAGE(it->reload_to.empty() != key.reloadable,
                              key.name << ": reload_to must be set exactly for reloadable keys");
            }
        }
    }

    TEST_CASE("settings: a default configuration's fields hold every schema default") {
        config::Config defaults;
        const auto& s = defaults.settings();
        for (const auto& f : fields()) {
            CAPTURE(f.key);
            const auto* key = config::find_key(f.key);
            REQUIRE(key != nullptr);
            if (key->type == config::KeyType::rules) {
                CHECK(f.read(s) == config::Value(defaults.rules()->fingerprint()));
            } else {
                CHECK(f.read(s) == defaults.value(*key));
            }
        }
        // Spot checks of the types the fields carry.
        CHECK(s.catalog.refresh_interval == 6h);
        CHECK(s.server.max_body_size == 64ULL << 20);
        CHECK(s.auth.mode == config::AuthMode::none);
        CHECK(s.identity.namespace_ == "default");
        CHECK(s.analysis.languages == std::vector<std::string>{"it", "en"});
    }

    TEST_CASE("settings: each enum's to_string names are the schema's choices, in order") {
        auto names = [](auto first, auto last) {
            std::string out;
            for (int i = static_cast<int>(first); i <= static_cast<int>(last); ++i) {
                out += out.empty() ? "" : " | ";
                out += config::to_string(static_cast<decltype(first)>(i));
            }
            return out;
        };
        auto range = [](const char* key) { return config::describe_range(*config::find_key(key)); };
        CHECK(names(config::Environment::development, config::Environment::production) ==
              range("environment"));
        CHECK(names(config::AuthMode::none, config::AuthMode::jwt) == range("auth.mode"));
        CHECK(names(config::CatalogMode::upstream, config::CatalogMode::off) ==
              range("catalog.mode"));
        CHECK(names(config::LogLevel::trace, config::LogLevel::off) == range("log.level"));
        CHECK(names(config::LogFormat::text, config::LogFormat::json) == range("log.format"));
        CHECK(names(config::ProbeDetail::full, config::ProbeDetail::nodata) ==
              range("probe.detail"));
        CHECK(names(config::CacheBackend::memory, config::CacheBackend::redis) ==
              range("cache.backend"));
        CHECK(names(config::MatchMode::substring, config::MatchMode::word) ==
              range("analysis.match"));
        CHECK(names(config::RedisMode::standalone, config::RedisMode::sentinel) ==
              range("redis.mode"));
        // Every enumeration key of the schema is one of those above.
        const std::set<std::string_view> typed{"environment",   "auth.mode",      "catalog.mode",
                                               "log.level",     "log.format",     "probe.detail",
                                               "cache.backend", "analysis.match", "redis.mode"};
        for (const auto& key : config::schema()) {
            if (key.type == config::KeyType::enumeration) {
                CHECK_MESSAGE(typed.count(key.name) == 1,
                              key.name << " is an enumeration without an enum type here");
            }
        }
    }

    TEST_CASE("settings: built from the loaded values, aliases resolved (warning=warn, prod)") {
        Fixture f;
        f.set("log.level", "warning");
        f.set("environment", "dev");
        f.set("cache.backend", "redis");
        f.set("redis.host", "redis.example");
        f.set("probe.detail", "nodata");
        auto r = f.load();
        CAPTURE(findings_of(r));
        REQUIRE(r.ok());
        const auto& s = r.config->settings();
        CHECK(s.log.level == config::LogLevel::warn);
        CHECK(config::to_string(s.log.level) == "warn");
        CHECK(s.identity.environment == config::Environment::development);
        CHECK(s.cache.backend == config::CacheBackend::redis);
        CHECK(s.redis.host == "redis.example");
        CHECK(s.probe.detail == config::ProbeDetail::nodata);
        CHECK(upstream::probe_settings(s.probe).detail == "nodata");
    }

    TEST_CASE("reload: every reloadable key's new value reaches the snapshot's settings") {
        Fixture f;
        auto ca_file = f.dir.file("ca.pem", "not really a certificate\n");
        auto sources_file = f.dir.file("sources.toml", "[sources.ISTAT]\nstructure_burst = 2\n");
        auto rules_file = f.dir.file("rules.toml", "[[rules]]\ncategory = \"agricoltura\"\n"
                                                   "priority = 3\nkeywords = [\"agri\"]\n");
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 0ms, 0ms);
        int reloaded = 0;
        for (const auto& field : fields()) {
            if (field.reload_to.empty()) {
                continue;
            }
            CAPTURE(field.key);
            auto before = store.current();
            config::Value expected;
            if (field.reload_to == "@inline_rules") {
                // Inline rules replace rules_file's (both set is an error): drop the file's.
                f.unset("analysis.rules_file");
                test::write_file(f.config_dir() / "rules.toml",
                                 "[[analysis.rules]]\ncategory = \"sport\"\npriority = 2\n"
                                 "keywords = [\"calcio\"]\n");
            } else {
                auto text = field.reload_to == "@ca_file"        ? ca_file
                            : field.reload_to == "@rules_file"   ? rules_file
                            : field.reload_to == "@sources_file" ? sources_file
                                                                 : field.reload_to;
                f.set(field.key, text);
                auto parsed = config::parse_value(*config::find_key(field.key), text);
                REQUIRE(parsed.value);
                expected = *parsed.value;
            }
            auto outcome = reloader.reload();
            CAPTURE(findings_of(f.load()));
            REQUIRE(outcome == config::ReloadOutcome::applied);
            const auto& now = store.current()->settings();
            // The field changed, and to the value written.
            CHECK(field.read(now) != field.read(before->settings()));
            if (field.key == "analysis.rules_file") {
                CHECK(store.current()->rules()->categories().front() == "agricoltura");
                CHECK(field.read(now) == expected);
            } else if (field.key == "analysis.rules") {
                CHECK(store.current()->rules()->categories().front() == "sport");
                CHECK(field.read(now) == as_value(store.current()->rules()));
            } else {
                CHECK(field.read(now) == expected);
            }
            ++reloaded;
        }
        auto reloadable = std::count_if(config::schema().begin(), config::schema().end(),
                                        [](const auto& k) { return k.reloadable; });
        CHECK(reloaded == reloadable);
    }

    TEST_CASE("reload: a restart-only key keeps its running value in the settings") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 0ms, 0ms);
        f.set("server.port", "9999");
        f.set("cache.memory_budget", "1MiB");
        f.set("analysis.limit", "42");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        const auto& s = store.current()->settings();
        CHECK(s.server.port == 8000);
        CHECK(s.cache.memory_budget == 64ULL << 20);
        CHECK(s.analysis.limit == 42);
    }

    TEST_CASE("reload: new auth settings change what authenticate accepts") {
        Fixture f;
        const std::string read_token = "read-token-0123456789abcdef";
        const std::string admin_token = "admin-token-0123456789abcdef";
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 0ms, 0ms);
        auto check = [&](const std::string& header) {
            return service::authenticate(store.current()->settings().auth, header, k_now);
        };
        CHECK(check("").authenticated); // auth.mode = none

        f.set("auth.mode", "token");
        f.set("auth.tokens", read_token);
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK_FALSE(check("").authenticated);
        CHECK(check(bearer(read_token)).scopes == std::set<std::string>{"read"});
        CHECK_FALSE(check(bearer(admin_token)).authenticated);

        f.set("auth.admin_tokens", admin_token);
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(check(bearer(admin_token)).scopes.count("admin") == 1);
        f.set("auth.tokens", "another-read-token-0123456789");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK_FALSE(check(bearer(read_token)).authenticated);

        const std::string secret = "jwt-secret-0123456789abcdef0123456789";
        f.set("auth.jwt_secret", secret);
        f.set("auth.mode", "jwt");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        auto token = make_jwt(secret, "osservatorio-istat", "osservatorio-api");
        CHECK(check(bearer(token)).authenticated);
        CHECK_FALSE(check(bearer(admin_token)).authenticated);

        f.set("auth.jwt_issuer", "issuer.example");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(check(bearer(token)).error == "wrong token issuer");
        f.set("auth.jwt_audience", "audience.example");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        auto renewed = make_jwt(secret, "issuer.example", "osservatorio-api");
        CHECK(check(bearer(renewed)).error == "wrong token audience");
        CHECK(check(bearer(make_jwt(secret, "issuer.example", "audience.example"))).authenticated);

        f.set("auth.jwt_secret", "rotated-jwt-secret-0123456789abcdef01234");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(check(bearer(make_jwt(secret, "issuer.example", "audience.example"))).error ==
              "invalid token signature");
    }

    TEST_CASE("reload: the service re-applies upstream limits, breakers and client settings") {
        KeepLogLevel keep;
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 0ms, 0ms);
        cache::MemoryCache cache(1 << 20, f.clock);
        upstream::Upstream up(store.current()->settings(), f.clock);
        service::Registry metrics;
        service::Service service({store, &reloader, cache, up, metrics, f.clock});

        auto limit_of = [&](const std::string& host) {
            up.limiter().reserve(host, 0ms); // creates the host's bucket
            for (const auto& h : up.limiter().status()) {
                if (h.host == host) {
                    return h.limit;
                }
            }
            return resilience::RateLimit{-1, -1};
        };
        CHECK(limit_of("a.example").per_minute == 4);
        CHECK(limit_of("sdmx.oecd.org").per_minute == 4);
        /// Failures in a row until the breaker of `host` opens (at most 10).
        auto failures_to_open = [&](const std::string& host) {
            auto& breaker = up.breakers().get(host, "structure");
            for (int i = 1; i <= 10; ++i) {
                auto permit = breaker.acquire();
                breaker.record(permit, resilience::CallResult::failure, 1ms);
                if (breaker.snapshot().state == resilience::BreakerState::open) {
                    return i;
                }
            }
            return 0;
        };
        CHECK(failures_to_open("before.example") == 5);
        CHECK(spdlog::get_level() == spdlog::level::info);

        f.set("upstream.rate_limit_per_minute", "30");
        f.set("upstream.rate_limit_burst", "3");
        f.set("upstream.host_rate_limits", "sdmx.oecd.org=20/5");
        f.set("breaker.failure_threshold", "2");
        f.set("upstream.user_agent", "reloaded-agent/2");
        f.set("upstream.retries", "4");
        f.set("upstream.structure_connect_timeout", "5s");
        f.set("upstream.data_deadline", "150s");
        f.set("upstream.max_response_size", "128MiB");
        f.set("upstream.max_redirects", "5");
        f.set("upstream.retry_base_delay", "3s");
        f.set("upstream.retry_after_min", "30s");
        f.set("upstream.backoff_default", "20m");
        f.set("log.level", "error");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);

        auto limit = limit_of("a.example");
        CHECK(limit.per_minute == 30);
        CHECK(limit.burst == 3);
        auto oecd = limit_of("sdmx.oecd.org");
        CHECK(oecd.per_minute == 20);
        CHECK(oecd.burst == 5);
        CHECK(failures_to_open("after.example") == 2);
        auto client = up.client().settings();
        CHECK(client.user_agent == "reloaded-agent/2");
        CHECK(client.retries == 4);
        CHECK(client.structure.connect == 5s);
        CHECK(client.data.deadline == 150s);
        CHECK(client.max_response_bytes == 128ULL << 20);
        CHECK(client.max_redirects == 5);
        CHECK(client.retry_base_delay == 3s);
        CHECK(client.retry_after_min == 30s);
        CHECK(client.backoff_default == 20min);
        CHECK(spdlog::get_level() == spdlog::level::err);

        // breaker.enabled = false turns every breaker off.
        CHECK(up.breakers().enabled());
        f.set("breaker.enabled", "false");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        CHECK_FALSE(up.breakers().enabled());
    }

    TEST_CASE("reload: cache and probe policies follow the new snapshot") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 0ms, 0ms);
        f.set("cache.fresh_ttl", "2h");
        f.set("cache.stale_ttl", "3d");
        f.set("cache.probe_ttl", "12h");
        f.set("cache.negative_ttl", "5m");
        f.set("cache.lock_ttl", "20s");
        f.set("cache.lock_wait", "2s");
        f.set("probe.last_n_observations", "12");
        f.set("probe.max_bytes", "10MiB");
        f.set("probe.detail", "serieskeysonly");
        REQUIRE(reloader.reload() == config::ReloadOutcome::applied);
        auto snapshot = store.current();
        auto p = cache::policy(*snapshot);
        CHECK(p.fresh_ttl == 2h);
        CHECK(p.stale_ttl == 72h);
        CHECK(p.negative_ttl == 5min);
        CHECK(p.lock_ttl == 20s);
        CHECK(p.lock_wait == 2s);
        auto probe = cache::probe_policy(*snapshot);
        CHECK(probe.fresh_ttl == 12h);
        CHECK(probe.stale_ttl == 12h);
        CHECK(probe.negative_ttl == 5min);
        auto settings = upstream::probe_settings(*snapshot);
        CHECK(settings.last_n_observations == 12);
        CHECK(settings.max_bytes == 10ULL << 20);
        CHECK(settings.detail == "serieskeysonly");
    }
}

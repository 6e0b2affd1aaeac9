// Configuration: schema, layered sources, validation findings, rendering, reload.

#include "analysis/rules.hpp"
#include "config/loader.hpp"
#include "config/reload.hpp"
#include "config/render.hpp"
#include "support/support.hpp"
#include "util/clock.hpp"
#include "util/units.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace dataflow;
using namespace std::chrono_literals;
using config::LoadOptions;
using config::Severity;
using config::SourceKind;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Options that read nothing from this machine: no /etc/config, no process environment.
LoadOptions isolated() {
    LoadOptions o;
    o.default_config_dir.clear();
    o.default_secrets_dir.clear();
    return o;
}

/// The findings as text lines, for matching.
std::string all_findings(const config::LoadResult& r) {
    std::string out;
    for (const auto& f : r.findings) {
        out += f.text() + "\n";
    }
    return out;
}

bool has(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// Lays out `files` (name -> content) the way the kubelet mounts a ConfigMap or Secret:
/// the data in a timestamped directory, `..data` pointing at it, and one symlink per key.
void kubernetes_mount(const fs::path& dir, const std::map<std::string, std::string>& files,
                      const std::string& version) {
    fs::create_directories(dir);
    auto data = dir / ("..2026_11_29_" + version);
    fs::create_directories(data);
    for (const auto& [name, content] : files) {
        test::write_file(data / name, content);
    }
    auto tmp = dir / "..data_tmp";
    fs::remove(tmp);
    fs::create_directory_symlink(data.filename(), tmp);
    fs::rename(tmp, dir / "..data"); // atomic swap, as the kubelet does
    for (const auto& [name, content] : files) {
        if (!fs::is_symlink(dir / name)) {
            fs::create_symlink(fs::path("..data") / name, dir / name);
        }
    }
}

} // namespace

TEST_SUITE("config") {
    TEST_CASE("units: sizes and durations read back what they print") {
        CHECK(util::parse_size("64MiB") == 64u * 1024 * 1024);
        CHECK(util::parse_size("64M") == 64u * 1024 * 1024);
        CHECK(util::parse_size("64MB") == 64'000'000u);
        CHECK(util::parse_size("1.5k") == 1536u);
        CHECK(util::parse_size("1000") == 1000u);
        CHECK_FALSE(util::parse_size("lots"));
        CHECK_FALSE(util::parse_size("-1"));
        CHECK_FALSE(util::parse_size("5 parsecs"));
        CHECK(util::parse_size("99999999999T") == UINT64_MAX);
        CHECK(util::format_size(64u * 1024 * 1024) == "64MiB");
        CHECK(util::format_size(1000) == "1000");

        CHECK(util::parse_duration_ms("30s") == 30'000);
        CHECK(util::parse_duration_ms("500ms") == 500);
        CHECK(util::parse_duration_ms("1m") == 60'000);
        CHECK(util::parse_duration_ms("1h30m") == 5'400'000);
        CHECK(util::parse_duration_ms("1.5s") == 1500);
        CHECK(util::parse_duration_ms("30") == 30'000); // bare number: seconds
        CHECK_FALSE(util::parse_duration_ms("1m30"));
        CHECK_FALSE(util::parse_duration_ms("-5s"));
        CHECK_FALSE(util::parse_duration_ms("0.5ms"));
        CHECK_FALSE(util::parse_duration_ms("soon"));
        for (std::int64_t ms : {0LL, 1LL, 500LL, 1000LL, 61'500LL, 5'400'000LL, 86'400'000LL}) {
            CHECK(util::parse_duration_ms(util::format_duration_ms(ms)) == ms);
        }
    }

    TEST_CASE("schema: every default is valid, names and environment names are unique") {
        std::set<std::string> names, envs;
        for (const auto& key : config::schema()) {
            CAPTURE(key.name);
            CHECK(names.insert(std::string(key.name)).second);
            CHECK(envs.insert(config::env_name(key.name)).second);
            CHECK_FALSE(key.description.empty());
            CHECK_FALSE(config::is_loader_variable(config::env_name(key.name)));
            CHECK(config::find_alias(config::env_name(key.name)) == nullptr);
            if (key.type != config::KeyType::rules) {
                CHECK(config::parse_value(key, key.default_text).value.has_value());
            }
        }
        config::Config defaults;
        CHECK(defaults.integer("server.port") == 8000);
        CHECK(defaults.integer("server.metrics_port") == 8001);
        CHECK(defaults.str("service_name") == "dataflow-analyzer");
        CHECK(defaults.str("upstream.source") == "ISTAT");
        CHECK(defaults.str("upstream.base_url").empty()); // the source's
        CHECK(defaults.settings().upstream.base_url.empty());
        CHECK(defaults.number("upstream.rate_limit_per_minute") == 4.0);
        CHECK(defaults.str("cache.backend") == "memory");
        CHECK(defaults.str("redis.key_prefix") == "dataflow");
        CHECK(defaults.duration("redis.connect_timeout") == 100ms);
        CHECK(defaults.duration("redis.command_timeout") == 500ms);
        CHECK(defaults.rules()->fingerprint() == analysis::default_rules()->fingerprint());
        // Listening sockets and thread counts cannot change while running.
        CHECK_FALSE(config::find_key("server.port")->reloadable);
        CHECK_FALSE(config::find_key("server.threads")->reloadable);
        CHECK(config::find_key("log.level")->reloadable);
        CHECK(config::find_key("redis.password")->secret);
        CHECK(config::find_key("auth.jwt_secret")->secret);
        CHECK(config::find_key("auth.tokens")->secret);
        CHECK(config::env_name("service_name") == "DATAFLOW_SERVICE_NAME");
        CHECK(config::env_name("server.port") == "DATAFLOW_SERVER_PORT");
    }

    TEST_CASE("precedence: default < file < config dir < secrets dir < env < flag") {
        TempDir dir;
        auto file = dir.file("c.toml", "[server]\nport = 1001\nthreads = 3\n[redis]\ndb = 1\n"
                                       "pool_size = 2\nkey_prefix = \"f\"\n");
        fs::create_directories(dir.path() / "cm");
        fs::create_directories(dir.path() / "sec");
        test::write_file(dir.path() / "cm" / "server.port", "1002\n");
        test::write_file(dir.path() / "cm" / "DATAFLOW_REDIS_DB", "2\n");
        test::write_file(dir.path() / "cm" / "redis.key_prefix", "cm\n");
        test::write_file(dir.path() / "sec" / "server.port", "1003\n");
        test::write_file(dir.path() / "sec" / "redis.key_prefix", "sec\n");
        auto o = isolated();
        o.config_file = file;
        o.config_dir = (dir.path() / "cm").string();
        o.secrets_dir = (dir.path() / "sec").string();
        o.env = {{"DATAFLOW_SERVER_PORT", "1004"}, {"DATAFLOW_REDIS_KEY_PREFIX", "env"}};
        o.flags = {{"server.port", "1005", "--port"}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        const auto& c = *r.config;
        CHECK(c.integer("server.port") == 1005);
        CHECK(c.origin("server.port").describe() == "flag --port");
        CHECK(c.str("redis.key_prefix") == "env");
        CHECK(c.origin("redis.key_prefix").describe() == "env DATAFLOW_REDIS_KEY_PREFIX");
        CHECK(c.integer("redis.db") == 2);
        CHECK(c.origin("redis.db").describe() ==
              "config-dir " + (dir.path() / "cm" / "DATAFLOW_REDIS_DB").string());
        CHECK(c.integer("server.threads") == 3);
        CHECK(c.origin("server.threads").describe() == file + ":3:11");
        CHECK(c.integer("redis.pool_size") == 2);
        CHECK(c.origin("redis.port").describe() == "default");

        // Each layer alone wins over the ones below it.
        o.flags.clear();
        CHECK(config::load(o).config->integer("server.port") == 1004);
        o.env.clear();
        CHECK(config::load(o).config->integer("server.port") == 1003);
        CHECK(config::load(o).config->origin("server.port").describe() ==
              "secret " + (dir.path() / "sec" / "server.port").string());
        o.secrets_dir.reset();
        CHECK(config::load(o).config->integer("server.port") == 1002);
        o.config_dir.reset();
        CHECK(config::load(o).config->integer("server.port") == 1001);
        o.config_file.reset();
        CHECK(config::load(o).config->integer("server.port") == 8000);
    }

    TEST_CASE("DATAFLOW_CONFIG, DATAFLOW_CONFIG_DIR and DATAFLOW_SECRETS_DIR name the sources") {
        TempDir dir;
        auto file = dir.file("c.toml", "service_name = \"from-file\"\n");
        fs::create_directories(dir.path() / "cm");
        test::write_file(dir.path() / "cm" / "namespace", "osservatorio\n");
        fs::create_directories(dir.path() / "sec");
        test::write_file(dir.path() / "sec" / "auth.jwt_secret", "pw\n");
        auto o = isolated();
        o.env = {{"DATAFLOW_CONFIG", file},
                 {"DATAFLOW_CONFIG_DIR", (dir.path() / "cm").string()},
                 {"DATAFLOW_SECRETS_DIR", (dir.path() / "sec").string()}};
        auto r = config::load(o);
        REQUIRE(r.ok());
        CHECK(r.config->str("service_name") == "from-file");
        CHECK(r.config->str("namespace") == "osservatorio");
        CHECK(r.config->str("auth.jwt_secret") == "pw");
        CHECK(r.findings.empty());
        // The defaults (/etc/config) apply only when the directory exists; a named one must.
        o = isolated();
        o.default_config_dir = (dir.path() / "cm").string();
        o.default_secrets_dir = (dir.path() / "nope").string();
        r = config::load(o);
        REQUIRE(r.ok());
        CHECK(r.config->str("namespace") == "osservatorio");
        o.config_dir = (dir.path() / "missing").string();
        r = config::load(o);
        CHECK_FALSE(r.ok());
        CHECK(has(all_findings(r), "flag --config-dir: error: '" +
                                       (dir.path() / "missing").string() +
                                       "' is not a readable directory: no such directory"));
    }

    TEST_CASE("deep merge: a secret file redis_password leaves redis.host alone") {
        TempDir dir;
        auto file = dir.file("c.toml", "[cache]\nbackend = \"redis\"\n[redis]\nhost = "
                                       "\"redis-cluster.osservatorio.svc.cluster.local\"\n"
                                       "pool_size = 20\n");
        fs::create_directories(dir.path() / "sec");
        test::write_file(dir.path() / "sec" / "redis_password", "s3cret\n");
        test::write_file(dir.path() / "sec" / "jwt_secret", "jwt\n");
        test::write_file(dir.path() / "sec" / "database_url", "postgresql://u:p@db/x\n");
        auto o = isolated();
        o.config_file = file;
        o.secrets_dir = (dir.path() / "sec").string();
        o.env = {{"DATAFLOW_ENVIRONMENT", "production"}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        CHECK(r.config->str("redis.host") == "redis-cluster.osservatorio.svc.cluster.local");
        CHECK(r.config->integer("redis.pool_size") == 20);
        CHECK(r.config->str("redis.password") == "s3cret");
        CHECK(r.config->str("auth.jwt_secret") == "jwt");
        // database_url: accepted and ignored with a warning that never shows the value.
        REQUIRE(r.findings.size() == 1);
        CHECK(r.findings[0].severity == Severity::warning);
        CHECK(has(r.findings[0].text(), "database_url is ignored"));
        CHECK_FALSE(has(all_findings(r), "postgresql"));
    }

    TEST_CASE("the reference deployment's names keep working") {
        auto o = isolated();
        o.env = {{"DATAFLOW_ENVIRONMENT", "staging"},
                 {"DATAFLOW_SERVICE_NAME", "svc"},
                 {"DATAFLOW_NAMESPACE", "osservatorio"},
                 {"DATAFLOW_REDIS_HOST", "redis.osservatorio.svc"},
                 {"DATAFLOW_REDIS_PASSWORD", "12345"},
                 {"DATAFLOW_ISTAT_API_BASE_URL", "https://sdmx.example.org/rest"},
                 {"DATAFLOW_ENABLE_DISTRIBUTED_CACHING", "true"},
                 {"DATAFLOW_ENABLE_METRICS", "false"},
                 {"DATAFLOW_ENABLE_CIRCUIT_BREAKER", "false"},
                 {"DATAFLOW_ENABLE_TRACING", "true"},
                 {"PATH", "/usr/bin"}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        const auto& c = *r.config;
        CHECK(c.str("environment") == "staging");
        CHECK(c.str("service_name") == "svc");
        CHECK(c.str("namespace") == "osservatorio");
        CHECK(c.str("redis.host") == "redis.osservatorio.svc");
        CHECK(c.str("redis.password") == "12345"); // a numeric password is a string
        CHECK(c.str("upstream.base_url") == "https://sdmx.example.org/rest");
        CHECK(c.str("cache.backend") == "redis");
        CHECK_FALSE(c.flag("metrics.enabled"));
        CHECK_FALSE(c.flag("breaker.enabled"));
        CHECK(c.flag("tracing.enabled"));
        // Deprecated aliases warn, naming the replacement.
        auto text = all_findings(r);
        CHECK(has(text, "env DATAFLOW_ENABLE_DISTRIBUTED_CACHING: warning: cache.backend: "
                        "DATAFLOW_ENABLE_DISTRIBUTED_CACHING is a deprecated name; use "
                        "DATAFLOW_CACHE_BACKEND"));
        CHECK(has(text, "use DATAFLOW_UPSTREAM_BASE_URL"));
        CHECK(r.warnings() == 5);

        // false -> memory; the canonical name beats the alias whatever the order.
        o.env = {{"DATAFLOW_ENABLE_DISTRIBUTED_CACHING", "false"}};
        CHECK(config::load(o).config->str("cache.backend") == "memory");
        o.env = {{"DATAFLOW_ENABLE_DISTRIBUTED_CACHING", "true"},
                 {"DATAFLOW_CACHE_BACKEND", "memory"}};
        CHECK(config::load(o).config->str("cache.backend") == "memory");
        o.env = {{"DATAFLOW_ENABLE_DISTRIBUTED_CACHING", "maybe"}};
        auto bad = config::load(o);
        CHECK_FALSE(bad.ok());
        CHECK(has(all_findings(bad), "\"maybe\" is not a boolean"));
    }

    TEST_CASE("environment: exact names, unknown ones warned with the closest key") {
        auto o = isolated();
        o.env = {{"DATAFLOW_CACHE_TTL", "60"},
                 {"DATAFLOW_SERVR_PORT", "1"},
                 {"DATAFLOW_REDIS_SOCKET_TIMEOUT", "5"},
                 // Kubernetes service links for a Service named dataflow-analyzer.
                 {"DATAFLOW_ANALYZER_SERVICE_HOST", "10.0.0.7"},
                 {"DATAFLOW_ANALYZER_SERVICE_PORT", "8000"},
                 {"DATAFLOW_ANALYZER_SERVICE_PORT_HTTP", "8000"},
                 {"DATAFLOW_ANALYZER_PORT", "tcp://10.0.0.7:8000"},
                 {"DATAFLOW_ANALYZER_PORT_8000_TCP", "tcp://10.0.0.7:8000"},
                 {"DATAFLOW_ANALYZER_PORT_8000_TCP_ADDR", "10.0.0.7"},
                 {"DATAFLOW_ANALYZER_PORT_8000_TCP_PORT", "8000"},
                 {"DATAFLOW_ANALYZER_PORT_8000_TCP_PROTO", "tcp"},
                 {"DATAFLOW_CONFIG_DIR", ""}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        CHECK(r.ok()); // unknown variables are warnings
        CHECK(r.warnings() == 3);
        auto text = all_findings(r);
        CHECK(has(text, "env DATAFLOW_CACHE_TTL: warning: unknown variable, ignored; did you mean "
                        "DATAFLOW_CACHE_"));
        CHECK(has(text, "env DATAFLOW_SERVR_PORT: warning: unknown variable, ignored; did you "
                        "mean DATAFLOW_SERVER_PORT?"));
        CHECK(has(text, "env DATAFLOW_REDIS_SOCKET_TIMEOUT: warning"));
        CHECK_FALSE(has(text, "ANALYZER"));
        // A misspelt *_PORT that does not hold tcp://... is still reported.
        o.env = {{"DATAFLOW_REDISS_PORT", "6379"}};
        CHECK(has(all_findings(config::load(o)), "did you mean DATAFLOW_REDIS_PORT?"));
    }

    TEST_CASE("typed parsing from every source") {
        TempDir dir;
        auto file = dir.file("c.toml", "[server]\nport = \"8080\"\nread_timeout = 45\n"
                                       "write_timeout = \"1m\"\nmax_body_size = \"10MiB\"\n"
                                       "[redis]\npassword = 12345\n"
                                       "[analysis]\nlanguages = [\"en\", \"fr\"]\n"
                                       "[upstream]\nrate_limit_per_minute = 3\n"
                                       "[breaker]\nenabled = \"no\"\n");
        fs::create_directories(dir.path() / "cm");
        test::write_file(dir.path() / "cm" / "server.keep_alive_timeout", "500ms\n");
        test::write_file(dir.path() / "cm" / "DATAFLOW_CACHE_MEMORY_BUDGET", "1G");
        test::write_file(dir.path() / "cm" / "analysis.languages", "de, it\r\n");
        auto o = isolated();
        o.config_file = file;
        o.config_dir = (dir.path() / "cm").string();
        o.env = {{"DATAFLOW_SERVER_THREADS", " 5 "},
                 {"DATAFLOW_LOG_LEVEL", "WARNING"},
                 {"DATAFLOW_UPSTREAM_RETRY_BASE_DELAY", "1m30s"}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        const auto& c = *r.config;
        CHECK(c.integer("server.port") == 8080);
        CHECK(c.duration("server.read_timeout") == 45s);
        CHECK(c.duration("server.write_timeout") == 60s);
        CHECK(c.size("server.max_body_size") == 10u * 1024 * 1024);
        CHECK(c.str("redis.password") == "12345");
        CHECK(c.number("upstream.rate_limit_per_minute") == 3.0);
        CHECK_FALSE(c.flag("breaker.enabled"));
        CHECK(c.duration("server.keep_alive_timeout") == 500ms);
        CHECK(c.size("cache.memory_budget") == 1024u * 1024 * 1024);
        CHECK(c.list("analysis.languages") == std::vector<std::string>{"de", "it"});
        CHECK(c.integer("server.threads") == 5);
        CHECK(c.str("log.level") == "warn");
        CHECK(c.duration("upstream.retry_base_delay") == 90s);
    }

    TEST_CASE("every kind of finding says where and what") {
        TempDir dir;
        auto file = dir.file("config.toml",
                             "[server]\n"
                             "port = 70000\n"       // 2: range
                             "threads = \"many\"\n" // 3: type
                             "prot = 1\n"           // 4: unknown key
                             "[upstream]\n"
                             "base_url = \"ftp://example.org\"\n" // 6: URL
                             "agency = \"IT1/../x\"\n"            // 7: SDMX id
                             "[log]\n"
                             "level = [1]\n" // 9: type
                             "[servers]\n"   // 10: unknown section
                             "x = 1\n");
        fs::create_directories(dir.path() / "cm");
        test::write_file(dir.path() / "cm" / "DATAFLOW_REDIS_PORT", "abc\n");
        test::write_file(dir.path() / "cm" / "redis.hots", "x\n");
        test::write_file(dir.path() / "cm" / ".hidden", "ignored\n");
        auto o = isolated();
        o.config_file = file;
        o.config_dir = (dir.path() / "cm").string();
        auto r = config::load(o);
        auto text = all_findings(r);
        CAPTURE(text);
        CHECK(has(text, file + ":2:8: error: server.port: 70000 is out of range 0..65535\n"));
        CHECK(has(text, file + ":3:11: error: server.threads: \"many\" is not an integer\n"));
        CHECK(has(text, file + ":4:8: error: server.prot: unknown key; did you mean server.port?"));
        CHECK(has(text, file + ":6:12: error: upstream.base_url: \"ftp://example.org\" must be an "
                               "http:// or https:// URL"));
        CHECK(has(text, file + ":7:10: error: upstream.agency: \"IT1/../x\" is not an SDMX "
                               "identifier"));
        CHECK(has(text, file + ":9:9: error: log.level: must be one of trace | debug | info | "
                               "warn | error | off (got a TOML array)"));
        CHECK(has(text, file + ":10:1: error: servers: unknown key; did you mean server?"));
        CHECK(has(text, (dir.path() / "cm" / "DATAFLOW_REDIS_PORT").string() +
                            ": error: redis.port: \"abc\" is not an integer"));
        CHECK(has(text, "redis.hots: error: 'redis.hots' is not a configuration key; did you "
                        "mean redis.host?"));
        CHECK_FALSE(has(text, ".hidden"));
        CHECK(r.errors() == 9);
        // Findings of one file come in line order.
        CHECK(text.find(":2:8:") < text.find(":3:11:"));

        // Syntax errors, unreadable and missing files.
        auto broken = dir.file("broken.toml", "[server\nport = 1\n");
        o = isolated();
        o.config_file = broken;
        auto s = config::load(o);
        CHECK(has(all_findings(s), broken + ":1:8: error: TOML syntax error"));
        o.config_file = (dir.path() / "missing.toml").string();
        CHECK(has(all_findings(config::load(o)), "missing.toml: error: no such file"));
        {
            // An unreadable file. Root reads it anyway, so the load runs in a child that is not
            // root (uid 65534 in CI); the directory lets that user reach the file.
            auto locked = dir.file("locked.toml", "x = 1\n");
            ::chmod(locked.c_str(), 0);
            ::chmod(dir.path().c_str(), 0755);
            o.config_file = locked;
            auto denied = test::run_unprivileged([&] { return all_findings(config::load(o)); });
            CHECK(has(denied, locked + ": error: "));
            CHECK(has(denied, "ermission denied"));
            ::chmod(locked.c_str(), 0644);
        }
        // Invalid UTF-8 is located.
        o.config_file = dir.file("bad-utf8.toml", "service_name = \"a\xff\"\n");
        CHECK(has(all_findings(config::load(o)), "bad-utf8.toml:1:18: error: invalid UTF-8"));
        // A URL with credentials or a query is refused; a plain one with a port is fine.
        for (const char* url : {"https://user:pw@example.org/rest", "https://example.org/rest?x=1",
                                "https://exa mple.org", "https://", "https://example.org:99999/"}) {
            CAPTURE(url);
            CHECK_FALSE(
                config::parse_value(*config::find_key("upstream.base_url"), url).error.empty());
        }
        CHECK(config::parse_value(*config::find_key("upstream.base_url"),
                                  "http://127.0.0.1:8080/rest")
                  .value);
        CHECK(config::parse_value(*config::find_key("upstream.base_url"), "https://[::1]:443/x")
                  .value);
    }

    TEST_CASE("rule sets in the configuration: inline, by file, and their errors") {
        TempDir dir;
        auto rules = dir.file("rules.toml", "[[rules]]\ncategory = \"agricoltura\"\npriority = "
                                            "3\nkeywords = [\"agri\"]\n");
        auto by_file = dir.file("a.toml", "[analysis]\nrules_file = \"rules.toml\"\n");
        auto o = isolated();
        o.config_file = by_file; // relative to the file that names it
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        CHECK(r.config->rules()->categories().front() == "agricoltura");

        auto inline_rules = dir.file("b.toml", "[[analysis.rules]]\ncategory = \"sport\"\n"
                                               "priority = 2\nkeywords = [\"calcio\"]\n");
        o.config_file = inline_rules;
        r = config::load(o);
        REQUIRE(r.ok());
        CHECK(r.config->rules()->categories().front() == "sport");
        CHECK(r.config->origin("analysis.rules").describe() == inline_rules + ":1:1");
        CHECK(r.config->hash() != config::Config().hash());

        auto zero = dir.file("z.toml", "[[analysis.rules]]\ncategory = \"x\"\npriority = 0\n"
                                       "keywords = [\"a\"]\n");
        o.config_file = zero;
        CHECK(has(all_findings(config::load(o)),
                  zero + ":3:12: error: analysis.rules: rules[0]: 'priority' is 0"));
        auto empty = dir.file("e.toml", "[analysis]\nrules = []\n");
        o.config_file = empty;
        CHECK(has(all_findings(config::load(o)), "the rule set is empty"));
        auto inactive = dir.file("i.toml", "[[analysis.rules]]\ncategory = \"x\"\npriority = 1\n"
                                           "keywords = [\"a\"]\nactive = false\n");
        o.config_file = inactive;
        CHECK(has(all_findings(config::load(o)), "every rule is inactive"));
        auto both = dir.file("both.toml", "[analysis]\nrules_file = \"rules.toml\"\n"
                                          "[[analysis.rules]]\ncategory = \"x\"\npriority = 1\n"
                                          "keywords = [\"a\"]\n");
        o.config_file = both;
        CHECK(has(all_findings(config::load(o)), "keep one"));
        auto bad_file = dir.file("bf.toml", "[analysis]\nrules_file = \"zero.toml\"\n");
        dir.file("zero.toml", "[[rules]]\ncategory = \"x\"\npriority = -3\nkeywords = [\"a\"]\n");
        o.config_file = bad_file;
        CHECK(has(all_findings(config::load(o)),
                  (dir.path() / "zero.toml").string() +
                      ":3:12: error: analysis.rules_file: rules[0]: 'priority' is -3"));
        o = isolated();
        o.env = {{"DATAFLOW_ANALYSIS_RULES", "x"}};
        CHECK(has(all_findings(config::load(o)), "rules cannot be set from the environment"));
    }

    TEST_CASE("production profile: risky settings are errors") {
        auto o = isolated();
        o.env = {{"DATAFLOW_ENVIRONMENT", "production"},
                 {"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_LOG_LEVEL", "debug"},
                 {"DATAFLOW_API_ADMIN_ENABLED", "true"},
                 {"DATAFLOW_UPSTREAM_BASE_URL", "http://esploradati.istat.it/SDMXWS/rest"}};
        auto r = config::load(o);
        auto text = all_findings(r);
        CAPTURE(text);
        CHECK(r.errors() == 4);
        CHECK(has(text, "env DATAFLOW_CACHE_BACKEND: error: redis.host: production with "
                        "distributed caching on 'localhost'"));
        CHECK(has(text, "env DATAFLOW_LOG_LEVEL: error: log.level: 'debug' in production"));
        CHECK(has(text, "env DATAFLOW_API_ADMIN_ENABLED: error: api.admin_enabled: admin "
                        "endpoints are enabled without authentication"));
        CHECK(has(text, "env DATAFLOW_UPSTREAM_BASE_URL: error: upstream.base_url: production "
                        "needs an https:// upstream"));
        // The same settings in development are fine.
        o.env["DATAFLOW_ENVIRONMENT"] = "development";
        CHECK(config::load(o).ok());
        // Fixed: a real Redis host, info, auth on with a token, https.
        o.env = {{"DATAFLOW_ENVIRONMENT", "production"},
                 {"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_HOST", "127.0.0.1"}};
        CHECK(has(all_findings(config::load(o)), "on '127.0.0.1'"));
        o.env["DATAFLOW_REDIS_HOST"] = "redis.osservatorio.svc.cluster.local";
        o.env["DATAFLOW_API_ADMIN_ENABLED"] = "true";
        o.env["DATAFLOW_AUTH_MODE"] = "token";
        o.env["DATAFLOW_AUTH_ADMIN_TOKENS"] = "0123456789abcdef0123456789abcdef";
        auto ok = config::load(o);
        CAPTURE(all_findings(ok));
        CHECK(ok.ok());
        CHECK(ok.findings.empty());
    }

    TEST_CASE("redis.mode: cluster and sentinel settings, lists from the environment") {
        auto o = isolated();
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_MODE", "sentinel"},
                 {"DATAFLOW_REDIS_SENTINELS", "s-0.sentinel:26379, s-1.sentinel,[fd00::1]:26380"},
                 {"DATAFLOW_REDIS_SENTINEL_MASTER", "cache"},
                 {"DATAFLOW_REDIS_SENTINEL_PASSWORD", "sentinel-secret"}};
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        const auto& redis = r.config->settings().redis;
        CHECK(redis.mode == config::RedisMode::sentinel);
        CHECK(redis.sentinels ==
              std::vector<std::string>{"s-0.sentinel:26379", "s-1.sentinel", "[fd00::1]:26380"});
        CHECK(redis.sentinel_master == "cache");
        CHECK(redis.sentinel_password == "sentinel-secret");
        // Sentinel mode without sentinels, a bad endpoint, a cluster with a database.
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"}, {"DATAFLOW_REDIS_MODE", "sentinel"}};
        auto text = all_findings(config::load(o));
        CHECK(has(text, "error: redis.sentinels: redis.mode = sentinel needs the sentinels"));
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_MODE", "cluster"},
                 {"DATAFLOW_REDIS_NODES", "redis-0:7000,redis-1:port"}};
        text = all_findings(config::load(o));
        CHECK(has(text, "redis.nodes"));
        CHECK(has(text, "\"redis-1:port\" is not host:port"));
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_MODE", "cluster"},
                 {"DATAFLOW_REDIS_DB", "2"}};
        text = all_findings(config::load(o));
        CHECK(has(text, "error: redis.db: a Redis Cluster has database 0 only"));
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_MODE", "cluster"},
                 {"DATAFLOW_REDIS_NODES", "redis-0:7000,redis-1:7001"}};
        CHECK(config::load(o).ok());
        o.env["DATAFLOW_REDIS_KEY_PREFIX"] = "{df}";
        CHECK(has(all_findings(config::load(o)),
                  "warning: redis.key_prefix: a { or } in the prefix puts every key on one hash "
                  "slot"));
        // Sentinel settings in another mode have no effect: said so.
        o.env = {{"DATAFLOW_CACHE_BACKEND", "redis"}, {"DATAFLOW_REDIS_SENTINELS", "s:26379"}};
        text = all_findings(config::load(o));
        CHECK(has(text, "warning: redis.sentinels: has no effect unless redis.mode = sentinel"));
        // Production behind sentinels: redis.host (unused) may stay localhost.
        o.env = {{"DATAFLOW_ENVIRONMENT", "production"},
                 {"DATAFLOW_CACHE_BACKEND", "redis"},
                 {"DATAFLOW_REDIS_MODE", "sentinel"},
                 {"DATAFLOW_REDIS_SENTINELS", "redis-sentinel.cache.svc:26379"}};
        CHECK_FALSE(has(all_findings(config::load(o)), "redis.host"));
    }

    TEST_CASE("warnings: settings without effect, cross-key errors") {
        auto o = isolated();
        o.env = {{"DATAFLOW_REDIS_HOST", "redis"}, {"DATAFLOW_AUTH_MODE", "token"}};
        auto r = config::load(o);
        auto text = all_findings(r);
        CHECK(has(text, "warning: redis.host: has no effect with cache.backend = memory"));
        CHECK(has(text, "error: auth.mode: token authentication without auth.tokens"));
        o.env = {{"DATAFLOW_AUTH_MODE", "jwt"}};
        CHECK(has(all_findings(config::load(o)), "JWT authentication without auth.jwt_secret"));
        o.env = {{"DATAFLOW_CATALOG_MODE", "file"}};
        CHECK(has(all_findings(config::load(o)), "catalog.mode = file needs catalog.file"));
        o.env = {{"DATAFLOW_SERVER_METRICS_PORT", "8000"},
                 {"DATAFLOW_CACHE_STALE_TTL", "1m"},
                 {"DATAFLOW_AUTH_TOKENS", "short"}};
        text = all_findings(config::load(o));
        CHECK(has(text, "server.metrics_port: equals server.port"));
        CHECK(has(text, "cache.stale_ttl: is shorter than cache.fresh_ttl"));
        CHECK(has(text, "warning: auth.tokens: a token shorter than 16 characters"));
    }

    TEST_CASE("a Kubernetes-mounted ConfigMap and Secret") {
        TempDir dir;
        kubernetes_mount(dir.path() / "config",
                         {{"DATAFLOW_REDIS_HOST", "redis.osservatorio.svc\n"},
                          {"dataflow.toml", "[server]\nthreads = 4\n"},
                          {"log.level", "warn\n"}},
                         "v1");
        kubernetes_mount(dir.path() / "secrets", {{"redis_password", "pw\n"}}, "v1");
        auto o = isolated();
        o.config_dir = (dir.path() / "config").string();
        o.secrets_dir = (dir.path() / "secrets").string();
        auto r = config::load(o);
        CAPTURE(all_findings(r));
        REQUIRE(r.ok());
        CHECK(r.config->str("redis.host") == "redis.osservatorio.svc");
        CHECK(r.config->integer("server.threads") == 4);
        CHECK(r.config->str("log.level") == "warn");
        CHECK(r.config->str("redis.password") == "pw");
        CHECK(r.config->origin("server.threads").describe() ==
              "config-dir " + (dir.path() / "config" / "dataflow.toml").string() + ":2:11");
    }

    TEST_CASE("--env-file: NAME=value lines over the environment") {
        TempDir dir;
        auto env = dir.file("prod.env", "# deployment\nexport DATAFLOW_SERVER_PORT=9000\n"
                                        "DATAFLOW_SERVICE_NAME=\"quoted name\"\n"
                                        "OTHER=ignored\n\nDATAFLOW_SERVER_THREADS=x\n"
                                        "not a line\n");
        auto o = isolated();
        o.env = {{"DATAFLOW_SERVER_PORT", "1"}};
        o.env_file = env;
        auto r = config::load(o);
        auto text = all_findings(r);
        CHECK(r.config->integer("server.port") == 9000);
        CHECK(r.config->str("service_name") == "quoted name");
        CHECK(r.config->origin("server.port").describe() == "env-file " + env + ":2");
        CHECK(has(text, env + ":6: error: server.threads: \"x\" is not an integer"));
        CHECK(has(text, env + ":7: error: expected NAME=value"));
    }

    TEST_CASE("secrets never appear in output, findings or logs") {
        const std::string canary = "CANARY-7f3a9c-secret";
        TempDir dir;
        fs::create_directories(dir.path() / "sec");
        test::write_file(dir.path() / "sec" / "redis.password", canary + "\n");
        test::write_file(dir.path() / "sec" / "bad.toml", "x = \"" + canary);
        auto o = isolated();
        o.secrets_dir = (dir.path() / "sec").string();
        o.env = {{"DATAFLOW_AUTH_JWT_SECRET", canary},
                 {"DATAFLOW_AUTH_TOKENS", canary + "," + canary + "2"}};
        auto r = config::load(o);
        CHECK(r.config->str("redis.password") == canary);
        std::string everything = all_findings(r);
        for (auto format : {config::FindingsFormat::text, config::FindingsFormat::json,
                            config::FindingsFormat::github}) {
            everything += config::render_findings(r, format);
        }
        everything += config::render_toml(*r.config, true);
        everything += config::render_json(*r.config, true);
        CHECK_FALSE(has(everything, canary));
        CHECK_FALSE(has(everything, "CANARY"));
        CHECK(has(config::render_toml(*r.config, false), "password = \"***\""));
        CHECK(has(config::render_toml(*r.config, false), "jwt_secret = \"***\""));
        CHECK(has(config::render_toml(*r.config, false), "tokens = \"***\""));
        // The secret file's TOML syntax error is located but not quoted.
        CHECK(has(everything, "bad.toml:1:"));
        CHECK(has(everything, "details hidden"));
        // A hash is shown; secrets do not feed it: the configuration above (three secrets set)
        // hashes like one without them, while any other value changes the hash.
        auto without_secrets = config::load(isolated()).config->hash();
        CHECK(r.config->hash() == without_secrets);
        auto other = isolated();
        other.env = {{"DATAFLOW_SERVER_PORT", "9001"}};
        CHECK(config::load(other).config->hash() != without_secrets);
        // Type errors in a secret key do not echo the value.
        auto p = config::parse_value(*config::find_key("redis.password"), canary + "\nx");
        CHECK_FALSE(p.value);
        CHECK_FALSE(has(p.error, "CANARY"));
    }

    TEST_CASE("config show: TOML that reads back, JSON with sources") {
        TempDir dir;
        auto o = isolated();
        o.env = {{"DATAFLOW_SERVER_PORT", "9001"},
                 {"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE", "3"}};
        auto r = config::load(o);
        REQUIRE(r.ok());
        auto toml = config::render_toml(*r.config, true);
        CHECK(has(toml, "port = 9001  # env DATAFLOW_SERVER_PORT\n"));
        CHECK(has(toml, "rate_limit_per_minute = 3.0"));
        auto again = isolated();
        again.config_file = dir.file("shown.toml", toml);
        auto back = config::load(again);
        CAPTURE(all_findings(back));
        REQUIRE(back.ok());
        CHECK(back.config->hash() == r.config->hash());
        CHECK_FALSE(back.config->differs_from(*r.config));

        auto j = nlohmann::json::parse(config::render_json(*r.config, true));
        CHECK(j["config"]["server"]["port"] == 9001);
        CHECK(j["config"]["server"]["read_timeout"] == "30s");
        CHECK(j["config"]["analysis"]["rules"].size() == 6);
        CHECK(j["sources"]["server.port"] == "env DATAFLOW_SERVER_PORT");
        CHECK(j["sources"]["server.threads"] == "default");
        CHECK(j["hash"] == r.config->hash());
        auto plain = nlohmann::json::parse(config::render_json(*r.config, false));
        CHECK(plain["environment"] == "development");
    }

    TEST_CASE("validate output formats") {
        TempDir dir;
        auto o = isolated();
        o.config_file = dir.file("c,1.toml", "[server]\nport = 70000\n");
        o.env = {{"DATAFLOW_SERVR_PORT", "1"}};
        auto r = config::load(o);
        auto text = config::render_findings(r, config::FindingsFormat::text);
        CHECK(has(text, "config invalid: 1 error, 1 warning\n"));
        auto gh = config::render_findings(r, config::FindingsFormat::github);
        CHECK(
            has(gh, "::error file=" + dir.path().string() +
                        "/c%2C1.toml,line=2,col=8,title=server.port::server.port: 70000 is out of "
                        "range 0..65535\n"));
        CHECK(has(gh, "::warning title=dataflow config::env DATAFLOW_SERVR_PORT: unknown"));
        auto j = nlohmann::json::parse(config::render_findings(r, config::FindingsFormat::json));
        CHECK(j["valid"] == false);
        CHECK(j["errors"] == 1);
        CHECK(j["findings"][0]["line"] == 2);
        CHECK(j["findings"][0]["column"] == 8);
        CHECK(j["findings"][0]["key"] == "server.port");
        CHECK(j["findings"][1]["source"] == "env");
        CHECK(config::render_findings(config::load(isolated()), config::FindingsFormat::text) ==
              "config OK: 0 errors, 0 warnings\n");
    }

    TEST_CASE("docs/CONFIGURATION.md and the man page are generated from the schema") {
        auto doc = test::read_file(std::string(DATAFLOW_SOURCE_DIR) + "/docs/CONFIGURATION.md");
        INFO("regenerate: build/cli/dataflow config schema -o markdown > docs/CONFIGURATION.md");
        CHECK(doc == config::render_reference_markdown());
        for (const auto& key : config::schema()) {
            CHECK(has(doc, "| `" + std::string(key.name) + "` |"));
        }
        // Every generated block of every page: `.\" BEGIN GENERATED KEYS [SELECTOR...]`.
        int blocks = 0;
        for (const auto& entry :
             fs::directory_iterator(std::string(DATAFLOW_SOURCE_DIR) + "/man")) {
            auto man = test::read_file(entry.path().string());
            const std::string marker = ".\\\" BEGIN GENERATED KEYS";
            for (auto at = man.find(marker); at != std::string::npos;
                 at = man.find(marker, at + 1)) {
                auto eol = man.find('\n', at);
                std::vector<std::string> selectors;
                std::istringstream words(man.substr(at + marker.size(), eol - at - marker.size()));
                for (std::string w; words >> w;) {
                    selectors.push_back(w);
                }
                auto end = man.find(".\\\" END GENERATED KEYS\n", eol);
                REQUIRE(end != std::string::npos);
                INFO(entry.path().filename().string()
                     << ": regenerate with scripts/update-config-docs.py");
                CHECK(man.substr(eol + 1, end - eol - 1) ==
                      config::render_reference_man(selectors));
                CHECK_FALSE(config::render_reference_man(selectors).empty());
                ++blocks;
            }
        }
        CHECK(blocks >= 1);
    }

    TEST_CASE("key selectors pick keys and prefixes") {
        CHECK(config::key_selected("server.port", {}));
        CHECK(config::key_selected("server.port", {"server."}));
        CHECK(config::key_selected("server.port", {"redis.", "server.port"}));
        CHECK_FALSE(config::key_selected("server.port_x", {"server.port"}));
        CHECK_FALSE(config::key_selected("serverx.port", {"server."}));
        auto man = config::render_reference_man({"redis."});
        CHECK(has(man, ".B redis.host\n"));
        CHECK_FALSE(has(man, "server.port"));
    }
}

TEST_SUITE("config reload") {
    struct Fixture {
        TempDir dir;
        util::ManualClock clock;
        int loads = 0;
        LoadOptions options = isolated();

        Fixture() {
            options.config_dir = (dir.path() / "config").string();
            fs::create_directories(dir.path() / "config");
            set("log.level", "info");
        }
        void set(const std::string& name, const std::string& value) {
            test::write_file(dir.path() / "config" / name, value + "\n");
        }
        config::LoadResult load() {
            ++loads;
            return config::load(options);
        }
    };

    TEST_CASE("a valid change is applied and subscribers see it") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        std::vector<std::string> seen;
        store.subscribe([&](const auto& c) { seen.push_back(c->str("log.level")); });

        f.set("log.level", "warn");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(store.current()->str("log.level") == "warn");
        CHECK(seen == std::vector<std::string>{"warn"});
        auto stats = reloader.stats();
        CHECK(stats.applied == 1);
        CHECK(stats.last_good_hash == store.current()->hash());
        CHECK(stats.last_good_time == f.clock.system());
        // Nothing changed: no notification.
        CHECK(reloader.reload() == config::ReloadOutcome::unchanged);
        CHECK(seen.size() == 1);
        CHECK(reloader.stats().unchanged == 1);
    }

    TEST_CASE("an invalid change is rejected and the running configuration kept") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        auto before = store.current();
        f.set("log.level", "loud");
        f.set("server.threads", "-1");
        CHECK(reloader.reload() == config::ReloadOutcome::rejected);
        CHECK(store.current() == before);
        auto stats = reloader.stats();
        CHECK(stats.rejected == 1);
        CHECK(stats.applied == 0);
        REQUIRE(stats.last_rejection.size() == 2);
        // Fixing it applies.
        f.set("log.level", "error");
        f.set("server.threads", "16");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(store.current()->str("log.level") == "error");
    }

    TEST_CASE("keys that need a restart keep their running value") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        f.set("server.port", "9999");
        f.set("log.level", "warn");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(store.current()->integer("server.port") == 8000);
        CHECK(store.current()->origin("server.port").kind == SourceKind::default_value);
        CHECK(store.current()->str("log.level") == "warn");
        // Only a restart-only change: nothing to apply.
        f.set("server.threads", "2");
        CHECK(reloader.reload() == config::ReloadOutcome::unchanged);
    }

    TEST_CASE("a reload is validated with the running restart-only keys it will apply") {
        Fixture f;
        // Production with the admin endpoints behind tokens: valid.
        f.set("environment", "production");
        f.set("auth.mode", "token");
        f.set("auth.admin_tokens", "admin-token-0123456789abcdef0123");
        f.set("api.admin_enabled", "true");
        auto initial = f.load();
        REQUIRE(initial.ok());
        config::ConfigStore store(initial.config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        auto before = store.current();
        // The candidate says development (restart-only) and turns authentication off
        // (reloadable): valid as loaded, but what would be applied is production with admin
        // endpoints open to anyone.
        f.set("environment", "development");
        f.set("auth.mode", "none");
        REQUIRE(f.load().ok());
        CHECK(reloader.reload() == config::ReloadOutcome::rejected);
        CHECK(store.current() == before);
        CHECK(store.current()->settings().auth.mode == config::AuthMode::token);
        auto stats = reloader.stats();
        CHECK(stats.rejected == 1);
        CHECK(stats.applied == 0);
        REQUIRE(stats.last_rejection.size() == 1);
        const auto& finding = stats.last_rejection[0];
        CHECK(finding.key == "api.admin_enabled");
        CHECK(has(finding.message, "admin endpoints are enabled without authentication"));
        CHECK(has(finding.message, "with the running value of environment"));
        // Reported where the applied value comes from: the config directory's file.
        CHECK(finding.where.kind == SourceKind::config_dir);
        CHECK(has(finding.where.name, "api.admin_enabled"));
        // Closing the admin endpoints too makes the applied combination valid.
        f.set("api.admin_enabled", "false");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(store.current()->str("environment") == "production");
        CHECK(store.current()->settings().auth.mode == config::AuthMode::none);
        CHECK_FALSE(store.current()->settings().api.admin_enabled);
    }

    TEST_CASE("a burst of changes is debounced into one reload") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        int loads_before = f.loads;
        CHECK_FALSE(reloader.poll()); // nothing pending
        for (int i = 0; i < 10; ++i) {
            f.set("log.level", i % 2 ? "warn" : "error");
            reloader.notify();
            f.clock.advance(100ms);
            CHECK_FALSE(reloader.poll()); // still inside the burst
        }
        CHECK(f.loads == loads_before);
        f.clock.advance(400ms);
        auto outcome = reloader.poll();
        REQUIRE(outcome);
        CHECK(*outcome == config::ReloadOutcome::applied);
        CHECK(f.loads == loads_before + 1);
        CHECK(store.current()->str("log.level") == "warn");
        CHECK_FALSE(reloader.poll());
        // A change that never stops is applied after max_delay.
        for (int i = 0; i < 60; ++i) {
            reloader.notify();
            f.clock.advance(100ms);
            reloader.poll();
        }
        CHECK(f.loads == loads_before + 2);
    }

    TEST_CASE("a reload that changes reload.debounce re-applies it to the reloader") {
        Fixture f;
        config::ConfigStore store(f.load().config);
        config::Reloader reloader(
            store, [&] { return f.load(); }, f.clock, 500ms, 5s);
        auto id = config::follow_reload_settings(store, reloader, nullptr);
        f.set("reload.debounce", "2s");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(reloader.debounce() == 2s);
        // The next change waits out the new debounce, not the old 500ms.
        f.set("log.level", "warn");
        reloader.notify();
        f.clock.advance(500ms);
        CHECK_FALSE(reloader.poll());
        f.clock.advance(1500ms);
        auto outcome = reloader.poll();
        REQUIRE(outcome);
        CHECK(*outcome == config::ReloadOutcome::applied);
        CHECK(store.current()->str("log.level") == "warn");
        // max_delay follows it (10 x 2s): a change that never stops is applied after 20s.
        int loads_before = f.loads;
        for (int i = 0; i < 19; ++i) {
            reloader.notify();
            f.clock.advance(1s);
            CHECK_FALSE(reloader.poll());
        }
        reloader.notify();
        f.clock.advance(1s);
        CHECK(reloader.poll());
        CHECK(f.loads == loads_before + 1);
        store.unsubscribe(id);
    }

    TEST_CASE("a reload that changes reload.recheck_interval re-applies it to the watcher") {
        TempDir dir;
        auto file = dir.file("c.toml", "[reload]\nrecheck_interval = \"1h\"\n");
        auto o = isolated();
        o.config_file = file;
        config::ConfigStore store(config::load(o).config);
        config::Reloader reloader(
            store, [&] { return config::load(o); }, util::SystemClock::instance(), 0ms, 0ms);
        config::ConfigWatcher::Options wo;
        wo.files = {file};
        wo.recheck_interval = store.current()->settings().reload.recheck_interval;
        wo.use_inotify = false; // only the periodic re-check notices changes
        config::ConfigWatcher watcher(reloader, wo);
        auto id = config::follow_reload_settings(store, reloader, &watcher);
        watcher.start();
        // As SIGHUP without a watcher does: the 1s interval is applied to the running watcher.
        test::write_file(file, "[reload]\nrecheck_interval = \"1s\"\n");
        CHECK(reloader.reload() == config::ReloadOutcome::applied);
        CHECK(watcher.recheck_interval() == 1s);
        // The re-check (not an hour away any more) notices the next change; the 10s bound
        // is generous, not a measurement.
        test::write_file(file, "[reload]\nrecheck_interval = \"1s\"\n[log]\nlevel = \"error\"\n");
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (store.current()->str("log.level") != "error" &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
        CHECK(store.current()->str("log.level") == "error");
        watcher.stop();
        store.unsubscribe(id);
    }

    TEST_CASE("the watcher applies a Kubernetes symlink swap, and ignores a broken one") {
        TempDir dir;
        auto cm = dir.path() / "config";
        kubernetes_mount(cm, {{"log.level", "info\n"}}, "v1");
        auto o = isolated();
        o.config_dir = cm.string();
        config::ConfigStore store(config::load(o).config);
        config::Reloader reloader(
            store, [&] { return config::load(o); }, util::SystemClock::instance(), 20ms, 200ms);
        config::ConfigWatcher watcher(reloader, {{cm.string()}, {}, 60s});
        watcher.start();
        REQUIRE(watcher.using_inotify());
        auto wait_for = [&](auto predicate) {
            auto deadline = std::chrono::steady_clock::now() + 10s;
            while (!predicate() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(5ms);
            }
            return predicate();
        };
        kubernetes_mount(cm, {{"log.level", "warn\n"}}, "v2");
        CHECK(wait_for([&] { return store.current()->str("log.level") == "warn"; }));
        // An invalid update is rejected; the running value stays.
        kubernetes_mount(cm, {{"log.level", "shouty\n"}}, "v3");
        CHECK(wait_for([&] { return reloader.stats().rejected >= 1; }));
        CHECK(store.current()->str("log.level") == "warn");
        // SIGHUP's path: trigger() reloads at once.
        kubernetes_mount(cm, {{"log.level", "error\n"}}, "v4");
        watcher.trigger();
        CHECK(wait_for([&] { return store.current()->str("log.level") == "error"; }));
        watcher.stop();
    }

    TEST_CASE("without inotify events the periodic re-check notices a change") {
        TempDir dir;
        auto file = dir.file("c.toml", "[log]\nlevel = \"info\"\n");
        auto o = isolated();
        o.config_file = file;
        config::ConfigStore store(config::load(o).config);
        config::Reloader reloader(
            store, [&] { return config::load(o); }, util::SystemClock::instance(), 0ms, 0ms);
        config::ConfigWatcher::Options wo;
        wo.files = {file};
        wo.recheck_interval = 50ms;
        wo.use_inotify = false; // as when inotify instances are exhausted
        config::ConfigWatcher watcher(reloader, wo);
        watcher.start();
        CHECK_FALSE(watcher.using_inotify());
        test::write_file(file, "[log]\nlevel = \"error\"\n");
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (store.current()->str("log.level") != "error" &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(5ms);
        }
        CHECK(store.current()->str("log.level") == "error");
        watcher.stop();
    }
}

// End-to-end: `dataflow config validate|show|schema` and the configuration as every command
// sees it (exit codes 0/1/2/78, output formats, secrets never printed).

#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

using dataflow::test::run_process;
using dataflow::test::TempDir;
namespace fs = std::filesystem;

namespace {

/// Runs dataflow with config and secrets directories of its own, so nothing on this machine
/// (/etc/config) leaks in.
struct Env {
    TempDir dir;
    std::vector<std::string> vars;

    Env() {
        fs::create_directories(dir.path() / "config");
        fs::create_directories(dir.path() / "secrets");
        vars = {"DATAFLOW_CONFIG_DIR=" + (dir.path() / "config").string(),
                "DATAFLOW_SECRETS_DIR=" + (dir.path() / "secrets").string()};
    }
    void config_file(const std::string& name, const std::string& content) const {
        dataflow::test::write_file(dir.path() / "config" / name, content);
    }
    void secret(const std::string& name, const std::string& content) const {
        dataflow::test::write_file(dir.path() / "secrets" / name, content);
    }
    dataflow::test::ProcessResult run(std::vector<std::string> args,
                                      std::vector<std::string> extra = {}) const {
        args.insert(args.begin(), DATAFLOW_BIN);
        auto env = vars;
        env.insert(env.end(), extra.begin(), extra.end());
        return run_process(args, {}, env);
    }
};

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("config cli") {
    TEST_CASE("validate: exit 0 when valid, 1 with every finding, 2 on usage errors") {
        Env env;
        auto ok = env.run({"config", "validate"});
        CHECK(ok.exit_code == 0);
        CHECK(ok.out == "config OK: 0 errors, 0 warnings\n");

        auto file = env.dir.file("c.toml", "[server]\nport = 70000\n[redis]\nprot = 1\n");
        env.config_file("DATAFLOW_REDIS_PORT", "abc\n");
        auto bad = env.run({"config", "validate", "--config", file}, {"DATAFLOW_CACHE_TTL=5"});
        CAPTURE(bad.out);
        CHECK(bad.exit_code == 1);
        CHECK(has(bad.out, file + ":2:8: error: server.port: 70000 is out of range 0..65535\n"));
        CHECK(
            has(bad.out, file + ":4:8: error: redis.prot: unknown key; did you mean redis.port?"));
        CHECK(has(bad.out, "/config/DATAFLOW_REDIS_PORT: error: redis.port: \"abc\" is not an "
                           "integer\n"));
        CHECK(has(bad.out, "env DATAFLOW_CACHE_TTL: warning: unknown variable, ignored; did you "
                           "mean DATAFLOW_CACHE_"));
        CHECK(has(bad.out, "config invalid: 3 errors, 1 warning\n"));
        // The summary is the last line.
        CHECK(bad.out.rfind("config invalid") == bad.out.rfind('\n', bad.out.size() - 2) + 1);

        CHECK(env.run({"config", "validate", "-o", "yaml"}).exit_code == 2);
        CHECK(env.run({"config", "validate", "--environment", "prod-ish"}).exit_code == 2);
        CHECK(env.run({"config", "nonsense"}).exit_code == 2);
        CHECK(env.run({"config"}).exit_code == 2);
    }

    TEST_CASE("validate: --strict, --environment production, --env-file") {
        Env env;
        auto warn = env.run({"config", "validate"}, {"DATAFLOW_SERVR_PORT=1"});
        CHECK(warn.exit_code == 0);
        CHECK(env.run({"config", "validate", "--strict"}, {"DATAFLOW_SERVR_PORT=1"}).exit_code ==
              1);

        auto envfile = env.dir.file("prod.env", "DATAFLOW_CACHE_BACKEND=redis\n"
                                                "DATAFLOW_LOG_LEVEL=debug\n");
        CHECK(env.run({"config", "validate", "--env-file", envfile}).exit_code == 0);
        auto prod =
            env.run({"config", "validate", "--env-file", envfile, "--environment", "production"});
        CAPTURE(prod.out);
        CHECK(prod.exit_code == 1);
        CHECK(has(prod.out, envfile + ":1: error: redis.host: production with distributed "
                                      "caching on 'localhost'"));
        CHECK(has(prod.out, envfile + ":2: error: log.level: 'debug' in production"));
        // Fixed by a ConfigMap file: valid.
        env.config_file("redis.host", "redis.osservatorio.svc.cluster.local\n");
        env.config_file("log.level", "info\n");
        auto fixed = env.run({"config", "validate", "--environment", "production"},
                             {"DATAFLOW_CACHE_BACKEND=redis"});
        CAPTURE(fixed.out);
        CHECK(fixed.exit_code == 0);
    }

    TEST_CASE("validate: json and github formats") {
        Env env;
        auto file = env.dir.file("c.toml", "[server]\nthreads = 0\n");
        auto j = env.run({"config", "validate", "--config", file, "-o", "json"});
        CHECK(j.exit_code == 1);
        auto doc = nlohmann::json::parse(j.out);
        CHECK(doc["valid"] == false);
        CHECK(doc["errors"] == 1);
        CHECK(doc["findings"][0]["file"] == file);
        CHECK(doc["findings"][0]["line"] == 2);
        CHECK(doc["findings"][0]["column"] == 11);
        CHECK(doc["findings"][0]["severity"] == "error");

        auto gh = env.run({"config", "validate", "--config", file, "-o", "github"});
        CHECK(gh.exit_code == 1);
        CHECK(has(gh.out, "::error file=" + file +
                              ",line=2,col=11,title=server.threads::"
                              "server.threads: 0 is out of range 1..1024\n"));
    }

    TEST_CASE("show: TOML and JSON, with sources") {
        Env env;
        env.config_file("server.port", "9000\n");
        auto toml = env.run({"config", "show", "--sources"}, {"DATAFLOW_SERVER_THREADS=3"});
        CHECK(toml.exit_code == 0);
        CHECK(has(toml.out, "port = 9000  # config-dir "));
        CHECK(has(toml.out, "threads = 3  # env DATAFLOW_SERVER_THREADS\n"));
        CHECK(has(toml.out, "metrics_port = 8001  # default\n"));
        auto json = env.run({"config", "show", "-o", "json"});
        CHECK(json.exit_code == 0);
        auto doc = nlohmann::json::parse(json.out);
        CHECK(doc["server"]["port"] == 9000);
        CHECK(doc["upstream"]["source"] == "ISTAT");
        CHECK(doc["upstream"]["base_url"] == ""); // the source's endpoint
        // Global options after the command too.
        auto file = env.dir.file("c.toml", "service_name = \"x\"\n");
        auto after = env.run({"config", "show", "--config", file, "-o", "json"});
        CHECK(nlohmann::json::parse(after.out)["service_name"] == "x");
    }

    TEST_CASE("an invalid configuration: every command exits 78 with the diagnostics") {
        Env env;
        env.config_file("server.port", "eighty\n");
        auto show = env.run({"config", "show"});
        CHECK(show.exit_code == 78);
        CHECK(show.out.empty());
        CHECK(has(show.err, "/config/server.port: server.port: \"eighty\" is not an integer"));
        CHECK(has(show.err, "invalid configuration (1 error); 'dataflow config validate'"));
        auto analyze = env.run({"analyze", dataflow::test::bundled_catalog()});
        CHECK(analyze.exit_code == 78);
        CHECK(analyze.out.empty());
        CHECK(has(analyze.err, "is not an integer"));
        // A bad flag is a usage error.
        Env clean;
        auto flag = clean.run({"analyze", dataflow::test::bundled_catalog(), "--limit", "-2"});
        CHECK(flag.exit_code == 2);
        CHECK(has(flag.err, "flag --limit: analysis.limit: -2 is out of range"));
    }

    TEST_CASE("analyze takes its defaults from the configuration, flags win") {
        Env env;
        env.config_file("dataflow.toml", "[analysis]\nlimit = 3\nmatch = \"word\"\n"
                                         "[log]\nlevel = \"debug\"\n");
        auto r = env.run({"analyze", dataflow::test::bundled_catalog(), "-o", "json"});
        REQUIRE(r.exit_code == 0);
        auto doc = nlohmann::json::parse(r.out);
        std::size_t shown = 0;
        for (auto& [k, list] : doc["categorized_dataflows"].items()) {
            shown += list.size();
        }
        CHECK(shown == 3);
        CHECK(has(r.err, "analysed 456 dataflows")); // log.level = debug from the file
        auto flag = env.run({"analyze", dataflow::test::bundled_catalog(), "-o", "json", "-n", "5",
                             "--log-level", "info"});
        REQUIRE(flag.exit_code == 0);
        shown = 0;
        auto flag_doc = nlohmann::json::parse(flag.out);
        for (auto& [k, list] : flag_doc["categorized_dataflows"].items()) {
            shown += list.size();
        }
        CHECK(shown == 5);
        CHECK(flag.err.empty());
        // Inline rules from the configuration categorise.
        Env rules;
        rules.config_file("rules.toml", "[[analysis.rules]]\ncategory = \"turismo\"\npriority = "
                                        "4\nkeywords = [\"turis\", \"alberghi\"]\n");
        auto t = rules.run({"analyze", dataflow::test::bundled_catalog(), "-o", "json"});
        REQUIRE(t.exit_code == 0);
        auto counts = nlohmann::json::parse(t.out)["category_counts"];
        CHECK(counts.size() == 2);
        CHECK(counts["turismo"].get<int>() > 0);
    }

    TEST_CASE("a canary secret never appears in any output or log") {
        const std::string canary = "CANARY-e2e-51f0d2";
        Env env;
        env.secret("redis_password", canary + "\n");
        env.secret("auth.tokens", canary + "-token-0123456789\n");
        env.config_file("DATAFLOW_CACHE_BACKEND", "redis\n");
        env.config_file("redis.host", "redis.example\n");
        std::vector<std::string> extra = {"DATAFLOW_AUTH_JWT_SECRET=" + canary,
                                          "DATAFLOW_JWT_SECRET=" + canary};
        std::vector<std::vector<std::string>> commands = {
            {"config", "show"},
            {"config", "show", "--sources"},
            {"config", "show", "-o", "json", "--sources"},
            {"config", "validate"},
            {"config", "validate", "-o", "json"},
            {"config", "validate", "-o", "github", "--environment", "production"},
            {"--log-level", "trace", "analyze", dataflow::test::bundled_catalog(), "-o", "json"},
            {"--log-format", "json", "--log-level", "trace", "config", "show"},
        };
        for (const auto& c : commands) {
            auto r = env.run(c, extra);
            CAPTURE(c[0] + " " + c[1]);
            CHECK(r.exit_code == 0);
            CHECK_FALSE(has(r.out, "CANARY"));
            CHECK_FALSE(has(r.err, "CANARY"));
        }
        auto shown = env.run({"config", "show"}, extra);
        CHECK(has(shown.out, "password = \"***\"\n"));
        // Also when the configuration around it is invalid.
        env.config_file("server.port", "x\n");
        auto bad = env.run({"config", "show"}, extra);
        CHECK(bad.exit_code == 78);
        CHECK_FALSE(has(bad.err, "CANARY"));
    }

    TEST_CASE("schema prints the reference") {
        Env env;
        auto md = env.run({"config", "schema"});
        CHECK(md.exit_code == 0);
        CHECK(md.out == dataflow::test::read_file(std::string(DATAFLOW_SOURCE_DIR) +
                                                  "/docs/CONFIGURATION.md"));
        auto man = env.run({"config", "schema", "-o", "man"});
        CHECK(has(man.out, ".B server.port\n"));
    }
}

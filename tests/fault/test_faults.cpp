// Faults while under load: a load generator sends a steady rate of mixed requests to a real
// `dataflow serve` (real Redis, fake SDMX upstream) and every response is counted while Redis
// dies, the upstream misbehaves, the process is stopped or killed, or the configuration changes.

#include "support/fake_upstream.hpp"
#include "support/load.hpp"
#include "support/redis_server.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <httplib.h>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

using dataflow::test::eventually;
using dataflow::test::FakeResponse;
using dataflow::test::FakeUpstream;
using dataflow::test::Faults;
using dataflow::test::LoadGenerator;
using dataflow::test::LoadRequest;
using dataflow::test::RedisServer;
using dataflow::test::ServeProcess;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string k_admin = "fault-admin-token-0123456789abcdef";

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string small_catalogue() {
    return dataflow::test::read_file(std::string(DATAFLOW_SOURCE_DIR) +
                                     "/tests/fuzz/corpus/fuzz_catalog_xml/istat-5-flows.xml");
}

/// The mixed load: probes, the served catalogue (list and one entry), analyses of a posted
/// document (cached after the first), and one that asks for probe results (scheduled in the
/// background, never waited for).
std::vector<LoadRequest> mixed_load() {
    nlohmann::json body{{"xml_content", small_catalogue()}, {"include_tests", false}};
    nlohmann::json with_tests{{"xml_content", small_catalogue()}, {"include_tests", true}};
    return {
        {"GET", "/health/ready", "", ""},
        {"GET", "/api/v1/dataflows?limit=5", "", ""},
        {"POST", "/api/analysis/dataflow", body.dump(), "application/json"},
        {"GET", "/api/v1/dataflows/101_1015", "", ""},
        {"POST", "/api/analysis/dataflow", with_tests.dump(), "application/json"},
    };
}

/// Polls one path every 100 ms on its own connection; records each status.
struct Poller {
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::vector<std::pair<Clock::time_point, int>> seen;
    std::thread thread;

    Poller(int port, std::string path) {
        thread = std::thread([this, port, path] {
            while (!stop) {
                httplib::Client c("127.0.0.1", port);
                c.set_connection_timeout(1s);
                c.set_read_timeout(2s);
                auto r = c.Get(path);
                {
                    std::lock_guard lock(mutex);
                    seen.emplace_back(Clock::now(), r ? r->status : 0);
                }
                std::this_thread::sleep_for(100ms);
            }
        });
    }
    ~Poller() { finish(); }
    void finish() {
        stop = true;
        if (thread.joinable()) {
            thread.join();
        }
    }
    std::vector<std::pair<Clock::time_point, int>> results() {
        std::lock_guard lock(mutex);
        return seen;
    }
};

/// The value of one sample of the Prometheus text at /metrics (sum over matching lines).
double metric(const ServeProcess& s, const std::string& name_and_labels) {
    auto r = s.client().Get("/metrics");
    if (!r) {
        return -1;
    }
    double sum = 0;
    std::istringstream in(r->body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(name_and_labels, 0) == 0) {
            sum += std::stod(line.substr(line.rfind(' ') + 1));
        }
    }
    return sum;
}

/// Every value of the samples whose line starts with `prefix`.
std::vector<double> metric_values(const ServeProcess& s, const std::string& prefix) {
    std::vector<double> out;
    auto r = s.client().Get("/metrics");
    if (!r) {
        return out;
    }
    std::istringstream in(r->body);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) == 0) {
            out.push_back(std::stod(line.substr(line.rfind(' ') + 1)));
        }
    }
    return out;
}

struct Setup {
    RedisServer redis;
    FakeUpstream upstream;
    std::vector<std::string> env;
    std::unique_ptr<ServeProcess> server;

    explicit Setup(std::vector<std::string> extra = {}) {
        upstream.route("/rest/dataflow/*",
                       FakeResponse{200,
                                    dataflow::test::read_file(dataflow::test::bundled_catalog()),
                                    "application/xml",
                                    {},
                                    {}});
        upstream.route("/rest/data/*",
                       FakeResponse{200,
                                    dataflow::test::read_file(dataflow::test::sample(
                                        "khaeru__sdmx-test-data/ISTAT/22_289.xml")),
                                    "application/xml",
                                    {},
                                    {}});
        env = dataflow::test::merge_env(
            {"DATAFLOW_CACHE_BACKEND=redis", "DATAFLOW_REDIS_HOST=127.0.0.1",
             "DATAFLOW_REDIS_PORT=" + std::to_string(redis.port()),
             "DATAFLOW_UPSTREAM_BASE_URL=" + upstream.base(), "DATAFLOW_CATALOG_MODE=upstream",
             "DATAFLOW_API_ADMIN_ENABLED=true", "DATAFLOW_AUTH_MODE=token",
             "DATAFLOW_AUTH_ADMIN_TOKENS=" + k_admin},
            extra);
        start();
    }
    void start() {
        server = std::make_unique<ServeProcess>(env, std::vector<std::string>{"--no-catalog"});
    }
    httplib::Client client() const {
        auto c = server->client();
        c.set_bearer_token_auth(k_admin.c_str());
        return c;
    }
    bool catalogue_served(std::chrono::milliseconds within) const {
        return eventually(
            [&] {
                auto r = client().Get("/api/v1/dataflows?limit=1");
                return r && r->status == 200;
            },
            within);
    }
    std::unique_ptr<LoadGenerator> load(double rate) const {
        return std::make_unique<LoadGenerator>(server->port, mixed_load(), rate, 4, k_admin);
    }
};

std::string describe(const dataflow::test::LoadSummary& s) {
    return "sent " + std::to_string(s.sent) + ", 2xx " + std::to_string(s.ok) + ", 4xx " +
           std::to_string(s.client_err) + ", 5xx " + std::to_string(s.server_err) +
           ", no response " + std::to_string(s.transport) + ", max latency " +
           std::to_string(s.max_latency.count()) + " ms" +
           (s.first_problem.empty() ? "" : "; first problem: " + s.first_problem);
}

/// Every request of the mixed load is valid and authorised, so each kind must be answered with
/// 2xx (at least `min_each` times) and none with 4xx: a regression answering 400, 401 or 404 to
/// everything fails here, not only one that answers 5xx. Answers sent in [from, to) count.
void check_expected_mix(const LoadGenerator& load, std::size_t min_each,
                        Clock::time_point from = {},
                        Clock::time_point to = Clock::time_point::max()) {
    std::map<std::string, std::map<int, std::size_t>> by_path; // path -> status class -> count
    for (const auto& o : load.outcomes()) {
        if (o.sent >= from && o.sent < to && o.status != 0) {
            ++by_path[o.path][o.status / 100];
            if (o.status / 100 == 4) {
                INFO(o.path << ": " << o.status << " " << o.body_head);
                CHECK(o.status / 100 != 4);
            }
        }
    }
    std::set<std::string> paths;
    for (const auto& r : mixed_load()) {
        paths.insert(r.path);
    }
    for (const auto& path : paths) {
        INFO("path " << path << ": 2xx " << by_path[path][2] << ", 4xx " << by_path[path][4]
                     << ", 5xx " << by_path[path][5]);
        CHECK(by_path[path][2] >= min_each);
        CHECK(by_path[path][4] == 0);
    }
}

} // namespace

TEST_SUITE("fault") {
    TEST_CASE("Redis killed for 10 s under load: no 5xx, ready stays 200, hits resume") {
        Setup setup;
        REQUIRE(setup.catalogue_served(15s));
        auto load = setup.load(40);
        Poller ready(setup.server->port, "/health/ready");
        std::this_thread::sleep_for(2s);
        CHECK(metric(*setup.server,
                     "dataflow_cache_requests_total{backend=\"redis\",result=\"hit\"") > 0);

        setup.redis.stop();
        CHECK(eventually(
            [&] { return has(setup.client().Get("/health/status?verbose")->body, "[-]redis"); },
            10s));
        std::this_thread::sleep_for(8s);
        setup.redis.start();
        auto back = Clock::now();
        CHECK(eventually(
            [&] { return has(setup.client().Get("/health/status?verbose")->body, "[+]redis ok"); },
            15s));
        auto hits_back =
            metric(*setup.server, "dataflow_cache_requests_total{backend=\"redis\",result=\"hit\"");
        CHECK(eventually(
            [&] {
                return metric(*setup.server,
                              "dataflow_cache_requests_total{backend=\"redis\",result=\"hit\"") >
                       hits_back;
            },
            10s));
        auto resumed = std::chrono::duration<double>(Clock::now() - back).count();
        MESSAGE("cache hits resumed " << resumed << " s after Redis came back");
        load->stop();
        ready.finish();
        auto summary = load->summary();
        INFO(describe(summary));
        MESSAGE(describe(summary));
        CHECK(summary.sent > 400);
        CHECK(summary.server_err == 0);
        CHECK(summary.transport == 0);
        // Including the 10 s without Redis: answered from memory, never refused.
        check_expected_mix(*load, 20);
        for (const auto& [at, status] : ready.results()) {
            CHECK(status == 200);
        }
    }

    TEST_CASE("upstream faults under load: bounded waits, breaker opens, stale answers") {
        struct Kind {
            const char* name;
            Faults faults;
        };
        std::vector<Kind> kinds;
        {
            Faults f;
            f.fail_next = 1'000'000;
            f.fail_status = 500;
            kinds.push_back({"500 for everything", f});
        }
        {
            Faults f;
            f.hang = true;
            kinds.push_back({"hangs", f});
        }
        {
            Faults f;
            f.drip_interval = 400ms;
            f.drip_bytes = 16;
            kinds.push_back({"drips slowly", f});
        }
        {
            Faults f;
            f.reset = true;
            kinds.push_back({"resets connections", f});
        }
        {
            Faults f;
            f.truncate_at = 2000;
            kinds.push_back({"truncated bodies", f});
        }
        for (const auto& kind : kinds) {
            std::string kind_name = kind.name;
            INFO("upstream " << kind_name);
            Setup setup(
                {"DATAFLOW_UPSTREAM_STRUCTURE_CONNECT_TIMEOUT=1s",
                 "DATAFLOW_UPSTREAM_STRUCTURE_READ_TIMEOUT=1s",
                 "DATAFLOW_UPSTREAM_STRUCTURE_DEADLINE=2s",
                 "DATAFLOW_UPSTREAM_DATA_CONNECT_TIMEOUT=1s",
                 "DATAFLOW_UPSTREAM_DATA_READ_TIMEOUT=1s", "DATAFLOW_UPSTREAM_DATA_DEADLINE=2s",
                 "DATAFLOW_UPSTREAM_RETRIES=0", "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=600",
                 "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=20", "DATAFLOW_BREAKER_FAILURE_THRESHOLD=3",
                 "DATAFLOW_BREAKER_OPEN_DURATION=60s"});
            REQUIRE(setup.catalogue_served(15s));
            setup.upstream.set_faults(kind.faults);
            auto fault_start = Clock::now();
            auto before = setup.upstream.request_count();
            auto load = setup.load(30);
            Poller live(setup.server->port, "/health/live");
            // The service wants the upstream all the time: a forced refresh every 200 ms.
            std::atomic<bool> stop{false};
            std::thread refresher([&] {
                auto c = setup.client();
                while (!stop) {
                    c.Post("/api/v1/catalog/refresh");
                    std::this_thread::sleep_for(200ms);
                }
            });
            bool stale = eventually(
                [&] {
                    auto r = setup.client().Get("/api/v1/dataflows?limit=1");
                    return r && r->status == 200 && nlohmann::json::parse(r->body)["stale"] == true;
                },
                10s);
            CHECK(stale);
            // Both breakers (catalogue and data calls to the host) open.
            bool open = eventually(
                [&] {
                    auto states = metric_values(*setup.server,
                                                "dataflow_circuit_breaker_state{name=\"127.0.0.1:" +
                                                    std::to_string(setup.upstream.port()) + "/");
                    return states.size() >= 2 && std::all_of(states.begin(), states.end(),
                                                             [](double v) { return v == 2; });
                },
                15s);
            if (!open) {
                auto m = setup.server->client().Get("/metrics")->body;
                std::string lines;
                std::istringstream in(m);
                for (std::string line; std::getline(in, line);) {
                    if (line.find("breaker_state{") != std::string::npos ||
                        line.find("upstream_requests_total{") != std::string::npos) {
                        lines += line + "\n";
                    }
                }
                MESSAGE(lines);
            }
            CHECK(open);
            // Once open, the breaker bounds the calls: a few more seconds of wanting, none
            // more reach the upstream.
            auto at_open = setup.upstream.request_count();
            std::this_thread::sleep_for(3s);
            auto after = setup.upstream.request_count();
            stop = true;
            refresher.join();
            load->stop();
            live.finish();
            auto summary = load->summary();
            MESSAGE("upstream " << kind_name << ": " << describe(summary) << "; upstream calls "
                                << (after - before) << " ("
                                << std::chrono::duration<double>(Clock::now() - fault_start).count()
                                << " s)");
            CHECK(after == at_open);
            // Each breaker (catalogue, data) lets through its failure threshold (3), no more.
            CHECK(after - before <= 2 * 3);
            CHECK(summary.server_err == 0);
            CHECK(summary.transport == 0);
            check_expected_mix(*load, 5);
            // No request waited on the upstream, let alone longer than its 2 s deadline.
            CHECK(summary.max_latency < 2000ms);
            for (const auto& [at, status] : live.results()) {
                CHECK(status == 200);
            }
        }
    }

    TEST_CASE("SIGTERM mid-load: readiness flips first, nothing accepted is lost, exit 0") {
        Setup setup({"DATAFLOW_SERVER_DRAIN_DELAY=1s", "DATAFLOW_SERVER_SHUTDOWN_TIMEOUT=10s"});
        REQUIRE(setup.catalogue_served(15s));
        auto load = setup.load(60);
        Poller ready(setup.server->port, "/health/ready");
        std::this_thread::sleep_for(2s);
        auto signalled = Clock::now();
        setup.server->process->signal(SIGTERM);
        auto code = setup.server->process->wait(20s);
        auto exited = Clock::now();
        load->stop();
        ready.finish();
        CHECK(code == 0);
        CHECK(exited - signalled < 1s + 10s);
        // Readiness turned 503 before the listener closed.
        bool flipped = false;
        for (const auto& [at, status] : ready.results()) {
            if (at > signalled && status == 503) {
                flipped = true;
                CHECK(at - signalled < 1s);
                break;
            }
        }
        CHECK(flipped);
        // Every request sent before the listener closed got a complete answer; after that,
        // connections are refused (never accepted and then dropped).
        std::size_t answered = 0;
        std::size_t refused = 0;
        for (const auto& o : load->outcomes()) {
            if (o.status != 0) {
                ++answered;
                INFO(o.path << ": " << o.status << " " << o.body_head);
                if (o.path == "/health/ready" && o.status == 503) {
                    // Answered while draining (latency is whole milliseconds: allow one).
                    CHECK(o.sent + o.latency + 1ms >= signalled);
                } else {
                    CHECK(o.status < 500);
                }
            } else {
                INFO(o.path << ": " << o.error);
                // Never received: the connect was refused, or the request was written to a
                // keep-alive connection the server had closed at stop (clients retry those). A
                // Read error would mean a request taken in and then cut off.
                CHECK((o.error == httplib::to_string(httplib::Error::Connection) ||
                       o.error == httplib::to_string(httplib::Error::Write)));
                CHECK(o.sent > signalled + 900ms);
                ++refused;
            }
        }
        MESSAGE("SIGTERM under load: " << answered << " answered, " << refused
                                       << " refused after the listener closed, exit after "
                                       << std::chrono::duration<double>(exited - signalled).count()
                                       << " s");
        CHECK(answered > 100);
        // Before the signal every kind of request was answered 2xx, and nothing ever got 4xx.
        check_expected_mix(*load, 10, {}, signalled);
        CHECK(load->summary().client_err == 0);
    }

    TEST_CASE("SIGKILL and restart: ready without the network, catalogue from Redis intact") {
        Setup setup;
        REQUIRE(setup.catalogue_served(15s));
        auto load = setup.load(40);
        std::this_thread::sleep_for(1s);
        auto killed = Clock::now();
        setup.server->process->signal(SIGKILL);
        setup.server->process->wait(5s);
        load->stop();
        check_expected_mix(*load, 3, {}, killed - 200ms);
        auto calls = setup.upstream.request_count();
        auto restarted = Clock::now();
        setup.start();
        bool ready = eventually(
            [&] {
                auto r = setup.server->client().Get("/health/ready");
                return r && r->status == 200;
            },
            5s);
        auto ready_after = Clock::now() - restarted;
        CHECK(ready);
        // Readiness needs no upstream call (checked below) and no Redis round trip on the
        // path: the bound is for a slow sanitizer build on 2 cores, the figure is in bench/.
        CHECK(ready_after < 4s);
        // The catalogue comes back from Redis (warm), not from the upstream.
        httplib::Result r{nullptr, httplib::Error::Unknown};
        bool served = eventually(
            [&] {
                r = setup.client().Get("/api/v1/dataflows?limit=3");
                return r && r->status == 200;
            },
            5s);
        auto served_after = Clock::now() - restarted;
        REQUIRE(served);
        MESSAGE("first catalogue served "
                << std::chrono::duration<double, std::milli>(served_after).count()
                << " ms after restart (warm Redis)");
        CHECK(served_after < 5s);
        auto doc = nlohmann::json::parse(r->body);
        CHECK(doc["total_analyzed"].get<int>() > 400);
        CHECK(setup.upstream.request_count() == calls); // served from the shared cache
        MESSAGE("ready " << std::chrono::duration<double, std::milli>(ready_after).count()
                         << " ms after restart");
    }

    TEST_CASE("configuration changes under load: an invalid one is rejected, a valid one applies") {
        Setup setup({"DATAFLOW_RELOAD_DEBOUNCE=100ms"});
        REQUIRE(setup.catalogue_served(15s));
        auto load = setup.load(40);
        auto rules = [&] { return setup.client().Get("/api/analysis/rules")->body; };
        auto file = setup.server->config_dir() / "dataflow.toml";
        std::this_thread::sleep_for(1s);

        dataflow::test::write_file(file, "[server]\nthreads = \"many\"\n");
        CHECK(eventually(
            [&] { return metric(*setup.server, "dataflow_config_last_reload_successful ") == 0; },
            10s));
        CHECK_FALSE(has(rules(), "fault_only"));
        std::this_thread::sleep_for(1s);

        dataflow::test::write_file(file, "[[analysis.rules]]\ncategory = \"fault_only\"\n"
                                         "keywords = [\"zzz\"]\npriority = 1\n");
        CHECK(eventually([&] { return has(rules(), "fault_only"); }, 10s));
        CHECK(metric(*setup.server, "dataflow_config_last_reload_successful ") == 1);
        std::this_thread::sleep_for(1s);
        load->stop();
        auto summary = load->summary();
        MESSAGE("config changes under load: " << describe(summary));
        CHECK(summary.server_err == 0);
        CHECK(summary.transport == 0);
        check_expected_mix(*load, 10);
        CHECK(summary.sent > 100);
    }
}

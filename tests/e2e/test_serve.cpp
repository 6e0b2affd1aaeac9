// End-to-end: `dataflow serve` on port 0 with a temp configuration — routes and status codes,
// probes, metrics (promtool), auth, draining, SIGTERM under load, `dataflow health`.

#include "service/auth.hpp"
#include "support/fake_upstream.hpp"
#include "support/process.hpp"
#include "support/redis_server.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using dataflow::test::Faults;
using dataflow::test::Process;
using dataflow::test::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

/// A running `dataflow serve` with its own config directory.
using Server = dataflow::test::ServeProcess;

std::string catalogue() {
    return dataflow::test::read_file(dataflow::test::bundled_catalog());
}

std::string analysis_body(const std::string& xml, const std::string& extra = {}) {
    nlohmann::json j{{"xml_content", xml}, {"include_tests", false}};
    auto s = j.dump();
    if (!extra.empty()) {
        s.pop_back();
        s += "," + extra + "}";
    }
    return s;
}

void expect_error_shape(const httplib::Result& r, int status, const std::string& fragment) {
    REQUIRE(r);
    CAPTURE(r->body);
    CHECK(r->status == status);
    auto j = nlohmann::json::parse(r->body);
    CHECK(j["success"] == false);
    CHECK(j.contains("error_type"));
    CHECK(j.contains("error_code"));
    CHECK(j["request_id"] == r->get_header_value("X-Request-ID"));
    CHECK(has(j["detail"].get<std::string>(), fragment));
    CHECK(r->get_header_value("Content-Type") == "application/json");
}

} // namespace

TEST_SUITE("serve") {
    TEST_CASE("probes: startup, live, ready, status, kube-style verbose and exclude") {
        Server s;
        auto c = s.client();
        for (const char* path :
             {"/health/startup", "/health/live", "/livez", "/health/ready", "/readyz"}) {
            auto r = c.Get(path);
            REQUIRE(r);
            CAPTURE(path);
            CHECK(r->status == 200);
            CHECK_FALSE(r->get_header_value("X-Request-ID").empty());
        }
        auto verbose = c.Get("/readyz?verbose");
        CHECK(has(verbose->body, "[+]config ok"));
        CHECK(has(verbose->body, "[+]catalog ok"));
        CHECK(has(verbose->body, "readyz check passed"));
        auto excluded = c.Get("/readyz?verbose&exclude=catalog");
        CHECK_FALSE(has(excluded->body, "catalog"));
        auto status = c.Get("/health/status");
        REQUIRE(status->status == 200);
        auto j = nlohmann::json::parse(status->body);
        CHECK(j["status"] == "healthy");
        CHECK(j["service"] == "dataflow-analyzer");
        CHECK(j["checks"].size() >= 5);
        CHECK(has(c.Get("/health/status?verbose")->body, "[+]memory ok"));
    }

    TEST_CASE("analysis: the analyze document with success and message, errors are 400") {
        Server s;
        auto c = s.client();
        auto r = c.Post("/api/analysis/dataflow", analysis_body(catalogue()), "application/json");
        REQUIRE(r);
        CAPTURE(r->body.substr(0, 300));
        REQUIRE(r->status == 200);
        auto j = nlohmann::json::parse(r->body);
        CHECK(j["success"] == true);
        CHECK(j["message"] == "Successfully analyzed 456 dataflows");
        CHECK(j["total_analyzed"] == 456);
        CHECK(j["categorized_dataflows"]["lavoro"].size() > 0);
        CHECK(j["request_id"] == r->get_header_value("X-Request-ID"));
        // The same numbers as the CLI.
        auto cli = dataflow::test::run_process(
            {DATAFLOW_BIN, "analyze", dataflow::test::bundled_catalog(), "-o", "json"}, {},
            {"DATAFLOW_CONFIG_DIR=" + (s.dir.path() / "cfg").string()});
        auto k = nlohmann::json::parse(cli.out);
        CHECK(j["category_counts"] == k["category_counts"]);
        CHECK(j["categorized_dataflows"] == k["categorized_dataflows"]);

        auto filtered =
            c.Post("/api/analysis/dataflow",
                   analysis_body(
                       catalogue(),
                       R"("categories": ["lavoro"], "max_results": 3, "min_relevance_score": 8)"),
                   "application/json");
        auto f = nlohmann::json::parse(filtered->body);
        CHECK(f["categorized_dataflows"].size() == 1);
        CHECK(f["categorized_dataflows"]["lavoro"].size() == 3);

        expect_error_shape(
            c.Post("/api/analysis/dataflow", analysis_body("<a><b></a>"), "application/json"), 400,
            "xml_content:1:9:");
        expect_error_shape(c.Post("/api/analysis/dataflow", "{not json", "application/json"), 400,
                           "must be a JSON object");
        expect_error_shape(c.Post("/api/analysis/dataflow",
                                  analysis_body(catalogue(), R"("categories": ["sport"])"),
                                  "application/json"),
                           400, "valid categories: popolazione");
        expect_error_shape(
            c.Post("/api/analysis/dataflow", R"({"max_results": 5})", "application/json"), 400,
            "give exactly one of xml_content");
        expect_error_shape(c.Post("/api/analysis/dataflow", R"({"xml_file_path": "/etc/passwd"})",
                                  "application/json"),
                           400, "xml_file_path is disabled");
        expect_error_shape(c.Get("/no/such/route"), 404, "no such route");
        // A request id from the caller is kept; a bad one is replaced.
        httplib::Headers h{{"X-Request-ID", "abc-123"}};
        CHECK(c.Get("/health/live", h)->get_header_value("X-Request-ID") == "abc-123");
        httplib::Headers bad{{"X-Request-ID", "bad id with spaces"}};
        CHECK(c.Get("/health/live", bad)->get_header_value("X-Request-ID") != "bad id with spaces");
    }

    TEST_CASE("xml_file_path only inside api.file_root, no escape") {
        TempDir root;
        fs::create_directories(root.path() / "data");
        fs::copy_file(dataflow::test::bundled_catalog(), root.path() / "data" / "it1.xml");
        TempDir outside;
        auto secret = outside.file("secret.xml", catalogue());
        fs::create_symlink(secret, root.path() / "data" / "link.xml");
        Server s({"DATAFLOW_API_FILE_ROOT=" + root.path().string()});
        auto c = s.client();
        auto ok = c.Post("/api/analysis/dataflow",
                         R"({"xml_file_path": "data/it1.xml", "include_tests": false})",
                         "application/json");
        REQUIRE(ok);
        CHECK(ok->status == 200);
        for (const char* path : {"../etc/passwd", "data/../../x.xml", "data/link.xml",
                                 "/etc/passwd", "data/missing.xml"}) {
            CAPTURE(path);
            auto r =
                c.Post("/api/analysis/dataflow",
                       std::string(R"({"xml_file_path": ")") + path + "\"}", "application/json");
            REQUIRE(r);
            CHECK(r->status == 400);
            CHECK(has(r->body, "inside api.file_root"));
        }
    }

    TEST_CASE("upload, bulk, rules and the served catalogue") {
        Server s;
        auto c = s.client();
        httplib::MultipartFormDataItems items{{"file", catalogue(), "it1.xml", "application/xml"}};
        auto up = c.Post("/api/analysis/dataflow/"
                         "upload?categories=lavoro,salute&max_results=4&include_tests=false",
                         items);
        REQUIRE(up);
        CAPTURE(up->body.substr(0, 300));
        CHECK(up->status == 200);
        auto u = nlohmann::json::parse(up->body);
        CHECK(u["categorized_dataflows"].size() == 2);
        expect_error_shape(c.Post("/api/analysis/dataflow/upload?categories=sport", items), 400,
                           "valid categories");
        httplib::MultipartFormDataItems wrong{{"other", "x", "x.xml", "application/xml"}};
        expect_error_shape(c.Post("/api/analysis/dataflow/upload", wrong), 400, "field 'file'");

        auto bulk = c.Post("/api/analysis/dataflow/bulk",
                           R"({"dataflow_ids": ["22_289", "NOPE_1"], "include_tests": false})",
                           "application/json");
        REQUIRE(bulk);
        CAPTURE(bulk->body);
        REQUIRE(bulk->status == 200);
        auto b = nlohmann::json::parse(bulk->body);
        CHECK(b["requested_count"] == 2);
        CHECK(b["successful_count"] == 1);
        CHECK(b["failed_count"] == 1);
        CHECK(b["errors"][0] == "unknown dataflow id: NOPE_1");
        REQUIRE(b["results"].size() == 1);
        CHECK(b["results"][0]["dataflow"]["id"] == "22_289");
        CHECK(b["results"][0]["dataflow"]["category"] != "");
        std::string many = R"({"dataflow_ids": [)";
        for (int i = 0; i < 51; ++i) {
            many += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
        }
        many += "]}";
        expect_error_shape(c.Post("/api/analysis/dataflow/bulk", many, "application/json"), 400,
                           "give 1 to 50");

        auto rules = nlohmann::json::parse(c.Get("/api/analysis/rules")->body);
        CHECK(rules["rules"].size() == 6);
        CHECK(rules["rules"][0]["rule_id"] == "pop_rule");

        auto list = c.Get("/api/v1/dataflows?category=lavoro&limit=5&sort=id");
        REQUIRE(list->status == 200);
        auto l = nlohmann::json::parse(list->body);
        CHECK(l["categorized_dataflows"]["lavoro"].size() == 5);
        CHECK(l["stale"] == false);
        CHECK(l["catalog_age_seconds"].get<double>() >= 0);
        auto q = nlohmann::json::parse(c.Get("/api/v1/dataflows?q=disoccupazione&limit=0")->body);
        CHECK(q["returned_count"].get<int>() > 0);
        auto one = c.Get("/api/v1/dataflows/22_289");
        REQUIRE(one->status == 200);
        CHECK(nlohmann::json::parse(one->body)["dataflow"]["id"] == "22_289");
        expect_error_shape(c.Get("/api/v1/dataflows/NOPE"), 404, "no dataflow 'NOPE'");
        expect_error_shape(c.Get("/api/v1/dataflows?sort=sideways"), 400, "sort");
    }

    TEST_CASE("include_tests never waits: missing probes are pending") {
        Server s;
        auto c = s.client();
        auto start = std::chrono::steady_clock::now();
        auto r = c.Post("/api/analysis/dataflow",
                        R"({"xml_content": )" + nlohmann::json(catalogue()).dump() +
                            R"(, "include_tests": true, "max_results": 20})",
                        "application/json");
        REQUIRE(r);
        CHECK(std::chrono::steady_clock::now() - start < 5s);
        auto j = nlohmann::json::parse(r->body);
        REQUIRE(j["test_results"].size() == 10); // api.max_probes_per_request
        for (const auto& t : j["test_results"]) {
            CHECK(t["test"]["status"] == "pending");
            CHECK(t["test"]["outcome"] == "pending");
        }
    }

    TEST_CASE("over server.max_concurrent_analyses without a queue: 503 with Retry-After") {
        Server s(
            {"DATAFLOW_SERVER_MAX_CONCURRENT_ANALYSES=1", "DATAFLOW_SERVER_ANALYSIS_QUEUE_SIZE=0"});
        auto xml = catalogue();
        auto first = xml.find("<structure:Dataflow ");
        auto last = xml.rfind("</structure:Dataflows>");
        std::string big = xml.substr(0, first);
        for (int i = 0; i < 20; ++i) {
            big += xml.substr(first, last - first);
        }
        big += xml.substr(last);
        std::atomic<int> ok{0};
        std::atomic<int> busy{0};
        std::atomic<int> other{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 8; ++i) {
            threads.emplace_back([&, i] {
                // Each a different analysis: a repeated one is answered from the cache.
                auto body = analysis_body(big, "\"max_results\": " + std::to_string(10 + i));
                auto c = s.client();
                auto r = c.Post("/api/analysis/dataflow", body, "application/json");
                if (r && r->status == 200) {
                    ++ok;
                } else if (r && r->status == 503 && r->get_header_value("Retry-After") == "1" &&
                           has(r->body, "\"error_code\": \"busy\"")) {
                    ++busy;
                } else {
                    ++other;
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        CHECK(ok >= 1);
        CHECK(busy >= 1);
        CHECK(other == 0);
    }

    TEST_CASE("SIGHUP and the directory watcher reload rules and settings live") {
        Server s;
        auto c = s.client();
        CHECK(nlohmann::json::parse(c.Get("/api/analysis/rules")->body)["rules"].size() == 6);
        dataflow::test::write_file(s.dir.path() / "cfg" / "rules.toml",
                                   "[[analysis.rules]]\ncategory = \"sport\"\npriority = 3\n"
                                   "keywords = [\"calcio\"]\n");
        s.process->signal(SIGHUP);
        auto deadline = std::chrono::steady_clock::now() + 10s;
        bool reloaded = false;
        while (!reloaded && std::chrono::steady_clock::now() < deadline) {
            auto rules = nlohmann::json::parse(c.Get("/api/analysis/rules")->body);
            reloaded = rules["rules"].size() == 1 && rules["rules"][0]["category"] == "sport";
            std::this_thread::sleep_for(50ms);
        }
        CHECK(reloaded);
        // An invalid change is rejected: the rules stay, readiness reports it as degraded.
        dataflow::test::write_file(s.dir.path() / "cfg" / "log.level", "loud\n");
        s.process->signal(SIGHUP);
        REQUIRE(s.process->wait_for_err("configuration reload rejected", 10s));
        CHECK(nlohmann::json::parse(c.Get("/api/analysis/rules")->body)["rules"][0]["category"] ==
              "sport");
        auto ready = c.Get("/readyz?verbose");
        CHECK(ready->status == 200);
        CHECK(has(ready->body, "[-]config degraded: the last reload was rejected"));
        auto metrics = c.Get("/metrics")->body;
        CHECK(has(metrics, "dataflow_config_last_reload_successful 0"));
    }

    TEST_CASE("metrics on their own port, CORS only for configured origins") {
        int metrics_port = 0;
        {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
            socklen_t len = sizeof addr;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
            metrics_port = ntohs(addr.sin_port);
            ::close(fd);
        }
        Server s({"DATAFLOW_API_CORS_ORIGINS=https://dashboard.example.org"},
                 {"--metrics-port", std::to_string(metrics_port)});
        auto c = s.client();
        httplib::Client m("127.0.0.1", metrics_port);
        auto r = m.Get("/metrics");
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(has(r->body, "dataflow_build_info"));
        CHECK(c.Get("/metrics")->status == 404); // not on the API port
        httplib::Headers from{{"Origin", "https://dashboard.example.org"}};
        CHECK(c.Get("/api/analysis/rules", from)->get_header_value("Access-Control-Allow-Origin") ==
              "https://dashboard.example.org");
        httplib::Headers other{{"Origin", "https://evil.example"}};
        CHECK(c.Get("/api/analysis/rules", other)
                  ->get_header_value("Access-Control-Allow-Origin")
                  .empty());
    }

    TEST_CASE("the upstream catalogue loads in the background, probes are measured in the "
              "background and then reported") {
        dataflow::test::FakeUpstream fake;
        fake.route("/rest/dataflow/IT1", {200, catalogue(), "application/xml", {}, {}});
        fake.route("/rest/data/*", {200,
                                    dataflow::test::read_file(dataflow::test::sample(
                                        "AndreaBozzo__Osservatorio/data_124_1157.xml")),
                                    "application/xml",
                                    {},
                                    {}});
        Server s({"DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
                  "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
                  "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100"},
                 {"--no-catalog"});
        auto c = s.client();
        CHECK(c.Get("/health/ready")->status == 200); // never waits for the upstream
        auto deadline = std::chrono::steady_clock::now() + 20s;
        std::string body;
        int status = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            auto list = c.Get("/api/v1/dataflows?limit=3");
            REQUIRE(list);
            status = list->status;
            body = list->body;
            if (status == 200) {
                break;
            }
            CHECK(status == 503);
            CHECK(list->get_header_value("Retry-After") == "30");
            std::this_thread::sleep_for(50ms);
        }
        REQUIRE(status == 200);
        auto l = nlohmann::json::parse(body);
        CHECK(l["total_analyzed"] == 456);
        CHECK(l["source"]["name"] == fake.base() + "/dataflow/IT1");
        // Bulk with include_tests: pending first, measured in the background, then reported.
        auto ask = [&] {
            return nlohmann::json::parse(
                c.Post("/api/analysis/dataflow/bulk",
                       R"({"dataflow_ids": ["22_289", "101_1015"], "include_tests": true})",
                       "application/json")
                    ->body);
        };
        auto first = ask();
        CHECK(first["results"][0]["test"]["status"] == "pending");
        bool measured = false;
        while (!measured && std::chrono::steady_clock::now() < deadline) {
            auto again = ask();
            measured = again["results"].size() == 2 &&
                       again["results"][0]["test"]["outcome"] == "success" &&
                       again["results"][1]["test"]["outcome"] == "success";
            if (measured) {
                CHECK(again["results"][0]["test"]["observations_count"] == 140);
            }
            std::this_thread::sleep_for(50ms);
        }
        CHECK(measured);
        std::size_t data_requests = 0;
        for (const auto& r : fake.requests()) {
            data_requests += r.target.rfind("/rest/data/", 0) == 0 ? 1 : 0;
        }
        CHECK(data_requests == 2); // each probe once, however often it was asked for
    }

    TEST_CASE("a failed refresh keeps serving the catalogue, marked stale") {
        dataflow::test::FakeUpstream fake;
        fake.route("/rest/dataflow/IT1", {200, catalogue(), "application/xml", {}, {}});
        Server s({"DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(), "DATAFLOW_UPSTREAM_RETRIES=0",
                  "DATAFLOW_API_ADMIN_ENABLED=true"},
                 {"--no-catalog"});
        auto c = s.client();
        auto deadline = std::chrono::steady_clock::now() + 20s;
        auto get_list = [&] {
            auto r = c.Get("/api/v1/dataflows?limit=1");
            REQUIRE(r);
            return std::pair(r->status, r->body);
        };
        while (get_list().first != 200 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(50ms);
        }
        REQUIRE(get_list().first == 200);
        CHECK(nlohmann::json::parse(get_list().second)["stale"] == false);
        Faults f;
        f.fail_next = 1000;
        fake.set_faults(f);
        auto refresh = c.Post("/api/v1/catalog/refresh");
        REQUIRE(refresh);
        CHECK(refresh->status == 202);
        bool stale = false;
        nlohmann::json doc;
        while (!stale && std::chrono::steady_clock::now() < deadline) {
            auto [status, body] = get_list();
            REQUIRE(status == 200);
            doc = nlohmann::json::parse(body);
            stale = doc["stale"] == true;
            std::this_thread::sleep_for(50ms);
        }
        CHECK(stale);
        CHECK(doc["total_analyzed"] == 456);
        CHECK(doc["catalog_age_seconds"].get<double>() >= 0.0);
        auto ready = c.Get("/readyz?verbose");
        CHECK(ready->status == 200); // degraded, not unready
        CHECK(has(ready->body, "[-]catalog degraded: stale"));
        CHECK(has(ready->body, "500 server error"));
    }

    TEST_CASE("body size limit: 413 with the error shape") {
        Server s({"DATAFLOW_SERVER_MAX_BODY_SIZE=64KiB"});
        auto c = s.client();
        auto r = c.Post("/api/analysis/dataflow", analysis_body(catalogue()), "application/json");
        REQUIRE(r);
        CHECK(r->status == 413);
        CHECK(has(r->body, "payload_too_large"));
    }

    TEST_CASE("an endless chunked body is read up to server.max_body_size, then 413") {
        // Without a Content-Length the HTTP library's payload limit does not apply: the
        // router's body reader must stop at the cap itself, before anything is parsed.
        Server s({"DATAFLOW_SERVER_MAX_BODY_SIZE=64KiB"});
        int fd = dataflow::test::connect_loopback(s.port);
        REQUIRE(fd >= 0);
        std::string head = "POST /api/analysis/dataflow HTTP/1.1\r\nHost: x\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) > 0);
        std::string chunk = "2000\r\n" + std::string(0x2000, ' ') + "\r\n";
        std::string answer;
        std::size_t sent = 0;
        auto deadline = std::chrono::steady_clock::now() + 20s;
        // Send 8 KiB chunks until the server answers (at most 64 MiB, 20 s).
        while (answer.empty() && sent < (64u << 20) &&
               std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd, POLLIN | POLLOUT, 0};
            REQUIRE(::poll(&p, 1, 1000) >= 0);
            if ((p.revents & POLLIN) != 0) {
                // The answer, up to the close that follows it.
                char buf[4096];
                timeval tv{2, 0};
                ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                ssize_t n;
                while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
                    answer.append(buf, static_cast<std::size_t>(n));
                }
                break;
            }
            if ((p.revents & POLLOUT) != 0) {
                auto n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n <= 0) {
                    break;
                }
                sent += static_cast<std::size_t>(n);
            }
        }
        ::close(fd);
        INFO("sent " << sent << " bytes");
        CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
        CHECK(has(answer, "payload_too_large"));
        CHECK(has(answer, "server.max_body_size"));
        // Well before 64 MiB: the server stopped reading at the cap (socket buffers aside).
        CHECK(sent < (32u << 20));
        CHECK(s.client().Get("/health/live")->status == 200);
    }

    TEST_CASE("beyond server.max_connections a connection gets 503 at once, unread") {
        // Two workers, two more connections may wait for them; the next ones are answered by
        // the accept loop itself, without a worker and without reading anything.
        Server s({"DATAFLOW_SERVER_THREADS=2", "DATAFLOW_SERVER_MAX_THREADS=2",
                  "DATAFLOW_SERVER_MAX_CONNECTIONS=4"});
        std::vector<int> fds;
        for (int i = 0; i < 6; ++i) {
            fds.push_back(dataflow::test::connect_loopback(s.port));
            REQUIRE(fds.back() >= 0);
            std::this_thread::sleep_for(50ms); // accepted in order
        }
        int refused = 0;
        for (int fd : fds) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 500) == 1) {
                char buf[512];
                auto n = ::recv(fd, buf, sizeof buf, 0);
                std::string answer(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
                CHECK(answer.rfind("HTTP/1.1 503", 0) == 0);
                CHECK(has(answer, "Retry-After: 1"));
                ++refused;
            }
        }
        CHECK(refused == 2);
        for (int fd : fds) {
            ::close(fd);
        }
        // Once they are gone, the service answers again.
        CHECK(dataflow::test::eventually(
            [&] {
                auto r = s.client().Get("/health/live");
                return r && r->status == 200;
            },
            10s));
    }

    TEST_CASE(
        "a request that takes longer than server.request_timeout gets 408, whatever its pace") {
        // One byte every 300 ms never trips the 30 s read timeout: the whole-request deadline
        // does.
        Server s({"DATAFLOW_SERVER_REQUEST_TIMEOUT=1s"});
        int fd = dataflow::test::connect_loopback(s.port);
        REQUIRE(fd >= 0);
        std::string head = "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        auto started = std::chrono::steady_clock::now();
        std::string answer;
        for (int i = 0; i < 40 && answer.empty(); ++i) {
            auto piece = i < static_cast<int>(head.size()) ? head.substr(i, 1) : std::string("a");
            ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 300) == 1) {
                char buf[512];
                auto n = ::recv(fd, buf, sizeof buf, 0);
                answer.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
            }
        }
        ::close(fd);
        auto took = std::chrono::steady_clock::now() - started;
        CHECK(answer.rfind("HTTP/1.1 408", 0) == 0);
        CHECK(has(answer, "server.request_timeout"));
        CHECK(took < 3s);
    }

    TEST_CASE("a client that never reads its answers holds a worker at most server.write_timeout") {
        // Two workers, two clients that pipeline large answers and never read them: without a
        // bound on each write both workers would wait forever and nobody else would be served.
        Server s({"DATAFLOW_SERVER_THREADS=2", "DATAFLOW_SERVER_MAX_THREADS=2",
                  "DATAFLOW_SERVER_WRITE_TIMEOUT=1s"});
        std::vector<int> stuck;
        std::string requests;
        for (int i = 0; i < 30; ++i) {
            requests += "GET /api/v1/dataflows?limit=0 HTTP/1.1\r\nHost: x\r\n\r\n";
        }
        for (int i = 0; i < 2; ++i) {
            int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            int small = 4096;
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<std::uint16_t>(s.port));
            REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
            REQUIRE(::send(fd, requests.data(), requests.size(), MSG_NOSIGNAL) > 0);
            stuck.push_back(fd);
        }
        std::this_thread::sleep_for(300ms); // both workers are writing into full buffers now
        auto started = std::chrono::steady_clock::now();
        httplib::Client c("127.0.0.1", s.port);
        c.set_read_timeout(15, 0);
        auto r = c.Get("/health/live");
        auto took = std::chrono::steady_clock::now() - started;
        REQUIRE(r);
        CHECK(r->status == 200);
        CHECK(took < 6s);
        for (int fd : stuck) {
            ::close(fd);
        }
    }

    TEST_CASE("unframed bodies and the library's own refusals never read on or run what follows") {
        Server s;
        // Everything the client sends on one connection, and everything that comes back.
        auto exchange = [&](const std::string& bytes) {
            int fd = dataflow::test::connect_loopback(s.port);
            REQUIRE(fd >= 0);
            ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            timeval tv{3, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string answer;
            char buf[4096];
            ssize_t n;
            while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
                answer.append(buf, static_cast<std::size_t>(n));
            }
            ::close(fd);
            return answer;
        };
        auto responses = [](const std::string& answer) {
            std::size_t count = 0;
            for (auto at = answer.find("HTTP/1.1 "); at != std::string::npos;
                 at = answer.find("HTTP/1.1 ", at + 1)) {
                ++count;
            }
            return count;
        };
        std::string hidden = "GET /api/analysis/rules HTTP/1.1\r\nHost: x\r\n\r\n";
        // A POST with neither Content-Length nor Transfer-Encoding to a route that does not
        // exist: refused at once, nothing after it read (the library would read to the end).
        auto a =
            exchange("POST /nope HTTP/1.1\r\nHost: x\r\n\r\n" + hidden + std::string(100000, 'A'));
        CHECK(a.rfind("HTTP/1.1 404", 0) == 0);
        CHECK(responses(a) == 1);
        // A header line the library refuses (over 8 KiB) is followed by a declared body that
        // holds a request: one 400, then the connection closes.
        std::string body = hidden;
        auto b = exchange(
            "POST /api/analysis/dataflow HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') +
            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        CHECK(b.rfind("HTTP/1.1 400", 0) == 0);
        CHECK(responses(b) == 1);
        // Both framings at once are refused.
        auto c = exchange("POST /api/analysis/dataflow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        CHECK(c.rfind("HTTP/1.1 400", 0) == 0);
        auto metrics = s.client().Get("/metrics")->body;
        CHECK_FALSE(has(metrics, "route=\"/api/analysis/rules\""));
    }

    TEST_CASE("token auth: 401 without or with a bad token, 403 without the scope") {
        Server s({"DATAFLOW_AUTH_MODE=token", "DATAFLOW_AUTH_TOKENS=read-token-0123456789abcdef",
                  "DATAFLOW_AUTH_ADMIN_TOKENS=admin-token-0123456789abcdef",
                  "DATAFLOW_API_ADMIN_ENABLED=true"});
        auto c = s.client();
        expect_error_shape(c.Get("/api/analysis/rules"), 401, "missing bearer token");
        httplib::Headers bad{{"Authorization", "Bearer nope"}};
        expect_error_shape(c.Get("/api/analysis/rules", bad), 401, "invalid token");
        httplib::Headers read{{"Authorization", "Bearer read-token-0123456789abcdef"}};
        CHECK(c.Get("/api/analysis/rules", read)->status == 200);
        expect_error_shape(c.Get("/api/v1/cache/stats", read), 403, "'admin' scope");
        httplib::Headers admin{{"Authorization", "Bearer admin-token-0123456789abcdef"}};
        CHECK(c.Get("/api/v1/cache/stats", admin)->status == 200);
        CHECK(c.Post("/api/v1/cache/flush", admin)->status == 200);
        // Probes and metrics need no token.
        CHECK(c.Get("/health/ready")->status == 200);
        CHECK(c.Get("/metrics")->status == 200);
        CHECK(c.Get("/api/analysis/rules")->get_header_value("WWW-Authenticate") == "Bearer");
    }

    TEST_CASE("JWT auth: HS256 with exp, iss, aud and scopes (the reference platform's tokens)") {
        const std::string secret = "jwt-secret-0123456789abcdef0123456789abcdef";
        Server s({"DATAFLOW_AUTH_MODE=jwt", "DATAFLOW_AUTH_JWT_SECRET=" + secret,
                  "DATAFLOW_API_ADMIN_ENABLED=true"});
        auto c = s.client();
        auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        auto token = [&](nlohmann::json claims, const std::string& key) {
            auto header = dataflow::service::base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
            auto payload = dataflow::service::base64url_encode(claims.dump());
            auto signing = header + "." + payload;
            return signing + "." + dataflow::service::hs256_sign(key, signing);
        };
        nlohmann::json good{{"sub", "user-1"},
                            {"iss", "osservatorio-istat"},
                            {"aud", "osservatorio-api"},
                            {"exp", now + 600},
                            {"scope", "read write"}};
        auto bearer = [](const std::string& t) {
            return httplib::Headers{{"Authorization", "Bearer " + t}};
        };
        CHECK(c.Get("/api/analysis/rules", bearer(token(good, secret)))->status == 200);
        expect_error_shape(c.Get("/api/v1/cache/stats", bearer(token(good, secret))), 403,
                           "'admin' scope");
        auto admin = good;
        admin["scope"] = "admin";
        CHECK(c.Get("/api/v1/cache/stats", bearer(token(admin, secret)))->status == 200);
        auto expired = good;
        expired["exp"] = now - 3600;
        expect_error_shape(c.Get("/api/analysis/rules", bearer(token(expired, secret))), 401,
                           "expired");
        auto wrong_aud = good;
        wrong_aud["aud"] = "someone-else";
        expect_error_shape(c.Get("/api/analysis/rules", bearer(token(wrong_aud, secret))), 401,
                           "audience");
        expect_error_shape(c.Get("/api/analysis/rules", bearer(token(good, "other-secret"))), 401,
                           "signature");
        auto none = dataflow::service::base64url_encode(R"({"alg":"none"})") + "." +
                    dataflow::service::base64url_encode(good.dump()) + ".";
        expect_error_shape(c.Get("/api/analysis/rules", bearer(none)), 401, "algorithm");
        // A header of the wrong type is a 401 too, never a 500.
        auto odd = dataflow::service::base64url_encode(R"({"alg":1})") + "." +
                   dataflow::service::base64url_encode(good.dump()) + ".x";
        expect_error_shape(c.Get("/api/analysis/rules", bearer(odd)), 401, "algorithm");
    }

    TEST_CASE("metrics: the listed families, text format 0.0.4, promtool finds nothing") {
        Server s;
        auto c = s.client();
        c.Post("/api/analysis/dataflow", analysis_body(catalogue()), "application/json");
        c.Get("/api/v1/dataflows/22_289");
        auto r = c.Get("/metrics");
        REQUIRE(r);
        CHECK(r->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
        for (const char* name :
             {"dataflow_build_info{", "dataflow_http_requests_total{",
              "dataflow_http_request_duration_seconds_bucket{", "dataflow_http_requests_in_flight",
              "dataflow_analysis_total{", "dataflow_analysis_duration_seconds_bucket",
              "dataflow_dataflows_analyzed_total", "dataflow_catalog_dataflows 456",
              "dataflow_catalog_age_seconds", "dataflow_config_last_reload_successful",
              "dataflow_config_last_reload_success_timestamp_seconds", "process_cpu_seconds_total",
              "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds",
              "process_threads"}) {
            CAPTURE(name);
            CHECK(has(r->body, name));
        }
        // Route labels are templates, never raw paths; methods a fixed set.
        CHECK(has(r->body, R"(route="/api/v1/dataflows/{id}")"));
        CHECK_FALSE(has(r->body, "22_289"));
        {
            int fd = dataflow::test::connect_loopback(s.port);
            REQUIRE(fd >= 0);
            std::string hostile = std::string("XYZ\xff") + "123 / HTTP/1.1\r\nHost: x\r\n\r\n";
            REQUIRE(::send(fd, hostile.data(), hostile.size(), 0) > 0);
            char buf[4096];
            [[maybe_unused]] auto n = ::recv(fd, buf, sizeof buf, 0);
            ::close(fd);
        }
        r = c.Get("/metrics");
        CHECK_FALSE(has(r->body, "XYZ"));
        TempDir tmp;
        auto file = tmp.file("metrics.txt", r->body);
        auto check =
            dataflow::test::run_process({"/usr/bin/promtool", "check", "metrics"}, r->body);
        CAPTURE(check.out);
        CAPTURE(check.err);
        CHECK(check.exit_code == 0);
        CHECK(check.out.empty());
        CHECK(check.err.empty());
    }

    TEST_CASE("JSON request logs: request_id, route, status, duration_ms, trace_id") {
        Server s({"DATAFLOW_TRACING_ENABLED=true"});
        auto c = s.client();
        httplib::Headers h{
            {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            {"X-Request-ID", "req-42"}};
        c.Get("/api/analysis/rules", h);
        REQUIRE(s.process->wait_for_err("\"request_id\":\"req-42\"", 5s));
        auto err = s.process->err();
        auto line_start = err.rfind('\n', err.find("\"request_id\":\"req-42\"")) + 1;
        auto line = err.substr(line_start, err.find('\n', line_start) - line_start);
        auto j = nlohmann::json::parse(line);
        CHECK(j["route"] == "/api/analysis/rules");
        CHECK(j["status"] == 200);
        CHECK(j["duration_ms"].is_number());
        CHECK(j["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736");
        CHECK(j.contains("time"));
        CHECK(j.contains("message"));
    }

    TEST_CASE("SIGTERM: ready turns 503 at once, live stays 200, exit 0 after draining") {
        Server s({"DATAFLOW_SERVER_DRAIN_DELAY=2s"});
        auto c = s.client();
        REQUIRE(c.Get("/health/ready")->status == 200);
        s.process->signal(SIGTERM);
        REQUIRE(s.process->wait_for_err("draining", 5s));
        auto ready = c.Get("/health/ready?verbose");
        REQUIRE(ready);
        CHECK(ready->status == 503);
        CHECK(has(ready->body, "[-]shutdown failed: draining"));
        CHECK(c.Get("/health/live")->status == 200);
        // `dataflow health` against a draining server: not ready (1), live (0).
        auto h_ready = dataflow::test::run_process({DATAFLOW_BIN, "health", "--url", s.url()});
        CHECK(h_ready.exit_code == 1);
        auto h_live = dataflow::test::run_process(
            {DATAFLOW_BIN, "health", "--url", s.url(), "--probe", "live"});
        CHECK(h_live.exit_code == 0);
        CHECK(s.process->wait(10s) == 0);
        // Dead server: 1, never 2.
        auto dead = dataflow::test::run_process({DATAFLOW_BIN, "health", "--url", s.url()});
        CHECK(dead.exit_code == 1);
        auto usage = dataflow::test::run_process({DATAFLOW_BIN, "health", "--bogus"});
        CHECK(usage.exit_code == 1);
    }

    TEST_CASE("SIGTERM under load: no accepted request is lost or cut off") {
        // The load balancer's view: clients send until the endpoint is removed (a moment after
        // readiness fails), and one large request is still running when the listener closes.
        Server s({"DATAFLOW_SERVER_DRAIN_DELAY=800ms"});
        std::atomic<bool> stop_new{false};
        std::atomic<int> complete{0};
        std::atomic<int> sent{0};
        std::mutex reasons_mutex;
        std::vector<std::string> reasons;
        auto check = [&](const httplib::Result& r) {
            if (r && r->status == 200 &&
                nlohmann::json::parse(r->body, nullptr, false).is_object()) {
                ++complete;
                return;
            }
            std::lock_guard lock(reasons_mutex);
            reasons.push_back(r ? "status " + std::to_string(r->status) + ": " +
                                      r->body.substr(0, 200)
                                : "transport: " + httplib::to_string(r.error()));
        };
        auto body = analysis_body(catalogue());
        std::vector<std::thread> clients;
        for (int t = 0; t < 4; ++t) {
            clients.emplace_back([&] {
                while (!stop_new) {
                    httplib::Client c("127.0.0.1", s.port);
                    c.set_read_timeout(std::chrono::seconds(60));
                    ++sent;
                    check(c.Post("/api/analysis/dataflow", body, "application/json"));
                }
            });
        }
        // A catalogue 20 times as large, for the request in flight at close.
        auto xml = catalogue();
        auto first = xml.find("<structure:Dataflow ");
        auto last = xml.rfind("</structure:Dataflows>");
        auto flows = xml.substr(first, last - first);
        std::string big = xml.substr(0, first);
        for (int i = 0; i < 20; ++i) {
            big += flows;
        }
        big += xml.substr(last);
        auto big_body = analysis_body(big);
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (complete < 4 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(10ms);
        }
        s.process->signal(SIGTERM);
        REQUIRE(s.process->wait_for_err("draining", 10s));
        std::this_thread::sleep_for(200ms); // endpoints removed: no new connections
        stop_new = true;
        std::thread slow([&] {
            httplib::Client c("127.0.0.1", s.port);
            c.set_read_timeout(std::chrono::seconds(60));
            std::this_thread::sleep_for(450ms); // just before the listener closes
            ++sent;
            check(c.Post("/api/analysis/dataflow", big_body, "application/json"));
        });
        auto code = s.process->wait(60s);
        for (auto& t : clients) {
            t.join();
        }
        slow.join();
        std::string why;
        for (const auto& r : reasons) {
            why += r + "\n";
        }
        CAPTURE(why);
        CHECK(code == 0);
        CHECK(reasons.empty());
        CHECK(complete == sent);
        MESSAGE("requests sent and completed: " << complete.load());
    }

    TEST_CASE("Redis killed: ready stays 200, status shows [-]redis, then recovers") {
        dataflow::test::RedisServer redis;
        Server s({"DATAFLOW_CACHE_BACKEND=redis", "DATAFLOW_REDIS_HOST=127.0.0.1",
                  "DATAFLOW_REDIS_PORT=" + std::to_string(redis.port()),
                  "DATAFLOW_HEALTH_REDIS_CHECK_INTERVAL=200ms"});
        auto c = s.client();
        CHECK(has(c.Get("/health/status?verbose")->body, "[+]redis ok"));
        redis.stop();
        // Probes never ping Redis themselves: the monitor notices within its interval.
        auto until = std::chrono::steady_clock::now() + 5s;
        while (!has(c.Get("/health/status?verbose")->body, "[-]redis") &&
               std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(50ms);
        }
        auto ready = c.Get("/health/ready");
        CHECK(ready->status == 200);
        auto status = c.Get("/health/status?verbose");
        CHECK(status->status == 200);
        CHECK(has(status->body, "[-]redis degraded"));
        auto j = nlohmann::json::parse(c.Get("/health/status")->body);
        CHECK(j["status"] == "degraded");
        // Requests keep working without Redis.
        CHECK(c.Post("/api/analysis/dataflow", analysis_body(catalogue()), "application/json")
                  ->status == 200);
        redis.start();
        auto deadline = std::chrono::steady_clock::now() + 15s;
        bool back = false;
        while (!back && std::chrono::steady_clock::now() < deadline) {
            back = has(c.Get("/health/status?verbose")->body, "[+]redis ok");
            std::this_thread::sleep_for(200ms);
        }
        CHECK(back);
    }

    TEST_CASE("a canary secret never appears in logs, status, metrics or error bodies") {
        const std::string canary = "CANARY-serve-9d2f61a0b3";
        Server s({"DATAFLOW_AUTH_MODE=token", "DATAFLOW_AUTH_TOKENS=" + canary + "-read",
                  "DATAFLOW_REDIS_PASSWORD=" + canary, "DATAFLOW_LOG_LEVEL=debug"});
        auto c = s.client();
        std::string everything;
        httplib::Headers ok{{"Authorization", "Bearer " + canary + "-read"}};
        httplib::Headers bad{{"Authorization", "Bearer " + canary + "-wrong"}};
        for (auto* path :
             {"/health/status", "/health/status?verbose", "/metrics", "/readyz?verbose"}) {
            everything += c.Get(path)->body;
        }
        everything += c.Get("/api/analysis/rules", bad)->body;
        everything += c.Get("/api/analysis/rules", ok)->body;
        everything += c.Post("/api/analysis/dataflow", ok, "{bad", "application/json")->body;
        s.process->signal(SIGTERM);
        s.process->wait(10s);
        everything += s.process->err() + s.process->out();
        CHECK_FALSE(has(everything, "CANARY"));
    }
}

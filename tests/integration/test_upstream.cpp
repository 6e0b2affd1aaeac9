// The SDMX REST client, breaker, limiter and probes against the fake upstream on 127.0.0.1. What
// needs no server (query URLs, Retry-After, outcome names) is tests/unit/test_upstream.cpp.

#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "support/fake_upstream.hpp"
#include "support/support.hpp"
#include "support/tls.hpp"
#include "upstream/client.hpp"
#include "upstream/probe.hpp"
#include "upstream/sdmx_rest.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <httplib.h>
#include <thread>

using namespace dataflow;
using namespace std::chrono_literals;
using test::FakeResponse;
using test::FakeUpstream;
using test::Faults;
using upstream::Outcome;

namespace {

std::string fixture(const std::string& path) {
    return test::read_file(test::sample(path));
}

/// A client wired to a fake upstream, with short timeouts and a generous rate limit, on an
/// injectable clock (limiter and breaker time; network time is real).
struct Rig {
    FakeUpstream fake;
    util::ManualClock manual;
    const util::Clock& clock;
    resilience::LocalRateLimiter limiter;
    resilience::BreakerRegistry breakers;
    upstream::ClientSettings settings;
    upstream::Client client;

    static upstream::ClientSettings defaults() {
        upstream::ClientSettings s;
        s.user_agent = "dataflow-test/1";
        s.structure = {500ms, 1000ms, 3000ms};
        s.data = {500ms, 1000ms, 3000ms};
        s.retry_base_delay = 5ms;
        s.retry_max_delay = 20ms;
        return s;
    }
    explicit Rig(bool real_clock = false, resilience::RateLimit limit = {6000, 100})
        : clock(real_clock ? static_cast<const util::Clock&>(util::SystemClock::instance())
                           : manual),
          limiter(limit, {}, clock), breakers(resilience::BreakerSettings{}, clock),
          settings(defaults()), client(settings, limiter, breakers, clock) {
        fake.route("/rest/dataflow/IT1",
                   {200, test::read_file(test::bundled_catalog()), "application/xml", {}, {}});
        fake.route("/rest/data/124_1157", {200,
                                           fixture("AndreaBozzo__Osservatorio/data_124_1157.xml"),
                                           "application/xml",
                                           {},
                                           {}});
    }
    util::Url url(const std::string& path) const {
        return *util::parse_url("http://127.0.0.1:" + std::to_string(fake.port()) + path).url;
    }
    upstream::Response get(const std::string& path, upstream::StringSink& sink) {
        return client.get(url(path), upstream::OpClass::structure, sink,
                          upstream::k_structure_accept);
    }
    upstream::Response get(const std::string& path) {
        upstream::StringSink sink;
        return get(path, sink);
    }
};

} // namespace

TEST_SUITE("upstream client") {
    TEST_CASE("fetches a catalogue, sends a clear User-Agent and asks for gzip") {
        Rig rig;
        upstream::StringSink sink;
        auto r = rig.get("/rest/dataflow/IT1", sink);
        CHECK(r.outcome == Outcome::success);
        CHECK(r.status == 200);
        CHECK(r.attempts == 1);
        CHECK(sink.body == test::read_file(test::bundled_catalog()));
        auto reqs = rig.fake.requests();
        REQUIRE(reqs.size() == 1);
        CHECK(reqs[0].target == "/rest/dataflow/IT1");
        CHECK(reqs[0].headers["user-agent"] == "dataflow-test/1");
        CHECK(reqs[0].headers["accept-encoding"] == "gzip");
        CHECK(reqs[0].headers["accept"].find("application/vnd.sdmx.structure+xml") == 0);
    }

    TEST_CASE("gzip bodies are decompressed, bytes on the wire are counted apart") {
        Rig rig;
        Faults f;
        f.gzip = true;
        rig.fake.set_faults(f);
        upstream::StringSink sink;
        auto r = rig.get("/rest/dataflow/IT1", sink);
        CHECK(r.outcome == Outcome::success);
        CHECK(sink.body == test::read_file(test::bundled_catalog()));
        CHECK(r.body_bytes == sink.body.size());
        CHECK(r.wire_bytes < r.body_bytes / 4);
    }

    TEST_CASE("retries only timeouts, network errors and 5xx, with a bounded count") {
        Rig rig;
        Faults f;
        f.fail_next = 2;
        rig.fake.set_faults(f);
        auto r = rig.get("/rest/dataflow/IT1");
        CHECK(r.outcome == Outcome::success);
        CHECK(r.attempts == 3);
        CHECK(rig.fake.request_count() == 3);

        rig.fake.clear_requests();
        f.fail_next = 10;
        rig.fake.set_faults(f);
        r = rig.get("/rest/dataflow/IT1");
        CHECK(r.outcome == Outcome::server_error);
        CHECK(r.status == 500);
        CHECK(rig.fake.request_count() == 3); // 1 + upstream.retries (2)

        for (int status : {400, 404, 501}) {
            CAPTURE(status);
            Rig fresh;
            Faults g;
            g.fail_next = 1;
            g.fail_status = status;
            fresh.fake.set_faults(g);
            auto x = fresh.get("/rest/dataflow/IT1");
            CHECK(x.outcome == (status == 404 ? Outcome::no_data : Outcome::client_error));
            CHECK(fresh.fake.request_count() == 1);
        }
        // A connection reset is a network error: retried.
        Rig reset;
        Faults g;
        g.reset = true;
        reset.fake.set_faults(g);
        auto x = reset.get("/rest/dataflow/IT1");
        CHECK(x.outcome == Outcome::network);
        CHECK(reset.fake.request_count() == 3);
    }

    TEST_CASE("404 with an SDMX error is no_data, and says what the upstream said") {
        Rig rig;
        auto r = rig.get("/rest/dataflow/NOPE");
        CHECK(r.outcome == Outcome::no_data);
        CHECK(r.message.find("SDMX error 100: No Results Found") != std::string::npos);
        CHECK(rig.fake.request_count() == 1);
    }

    TEST_CASE("429: no retry, the limiter backs off and nothing is sent until it ends") {
        Rig rig;
        Faults f;
        f.fail_next = 1;
        f.fail_status = 429;
        f.fail_retry_after = "120";
        rig.fake.set_faults(f);
        auto r = rig.get("/rest/dataflow/IT1");
        CHECK(r.outcome == Outcome::rate_limited);
        CHECK(rig.fake.request_count() == 1);
        REQUIRE(r.retry_at);
        CHECK(*r.retry_at - rig.clock.system() == 120s);
        // The deadline (3 s) is shorter than the back-off: refused locally, nothing sent.
        auto again = rig.get("/rest/dataflow/IT1");
        CHECK(again.outcome == Outcome::rate_limited);
        CHECK(again.message.find("backing off") != std::string::npos);
        CHECK(rig.fake.request_count() == 1);
        rig.manual.advance(121s);
        CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::success);
        CHECK(rig.fake.request_count() == 2);
    }

    TEST_CASE("Retry-After: missing means the default, 0 is floored, huge is capped") {
        struct Case {
            const char* header;
            int status;
            std::chrono::milliseconds expected;
        };
        for (const Case& c : {Case{"", 429, 15min}, Case{"0", 429, 60s}, Case{"999999", 429, 1h},
                              Case{"30", 503, 60s}, Case{"300", 503, 300s}}) {
            CAPTURE(c.header);
            Rig rig;
            Faults f;
            f.fail_next = 1;
            f.fail_status = c.status;
            f.fail_retry_after = c.header;
            rig.fake.set_faults(f);
            auto r = rig.get("/rest/dataflow/IT1");
            CHECK(r.outcome == Outcome::rate_limited);
            REQUIRE(r.retry_at);
            CHECK(*r.retry_at - rig.clock.system() == c.expected);
        }
    }

    TEST_CASE("503 without Retry-After is a server error (retried)") {
        Rig rig;
        Faults f;
        f.fail_next = 1;
        f.fail_status = 503;
        rig.fake.set_faults(f);
        auto r = rig.get("/rest/dataflow/IT1");
        CHECK(r.outcome == Outcome::success);
        CHECK(rig.fake.request_count() == 2);
    }

    TEST_CASE("deadlines hold against latency, hangs and slow drips") {
        for (int kind = 0; kind < 3; ++kind) {
            CAPTURE(kind);
            Rig rig;
            rig.settings.retries = 0;
            rig.settings.structure = {500ms, 800ms, 1500ms};
            rig.client.configure(rig.settings);
            Faults f;
            if (kind == 0) {
                f.latency = 5s;
            } else if (kind == 1) {
                f.hang = true;
            } else {
                f.drip_bytes = 10; // 10 bytes every 100 ms: never silent, never done
                f.drip_interval = 100ms;
            }
            rig.fake.set_faults(f);
            auto start = std::chrono::steady_clock::now();
            auto r = rig.get("/rest/dataflow/IT1");
            auto took = std::chrono::steady_clock::now() - start;
            CHECK(r.outcome == Outcome::timeout);
            CHECK(took < 1500ms + 400ms);
            CHECK(rig.fake.request_count() == 1);
        }
    }

    TEST_CASE("a body cut short is bad_payload with how far it got, not retried") {
        Rig rig;
        Faults f;
        f.truncate_at = 5000;
        rig.fake.set_faults(f);
        auto r = rig.get("/rest/dataflow/IT1");
        CHECK(r.outcome == Outcome::bad_payload);
        CHECK(r.message.find("stopped after 5000 bytes") != std::string::npos);
        CHECK(rig.fake.request_count() == 1);
    }

    TEST_CASE("the response size cap stops reading") {
        Rig rig;
        rig.settings.max_response_bytes = 10'000;
        rig.client.configure(rig.settings);
        upstream::StringSink sink;
        auto r = rig.get("/rest/dataflow/IT1", sink);
        CHECK(r.outcome == Outcome::too_large);
        CHECK(sink.body.size() == 10'000);
        CHECK(r.message.find("larger than the limit") != std::string::npos);
    }

    TEST_CASE("redirects are followed, but not forever") {
        Rig rig;
        rig.fake.route("/rest/old",
                       {302, "", "text/plain", {{"Location", "/rest/dataflow/IT1"}}, {}});
        rig.fake.route("/rest/loop", {302, "", "text/plain", {{"Location", "/rest/loop"}}, {}});
        auto r = rig.get("/rest/old");
        CHECK(r.outcome == Outcome::success);
        CHECK(r.url == rig.fake.base() + "/dataflow/IT1");
        auto loop = rig.get("/rest/loop");
        CHECK(loop.outcome == Outcome::client_error);
        CHECK(loop.message.find("more than 3 redirects") != std::string::npos);
    }

    TEST_CASE("the breaker opens, fails fast, admits one trial, closes and reopens") {
        Rig rig;
        rig.settings.retries = 0;
        rig.client.configure(rig.settings);
        Faults f;
        f.fail_next = 1000;
        rig.fake.set_faults(f);
        for (int i = 0; i < 5; ++i) {
            CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::server_error);
        }
        CHECK(rig.fake.request_count() == 5);
        auto fast = rig.get("/rest/dataflow/IT1");
        CHECK(fast.outcome == Outcome::breaker_open);
        CHECK(fast.message.find("next attempt allowed in 1m") != std::string::npos);
        CHECK(rig.fake.request_count() == 5); // failed fast: nothing sent
        rig.manual.advance(60s);
        CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::server_error); // the one trial
        CHECK(rig.fake.request_count() == 6);
        CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::breaker_open); // reopened
        CHECK(rig.fake.request_count() == 6);
        rig.manual.advance(60s);
        f.fail_next = 0;
        rig.fake.set_faults(f);
        CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::success);
        auto list = rig.breakers.list();
        REQUIRE(list.size() == 1);
        CHECK(list[0].state == resilience::BreakerState::closed);
        CHECK(list[0].opened == 2);
        // 404s are answers, not failures.
        for (int i = 0; i < 10; ++i) {
            CHECK(rig.get("/rest/dataflow/NOPE").outcome == Outcome::no_data);
        }
        CHECK(rig.breakers.list()[0].state == resilience::BreakerState::closed);
    }

    TEST_CASE("the rate limiter never exceeds its budget (timestamps at the fake)") {
        Rig rig(true, resilience::RateLimit{600, 1}); // one request per 100 ms, real time
        for (int i = 0; i < 8; ++i) {
            CHECK(rig.get("/rest/dataflow/IT1").outcome == Outcome::success);
        }
        auto reqs = rig.fake.requests();
        REQUIRE(reqs.size() == 8);
        // Between any two arrivals i < j, at most burst + rate x elapsed requests: the limiter
        // spaces sends 100 ms apart; arrivals may jitter by the connection's latency (50 ms
        // allowed, for sanitizer builds on a loaded machine).
        for (std::size_t i = 0; i < reqs.size(); ++i) {
            for (std::size_t j = i + 1; j < reqs.size(); ++j) {
                auto elapsed = std::chrono::duration<double>(reqs[j].at - reqs[i].at + 50ms);
                CHECK(static_cast<double>(j - i) <= 1.0 + elapsed.count() * 10.0);
            }
        }
        CHECK(reqs.back().at - reqs.front().at >= 650ms); // 7 intervals of 100 ms
        // Without waiting for a token, an empty budget is rate_limited at once.
        rig.settings.wait_for_token = false;
        rig.client.configure(rig.settings);
        rig.get("/rest/dataflow/IT1");
        auto refused = rig.get("/rest/dataflow/IT1");
        CHECK(refused.outcome == Outcome::rate_limited);
        CHECK(refused.message.find("budget") != std::string::npos);
    }

    TEST_CASE("cancel stops a call in flight") {
        Rig rig(true);
        Faults f;
        f.hang = true;
        rig.fake.set_faults(f);
        std::thread canceller([&] {
            std::this_thread::sleep_for(100ms);
            rig.client.cancel();
        });
        auto start = std::chrono::steady_clock::now();
        auto r = rig.get("/rest/dataflow/IT1");
        canceller.join();
        // Cancelled, not timed out: the read timeout (1 s) and deadline (3 s) never fired. The
        // wall-clock bound only keeps a hang from passing and allows a slow sanitizer build.
        CHECK(r.outcome == Outcome::cancelled);
        CHECK(std::chrono::steady_clock::now() - start < 3s);
    }
}

TEST_SUITE("probes") {
    TEST_CASE("a probe counts series and observations of real data") {
        Rig rig;
        rig.fake.route("/rest/data/ECB_EXR",
                       {200,
                        fixture("khaeru__sdmx-test-data/ECB_EXR/1/M.USD.EUR.SP00.A.xml"),
                        "application/xml",
                        {},
                        {}});
        rig.fake.route(
            "/rest/data/22_289",
            {200, fixture("khaeru__sdmx-test-data/ISTAT/22_289.xml"), "application/xml", {}, {}});
        rig.fake.route(
            "/rest/data/FOOTER",
            {200, fixture("khaeru__sdmx-test-data/ESTAT/footer.xml"), "application/xml", {}, {}});
        upstream::Prober prober(rig.client, *util::parse_url(rig.fake.base()).url, {});
        struct Golden {
            const char* flow;
            std::uint64_t series;
            std::uint64_t obs;
        };
        for (const auto& g : {Golden{"124_1157", 20, 140}, Golden{"ECB_EXR", 1, 252},
                              Golden{"22_289", 2, 8}, Golden{"FOOTER", 0, 0}}) {
            CAPTURE(g.flow);
            auto p = prober.probe(g.flow);
            CHECK(p.outcome == analysis::ProbeOutcome::success);
            CHECK(p.data_access_success);
            CHECK_FALSE(p.parse_error);
            CHECK(p.status_code == 200);
            CHECK(p.series_count == g.series);
            CHECK(p.observations_count == g.obs);
            CHECK(p.size_bytes > 0);
            CHECK(p.query == rig.fake.base() + "/data/" + g.flow);
        }
        auto footer = prober.probe("FOOTER");
        CHECK(prober.last_response().message.find("footer: Due to the large query") !=
              std::string::npos);
    }

    TEST_CASE("the Content-Type is advisory: the body decides") {
        Rig rig;
        Faults f;
        f.content_type = "text/html; charset=iso-8859-1";
        rig.fake.set_faults(f);
        upstream::Prober prober(rig.client, *util::parse_url(rig.fake.base()).url, {});
        auto p = prober.probe("124_1157");
        CHECK(p.outcome == analysis::ProbeOutcome::success);
        CHECK(p.observations_count == 140);
    }

    TEST_CASE("probe outcomes: no data, bad payload, truncated, too large, gzip") {
        Rig rig;
        upstream::Prober prober(rig.client, *util::parse_url(rig.fake.base()).url,
                                {1, "dataonly", 100'000});
        auto none = prober.probe("MISSING");
        CHECK(none.outcome == analysis::ProbeOutcome::no_data);
        CHECK_FALSE(none.data_access_success);
        CHECK(rig.fake.requests().back().target ==
              "/rest/data/MISSING?lastNObservations=1&detail=dataonly");

        rig.fake.route("/rest/data/HTML",
                       {200, "<html><body>maintenance</body></html>", "text/html", {}, {}});
        auto html = prober.probe("HTML");
        CHECK(html.outcome == analysis::ProbeOutcome::bad_payload);
        CHECK(html.parse_error);

        Faults f;
        f.truncate_at = 3000;
        rig.fake.set_faults(f);
        auto cut = prober.probe("124_1157");
        CHECK(cut.outcome == analysis::ProbeOutcome::bad_payload);
        CHECK(cut.error_message->find("stopped after 3000 bytes") != std::string::npos);
        CHECK(cut.error_message->find("the document stops inside") != std::string::npos);

        f = Faults{};
        f.close_delimited = true;
        f.truncate_at = 3000;
        rig.fake.set_faults(f);
        auto cut2 = prober.probe("124_1157");
        CHECK(cut2.outcome == analysis::ProbeOutcome::bad_payload);
        CHECK(cut2.error_message->find("the document stops inside") != std::string::npos);

        f = Faults{};
        f.gzip = true;
        rig.fake.set_faults(f);
        auto gz = prober.probe("124_1157");
        CHECK(gz.outcome == analysis::ProbeOutcome::success);
        CHECK(gz.observations_count == 140);
        CHECK(gz.wire_bytes < gz.size_bytes);

        upstream::Prober small(rig.client, *util::parse_url(rig.fake.base()).url,
                               {0, "full", 2000});
        rig.fake.set_faults(Faults{});
        auto big = small.probe("124_1157");
        CHECK(big.outcome == analysis::ProbeOutcome::too_large);
        CHECK(big.truncated);
        CHECK(big.data_access_success);
        CHECK(big.size_bytes == 2000);
    }
}

TEST_SUITE("upstream tls") {
    /// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate.
    struct TlsServer {
        test::TempDir dir;
        test::TlsFiles files = test::make_self_signed(dir.path().string());
        httplib::SSLServer server{files.cert.c_str(), files.key.c_str()};
        int port = 0;
        std::thread thread;

        explicit TlsServer(const std::string& redirect_to) {
            server.set_tcp_nodelay(true);
            server.Get("/rest/dataflow/IT1", [](const httplib::Request&, httplib::Response& res) {
                res.set_content(test::read_file(test::bundled_catalog()), "application/xml");
            });
            server.Get("/rest/down",
                       [redirect_to](const httplib::Request&, httplib::Response& res) {
                           res.status = 302;
                           res.set_header("Location", redirect_to);
                       });
            port = server.bind_to_any_port("127.0.0.1");
            thread = std::thread([this] { server.listen_after_bind(); });
        }
        ~TlsServer() {
            server.stop();
            thread.join();
        }
    };

    TEST_CASE("https: verified with upstream.ca_file, untrusted is a client error, no "
              "downgrade on redirect") {
        FakeUpstream plain;
        plain.route("/rest/dataflow/IT1", {200, "<x/>", "application/xml", {}, {}});
        TlsServer tls("http://127.0.0.1:" + std::to_string(plain.port()) + "/rest/dataflow/IT1");
        REQUIRE(tls.port > 0);
        util::ManualClock clock;
        resilience::LocalRateLimiter limiter({6000, 100}, {}, clock);
        resilience::BreakerRegistry breakers({}, clock);
        auto base = "https://127.0.0.1:" + std::to_string(tls.port);

        auto settings = Rig::defaults();
        settings.ca_file = tls.files.cert;
        upstream::Client trusting(settings, limiter, breakers, clock);
        upstream::StringSink sink;
        auto ok = trusting.get(*util::parse_url(base + "/rest/dataflow/IT1").url,
                               upstream::OpClass::structure, sink, upstream::k_structure_accept);
        CHECK(ok.outcome == Outcome::success);
        CHECK(sink.body.size() > 100'000);

        auto down = trusting.get(*util::parse_url(base + "/rest/down").url,
                                 upstream::OpClass::structure, sink, upstream::k_structure_accept);
        CHECK(down.outcome == Outcome::client_error);
        CHECK(down.message.find("refused a redirect from https to http://127.0.0.1") !=
              std::string::npos);
        CHECK(plain.request_count() == 0);

        upstream::Client strict(Rig::defaults(), limiter, breakers, clock); // system CAs only
        auto untrusted =
            strict.get(*util::parse_url(base + "/rest/dataflow/IT1").url,
                       upstream::OpClass::structure, sink, upstream::k_structure_accept);
        CHECK(untrusted.outcome == Outcome::client_error);
        CHECK(untrusted.message.find("not trusted") != std::string::npos);
        CHECK(untrusted.attempts == 1); // not retried
    }
}

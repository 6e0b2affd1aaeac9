// The SDMX REST client, breaker, limiter and probes against the fake upstream on 127.0.0.1. What
// needs no server (query URLs, Retry-After, outcome names) is tests/unit/test_upstream.cpp.

#include "config/loader.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "support/fake_upstream.hpp"
#include "support/support.hpp"
#include "support/tls.hpp"
#include "upstream/client.hpp"
#include "upstream/probe.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <httplib.h>
#include <map>
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

namespace {

/// Counts what the client gives a sink: a 304 must give it nothing.
class CountingSink final : public upstream::BodySink {
public:
    void begin() override { ++begins; }
    bool write(std::string_view chunk) override {
        ++writes;
        bytes += chunk.size();
        return true;
    }
    int begins = 0;
    int writes = 0;
    std::size_t bytes = 0;
};

/// A page with validators, as a source that supports conditional requests serves it.
FakeResponse validated(std::string body) {
    FakeResponse page{200, std::move(body), "application/xml", {}, {}};
    page.etag = "\"v1\"";
    page.last_modified = "Wed, 21 Oct 2015 07:28:00 GMT";
    return page;
}

/// Two sources (two fake upstreams, two ports) behind one client, on a manual clock.
struct TwoSources {
    FakeUpstream a;
    FakeUpstream b;
    util::ManualClock clock;
    resilience::LocalRateLimiter limiter;
    resilience::BreakerRegistry breakers{resilience::BreakerSettings{}, clock};
    upstream::ClientSettings settings = Rig::defaults();
    upstream::Client client{settings, limiter, breakers, clock};

    explicit TwoSources(std::map<std::string, resilience::RateLimit> per_key = {})
        : limiter({6000, 100}, std::move(per_key), clock) {
        for (auto* fake : {&a, &b}) {
            fake->route("/rest/dataflow/*", {200, "<x/>", "application/xml", {}, {}});
            fake->route("/rest/data/*", {200, "<d/>", "application/xml", {}, {}});
        }
    }
    static util::Url base(const FakeUpstream& fake) { return *util::parse_url(fake.base()).url; }
    static util::Url url(const FakeUpstream& fake, const std::string& path) {
        return *util::parse_url(fake.base() + path).url;
    }
    upstream::Response get(const FakeUpstream& fake, const std::string& path,
                           upstream::OpClass op = upstream::OpClass::structure) {
        upstream::StringSink sink;
        return client.get(url(fake, path), op, sink,
                          op == upstream::OpClass::structure ? upstream::k_structure_accept
                                                             : upstream::k_data_accept);
    }
    std::optional<resilience::HostLimitStatus> budget(const std::string& key) const {
        for (auto& status : limiter.status()) {
            if (status.host == key) {
                return status;
            }
        }
        return std::nullopt;
    }
};

Faults too_many_requests(const char* retry_after) {
    Faults f;
    f.fail_next = 1;
    f.fail_status = 429;
    f.fail_retry_after = retry_after;
    return f;
}

} // namespace

TEST_SUITE("upstream client") {
    TEST_CASE("conditional GET: a 304 ends the call as not_modified and the sink gets nothing") {
        Rig rig;
        rig.fake.route("/rest/dataflow/CND", validated("<x/>"));
        upstream::StringSink sink;
        auto first = rig.get("/rest/dataflow/CND", sink);
        CHECK(first.ok());
        CHECK(first.etag == "\"v1\"");
        CHECK(first.last_modified == "Wed, 21 Oct 2015 07:28:00 GMT");
        CHECK(sink.body == "<x/>");
        CHECK(rig.fake.requests().back().headers.count("if-none-match") == 0);

        auto conditional_get = [&](const upstream::Conditional& conditional, CountingSink& to) {
            return rig.client.get(rig.url("/rest/dataflow/CND"), upstream::OpClass::structure, to,
                                  upstream::k_structure_accept, 0, conditional);
        };
        CountingSink counting;
        auto same = conditional_get({first.etag, ""}, counting);
        CHECK(same.outcome == Outcome::not_modified);
        CHECK(same.not_modified());
        CHECK_FALSE(same.ok());
        CHECK(same.status == 304);
        CHECK(same.attempts == 1);
        CHECK(same.body_bytes == 0);
        CHECK(same.etag == "\"v1\"");
        CHECK(same.message.find("304 Not Modified") != std::string::npos);
        CHECK(counting.begins == 0);
        CHECK(counting.writes == 0);
        auto sent = rig.fake.requests().back();
        CHECK(sent.headers["if-none-match"] == "\"v1\"");
        CHECK(sent.headers.count("if-modified-since") == 0);
        CHECK(rig.fake.not_modified_count() == 1);

        // If-Modified-Since alone, and both at once.
        auto by_date = conditional_get({"", first.last_modified}, counting);
        CHECK(by_date.outcome == Outcome::not_modified);
        CHECK(rig.fake.requests().back().headers["if-modified-since"] == first.last_modified);
        CHECK(rig.fake.requests().back().headers.count("if-none-match") == 0);
        CHECK(conditional_get({first.etag, first.last_modified}, counting).not_modified());
        CHECK(counting.begins == 0);
        CHECK(rig.fake.not_modified_count() == 3);

        // A stale validator: the new body, with the new validators.
        auto stale = conditional_get({"\"v0\"", ""}, counting);
        CHECK(stale.outcome == Outcome::success);
        CHECK(stale.status == 200);
        CHECK(stale.etag == "\"v1\"");
        CHECK(counting.begins == 1);
        CHECK(counting.bytes == 4);
        CHECK(rig.fake.not_modified_count() == 3);
        CHECK(rig.fake.request_count() == 5);

        // Answers, for the breaker: a run of 304s leaves it closed.
        auto list = rig.breakers.list();
        REQUIRE(list.size() == 1);
        CHECK(list[0].state == resilience::BreakerState::closed);
    }

    TEST_CASE("a 304 to a request without validators is bad_payload, never retried") {
        Rig rig;
        rig.fake.route("/rest/dataflow/ODD", {304, "", "text/plain", {}, {}});
        CountingSink sink;
        auto r = rig.client.get(rig.url("/rest/dataflow/ODD"), upstream::OpClass::structure, sink,
                                upstream::k_structure_accept);
        CHECK(r.outcome == Outcome::bad_payload);
        CHECK(r.status == 304);
        CHECK(r.message.find("304 Not Modified to a request without If-None-Match") !=
              std::string::npos);
        CHECK(r.attempts == 1);
        CHECK(rig.fake.request_count() == 1);
        CHECK(sink.begins == 0);

        // A validator with a line break is not sent (no header injection): the same answer.
        upstream::Conditional injected{"\"v1\"\r\nX-Injected: 1", "Wed\n"};
        r = rig.client.get(rig.url("/rest/dataflow/ODD"), upstream::OpClass::structure, sink,
                           upstream::k_structure_accept, 0, injected);
        CHECK(r.outcome == Outcome::bad_payload);
        auto sent = rig.fake.requests().back();
        CHECK(sent.headers.count("if-none-match") == 0);
        CHECK(sent.headers.count("if-modified-since") == 0);
        CHECK(sent.headers.count("x-injected") == 0);
    }

    TEST_CASE("validators too long or with control characters are not kept") {
        Rig rig;
        auto page = validated("<x/>");
        page.etag = "\"" + std::string(300, 'a') + "\"";
        page.last_modified = "Wed, 21 Oct 2015\x01 07:28:00 GMT";
        rig.fake.route("/rest/dataflow/LONG", page);
        auto r = rig.get("/rest/dataflow/LONG");
        CHECK(r.outcome == Outcome::success);
        CHECK(r.etag.empty());
        CHECK(r.last_modified.empty());
    }

    TEST_CASE("routes: a 429 from one source backs off that source only") {
        TwoSources two;
        two.client.set_routes({upstream::make_route(TwoSources::base(two.a), "A", "source-a"),
                               upstream::make_route(TwoSources::base(two.b), "B", "source-b")});
        two.a.set_faults(too_many_requests("120"));
        auto limited = two.get(two.a, "/dataflow/X");
        CHECK(limited.outcome == Outcome::rate_limited);
        CHECK(limited.message.find("backing off from source-a (A) for 2m") != std::string::npos);
        REQUIRE(two.budget("source-a"));
        CHECK(two.budget("source-a")->backoff_until);

        // A again: refused locally, nothing reaches A.
        auto again = two.get(two.a, "/dataflow/X");
        CHECK(again.outcome == Outcome::rate_limited);
        CHECK(again.message.find("backing off from source-a") != std::string::npos);
        CHECK(two.a.request_count() == 1);
        // B goes through at once: the manual clock did not move for it.
        auto before = two.clock.steady();
        CHECK(two.get(two.b, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.get(two.b, "/data/Y", upstream::OpClass::data).outcome == Outcome::success);
        CHECK(two.clock.steady() == before);
        CHECK(two.b.request_count() == 2);
        REQUIRE(two.budget("source-b"));
        CHECK_FALSE(two.budget("source-b")->backoff_until);
        // The host's own key was never spent: the routes replaced it.
        CHECK_FALSE(two.budget("127.0.0.1:" + std::to_string(two.a.port())));
        CHECK_FALSE(two.budget("127.0.0.1:" + std::to_string(two.b.port())));

        two.clock.advance(121s);
        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.a.request_count() == 2);
    }

    TEST_CASE("routes: split structure and data budgets are spent and backed off apart") {
        TwoSources two({{"istat-structure", {1, 1}}, {"istat-data", {1, 1}}});
        two.settings.wait_for_token = false;
        two.client.configure(two.settings);
        auto route =
            upstream::make_route(TwoSources::base(two.a), "ISTAT", "istat-structure", "istat-data");
        CHECK(route.key(upstream::OpClass::structure) == "istat-structure");
        CHECK(route.key(upstream::OpClass::data) == "istat-data");
        two.client.set_routes({route});

        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.get(two.a, "/data/Y", upstream::OpClass::data).outcome == Outcome::success);
        auto refused = two.get(two.a, "/dataflow/X");
        CHECK(refused.outcome == Outcome::rate_limited);
        CHECK(refused.message.find("the request budget for istat-structure (ISTAT) is spent") !=
              std::string::npos);
        CHECK(two.a.request_count() == 2);

        // A 429 on data backs off the data budget: structure calls still go out.
        two.clock.advance(60s);
        two.a.set_faults(too_many_requests("600"));
        auto limited = two.get(two.a, "/data/Y", upstream::OpClass::data);
        CHECK(limited.outcome == Outcome::rate_limited);
        CHECK(limited.message.find("backing off from istat-data (ISTAT)") != std::string::npos);
        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        two.clock.advance(60s);
        auto backing_off = two.get(two.a, "/data/Y", upstream::OpClass::data);
        CHECK(backing_off.outcome == Outcome::rate_limited);
        CHECK(backing_off.message.find("backing off from istat-data (ISTAT)") != std::string::npos);
        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.a.request_count() == 5);
    }

    TEST_CASE("routes: without a matching route the host is the budget, as before") {
        TwoSources two;
        // A route for B only, and one for A's port under another path.
        auto elsewhere = upstream::make_route(*util::parse_url(two.a.base() + "ful").url, "X", "x");
        CHECK(elsewhere.path_prefix == "/restful");
        two.client.set_routes(
            {upstream::make_route(TwoSources::base(two.b), "B", "source-b"), elsewhere});
        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        auto host = "127.0.0.1:" + std::to_string(two.a.port());
        REQUIRE(two.budget(host));
        CHECK(two.budget(host)->granted == 1);
        CHECK_FALSE(two.budget("x"));
        CHECK_FALSE(two.client.route_for(TwoSources::url(two.a, "/dataflow/X")));

        // A 429 without a route backs off the host's key, as it always did.
        two.a.set_faults(too_many_requests("120"));
        auto limited = two.get(two.a, "/dataflow/X");
        CHECK(limited.message.find("backing off from " + host) != std::string::npos);
        CHECK(two.budget(host)->backoff_until);

        // Routes replaced (a reload): none left, the host again for B too.
        two.client.set_routes({});
        CHECK(two.get(two.b, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.budget("127.0.0.1:" + std::to_string(two.b.port())));
        CHECK_FALSE(two.budget("source-b"));
    }

    TEST_CASE("routes: the longest prefix wins, and a redirect keeps the first URL's budget") {
        TwoSources two;
        auto root = *util::parse_url("http://127.0.0.1:" + std::to_string(two.a.port())).url;
        two.client.set_routes(
            {upstream::make_route(root, "all", "root"),
             upstream::make_route(TwoSources::base(two.a), "rest", "rest"),
             upstream::make_route(TwoSources::url(two.a, "/data"), "data", "rest-data")});
        CHECK(two.client.route_for(TwoSources::url(two.a, "/data/Y"))->source == "data");
        CHECK(two.client.route_for(TwoSources::url(two.a, "/dataflow/X"))->source == "rest");
        CHECK(two.client.route_for(root)->source == "all");
        CHECK(two.get(two.a, "/data/Y").outcome == Outcome::success);
        CHECK(two.get(two.a, "/dataflow/X").outcome == Outcome::success);
        CHECK(two.budget("rest-data")->granted == 1);
        CHECK(two.budget("rest")->granted == 1);

        // /rest/old redirects to /rest/data/Y: one token, from the first URL's budget.
        two.a.route("/rest/old", {302, "", "text/plain", {{"Location", "/rest/data/Y"}}, {}});
        auto moved = two.get(two.a, "/old");
        CHECK(moved.outcome == Outcome::success);
        CHECK(moved.url == two.a.base() + "/data/Y");
        CHECK(two.budget("rest")->granted == 2);
        CHECK(two.budget("rest-data")->granted == 1);
    }

    TEST_CASE("routes: a route's timeouts replace the settings' for its calls") {
        TwoSources two;
        auto route = upstream::make_route(TwoSources::base(two.a), "A", "source-a");
        route.structure_timeouts = upstream::Timeouts{200ms, 300ms, 400ms};
        two.client.set_routes({route});
        two.settings.retries = 0;
        two.client.configure(two.settings);
        Faults slow;
        slow.latency = 1500ms; // past both read timeouts: the route's 300 ms, the settings' 1 s
        two.a.set_faults(slow);
        two.b.set_faults(slow);
        auto start = std::chrono::steady_clock::now();
        auto r = two.get(two.a, "/dataflow/X");
        CHECK(r.outcome == Outcome::timeout);
        CHECK(std::chrono::steady_clock::now() - start < 1200ms);
        // B (no route) keeps the settings' 1 s read timeout: not yet timed out at 300 ms.
        auto b_start = std::chrono::steady_clock::now();
        CHECK(two.get(two.b, "/dataflow/X").outcome == Outcome::timeout);
        CHECK(std::chrono::steady_clock::now() - b_start >= 900ms);
    }
}

TEST_SUITE("fake upstream") {
    TEST_CASE("reject_references_on_all answers 400 as Eurostat's SDMX 2.1 API does") {
        Rig rig;
        rig.fake.route("/rest/dataflow/ESTAT/*", {200, "<x/>", "application/xml", {}, {}});
        Faults f;
        f.reject_references_on_all = true;
        rig.fake.set_faults(f);
        auto refused = rig.get("/rest/dataflow/ESTAT/all/latest?references=descendants");
        CHECK(refused.status == 400);
        CHECK(refused.outcome == Outcome::client_error);
        CHECK(refused.message.find("SDMX error 140") != std::string::npos);
        CHECK(rig.get("/rest/dataflow/ESTAT/all/latest?references=none").status == 200);
        CHECK(rig.get("/rest/dataflow/ESTAT/all/latest").status == 200);
        CHECK(rig.get("/rest/dataflow/ESTAT/nama_10_gdp/latest?references=all").status == 200);
        CHECK(rig.get("/rest/dataflow/ESTAT/allx/latest?references=all").status == 200);
        CHECK(rig.fake.request_count() == 5); // the refused one recorded too
        rig.fake.set_faults(Faults{});
        CHECK(rig.get("/rest/dataflow/ESTAT/all/latest?references=descendants").status == 200);
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

// The registry wired into the client: a config's sources (a user's sources file naming two fake
// upstreams) give the Upstream its routes and budgets, and the client adapts to a source's quirks.
TEST_SUITE("sources") {
    TEST_CASE("an Upstream built from the configuration spends each source's own budget") {
        FakeUpstream a;
        FakeUpstream b;
        a.route("/rest/dataflow/*", {200, "<x/>", "application/xml", {}, {}});
        b.route("/rest/dataflow/*", {200, "<x/>", "application/xml", {}, {}});
        test::TempDir dir;
        auto file = dir.file("sources.toml", "[sources.SA]\nbase_url = \"" + a.base() +
                                                 "\"\nagency = \"A1\"\nstructure_per_minute = 1\n"
                                                 "structure_burst = 1\n"
                                                 "[sources.SB]\nbase_url = \"" +
                                                 b.base() +
                                                 "\"\nagency = \"B1\"\nstructure_per_minute = 1\n"
                                                 "structure_burst = 1\n");
        config::LoadOptions o;
        o.default_config_dir.clear();
        o.default_secrets_dir.clear();
        o.env = {{"DATAFLOW_UPSTREAM_SOURCES_FILE", file},
                 {"DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE", "6000"},
                 {"DATAFLOW_UPSTREAM_RATE_LIMIT_BURST", "100"}};
        auto loaded = config::load(o);
        REQUIRE(loaded.ok());
        util::ManualClock clock;
        upstream::Upstream up(*loaded.config, clock);
        auto settings = up.client().settings();
        settings.wait_for_token = false;
        up.client().configure(settings);
        const auto& reg = *loaded.config->sources();
        auto get = [&](const char* id) {
            upstream::StringSink sink;
            return up.client().get(upstream::catalogue_url(*reg.find(id)),
                                   upstream::OpClass::structure, sink,
                                   upstream::k_structure_accept);
        };
        // Each source's one-a-minute budget, not the generous default for their host.
        CHECK(get("SA").outcome == Outcome::success);
        auto spent = get("SA");
        CHECK(spent.outcome == Outcome::rate_limited);
        CHECK(spent.message.find("source:SA (SA)") != std::string::npos);
        CHECK(a.request_count() == 1);
        CHECK(get("SB").outcome == Outcome::success); // B's budget is its own
        // A 429 from A backs off A only.
        clock.advance(61s);
        Faults f;
        f.fail_next = 1;
        f.fail_status = 429;
        f.fail_retry_after = "600";
        a.set_faults(f);
        CHECK(get("SA").outcome == Outcome::rate_limited);
        CHECK(get("SB").outcome == Outcome::success);
        clock.advance(61s);
        CHECK(get("SA").outcome == Outcome::rate_limited); // still backing off: nothing sent
        CHECK(a.request_count() == 2);
        CHECK(get("SB").outcome == Outcome::success);
        CHECK(b.request_count() == 3);
    }

    TEST_CASE("no references on `all` where the source refuses them: the client splits the query") {
        Rig rig;
        rig.fake.route("/rest/categoryscheme/*", {200, "<x/>", "application/xml", {}, {}});
        rig.fake.route("/rest/categorisation/*", {200, "<x/>", "application/xml", {}, {}});
        Faults f;
        f.reject_references_on_all = true; // Eurostat's SDMX 2.1 rule
        rig.fake.set_faults(f);
        config::Source s;
        s.id = "EULIKE";
        s.base_url = rig.fake.base();
        s.agency = "ESTAT";
        s.categories = config::CategoryServing::references;
        auto fetch_all = [&](const config::Source& src) {
            std::vector<int> statuses;
            for (const auto& url : upstream::category_queries(src)) {
                upstream::StringSink sink;
                statuses.push_back(
                    rig.client
                        .get(url, upstream::OpClass::structure, sink, upstream::k_structure_accept)
                        .status);
            }
            return statuses;
        };
        // A source said to take references on `all` asks once, and this upstream refuses it.
        CHECK(fetch_all(s) == std::vector<int>{400});
        // Flagged as it is: two plain queries, both answered.
        s.references_on_all = false;
        CHECK(fetch_all(s) == std::vector<int>{200, 200});
        auto reqs = rig.fake.requests();
        REQUIRE(reqs.size() == 3);
        CHECK(reqs[1].target == "/rest/categoryscheme/ESTAT/all/latest");
        CHECK(reqs[2].target == "/rest/categorisation/ESTAT/all/latest");
    }
}

// The upstream client's parts that need no server: query URLs, Retry-After, outcome names, route
// matching, and the cached form of probe results. The client itself, against the fake upstream, is
// tests/integration/test_upstream.cpp.

#include "analysis/probe_codec.hpp"
#include "analysis/readiness.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "upstream/client.hpp"
#include "upstream/sdmx_rest.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"
#include "util/url.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace dataflow;
using namespace std::chrono_literals;
using upstream::Outcome;

TEST_SUITE("upstream") {
    TEST_CASE("ids and keys are validated before they reach a URL") {
        auto base = *util::parse_url("https://esploradati.istat.it/SDMXWS/rest").url;
        CHECK(upstream::catalogue_url(base, "IT1").str() ==
              "https://esploradati.istat.it/SDMXWS/rest/dataflow/IT1");
        CHECK(upstream::data_url(base, "22_289", {"A.001001+001002..", 1, 0, "dataonly"}).str() ==
              "https://esploradati.istat.it/SDMXWS/rest/data/22_289/A.001001+001002..?"
              "lastNObservations=1&detail=dataonly");
        CHECK(upstream::data_url(base, "IT1,22_289,1.0", {}).target ==
              "/SDMXWS/rest/data/IT1%2C22_289%2C1.0");
        CHECK_THROWS_AS(upstream::data_url(base, "../../etc", {}), UsageError);
        CHECK_THROWS_AS(upstream::data_url(base, "x?y=1", {}), UsageError);
        CHECK_THROWS_AS(upstream::data_url(base, "x", {"A/../B", 0, 0, ""}), UsageError);
        CHECK_THROWS_AS(upstream::catalogue_url(base, "IT1/x"), UsageError);
        // One dataflow with its references (DSD, codelists).
        CHECK(upstream::dataflow_url(base, "IT1", "22_289").str() ==
              "https://esploradati.istat.it/SDMXWS/rest/dataflow/IT1/22_289/latest?references=all");
        CHECK_THROWS_AS(upstream::dataflow_url(base, "IT1", "22_289?x=1"), UsageError);
        CHECK_THROWS_AS(upstream::data_url(base, "x", {"", 0, 0, "all&x=1"}), UsageError);
    }

    TEST_CASE("parse_retry_after reads an HTTP date relative to now and refuses other text") {
        // An HTTP date.
        auto now = std::chrono::system_clock::from_time_t(784111777); // Sun, 06 Nov 1994 08:49:37
        auto after = upstream::parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now);
        REQUIRE(after);
        CHECK(*after == 120s);
        CHECK_FALSE(upstream::parse_retry_after("soon", now));
    }

    TEST_CASE("probe outcomes keep the names of the client outcomes they come from") {
        using analysis::ProbeOutcome;
        const std::pair<Outcome, std::string_view> names[] = {
            {Outcome::success, "success"},           {Outcome::no_data, "no_data"},
            {Outcome::client_error, "client_error"}, {Outcome::rate_limited, "rate_limited"},
            {Outcome::server_error, "server_error"}, {Outcome::timeout, "timeout"},
            {Outcome::network, "network"},           {Outcome::bad_payload, "bad_payload"},
            {Outcome::too_large, "too_large"},       {Outcome::breaker_open, "breaker_open"},
            {Outcome::cancelled, "cancelled"}};
        for (const auto& [outcome, name] : names) {
            CAPTURE(name);
            CHECK(upstream::to_string(outcome) == name); // the metrics label
            CHECK(analysis::to_string(upstream::probe_outcome(outcome)) == name);
            CHECK(analysis::parse_probe_outcome(name) == upstream::probe_outcome(outcome));
        }
        CHECK(analysis::to_string(ProbeOutcome::none).empty());
        CHECK(analysis::parse_probe_outcome("") == ProbeOutcome::none);
        CHECK(analysis::to_string(ProbeOutcome::not_requested) == "not_requested");
        CHECK(analysis::parse_probe_outcome("not_requested") == ProbeOutcome::not_requested);
        CHECK_FALSE(analysis::parse_probe_outcome("pending")); // a flag of its own, not stored
        CHECK_FALSE(analysis::parse_probe_outcome("Success"));
        CHECK_FALSE(analysis::parse_probe_outcome("ok"));
        CHECK_FALSE(analysis::worth_caching(ProbeOutcome::rate_limited));
        CHECK_FALSE(analysis::worth_caching(ProbeOutcome::cancelled));
        CHECK_FALSE(analysis::worth_caching(ProbeOutcome::breaker_open));
        CHECK(analysis::worth_caching(ProbeOutcome::success));
        CHECK(analysis::worth_caching(ProbeOutcome::no_data));
        CHECK(analysis::worth_caching(ProbeOutcome::timeout));
    }

    TEST_CASE("not_modified: a success of its own name, never retried, no error") {
        CHECK(upstream::to_string(Outcome::not_modified) == "not_modified");
        CHECK(upstream::probe_outcome(Outcome::not_modified) == analysis::ProbeOutcome::success);
        CHECK_FALSE(upstream::retryable(Outcome::not_modified));
        CHECK(upstream::error_kind(Outcome::not_modified) ==
              upstream::error_kind(Outcome::success));
        upstream::Response r;
        r.outcome = Outcome::not_modified;
        CHECK(r.not_modified());
        CHECK_FALSE(r.ok()); // ok() stays success-only: the caller's copy is the body
        r.outcome = Outcome::success;
        CHECK(r.ok());
        CHECK_FALSE(r.not_modified());
    }

    TEST_CASE("routes: scheme, host and port match, the path at '/' boundaries, the longest "
              "prefix wins") {
        auto url = [](const char* text) { return *util::parse_url(text).url; };
        auto rest = upstream::make_route(url("https://sdmx.example.org/rest/?x=1"), "EX",
                                         "ex-structure", "ex-data");
        CHECK(rest.scheme == "https");
        CHECK(rest.host == "sdmx.example.org");
        CHECK(rest.port == 443);
        CHECK(rest.path_prefix == "/rest"); // the query and the trailing '/' dropped
        CHECK(rest.source == "EX");
        CHECK(rest.key(upstream::OpClass::structure) == "ex-structure");
        CHECK(rest.key(upstream::OpClass::data) == "ex-data");
        auto shared = upstream::make_route(url("https://sdmx.example.org/rest/data"), "EX", "one");
        CHECK(shared.data_key == "one"); // one budget for both classes
        CHECK(shared.key(upstream::OpClass::data) == "one");

        std::vector<upstream::Route> routes{rest, shared};
        auto match = [&](const char* text) -> std::string {
            const auto* route = upstream::match_route(routes, url(text));
            return route ? route->structure_key : "";
        };
        CHECK(match("https://sdmx.example.org/rest") == "ex-structure");
        CHECK(match("https://sdmx.example.org/rest?detail=full") == "ex-structure");
        CHECK(match("https://sdmx.example.org/rest/dataflow/all") == "ex-structure");
        CHECK(match("https://sdmx.example.org/rest/data") == "one");
        CHECK(match("https://sdmx.example.org/rest/data/X?lastNObservations=1") == "one");
        CHECK(match("https://sdmx.example.org/rest/dataflow") == "ex-structure");
        CHECK(match("https://sdmx.example.org/restful") == "");
        CHECK(match("https://sdmx.example.org/") == "");
        CHECK(match("http://sdmx.example.org/rest") == "");       // another scheme
        CHECK(match("https://sdmx.example.org:8443/rest") == ""); // another port
        CHECK(match("https://other.example.org/rest") == "");
        CHECK(match("https://SDMX.example.org/rest/x") == "ex-structure"); // hosts: any case

        // Port 0: the scheme's default. An empty prefix holds every path.
        upstream::Route any;
        any.scheme = "https";
        any.host = "sdmx.example.org";
        any.structure_key = "any";
        routes.push_back(any);
        CHECK(match("https://sdmx.example.org/") == "any");
        CHECK(match("https://sdmx.example.org/restful") == "any");
        CHECK(match("https://sdmx.example.org/rest/x") == "ex-structure");
        CHECK(upstream::match_route({}, url("https://sdmx.example.org/rest")) == nullptr);
    }

    TEST_CASE("routes: set_routes replaces them all, route_for copies the match") {
        util::ManualClock clock;
        resilience::LocalRateLimiter limiter({60, 1}, {}, clock);
        resilience::BreakerRegistry breakers(resilience::BreakerSettings{}, clock);
        upstream::Client client(upstream::ClientSettings{}, limiter, breakers, clock);
        auto base = *util::parse_url("https://esploradati.istat.it/SDMXWS/rest").url;
        auto flow = upstream::catalogue_url(base, "IT1");
        CHECK_FALSE(client.route_for(flow));
        auto route = upstream::make_route(base, "ISTAT", "istat");
        route.data_timeouts = upstream::Timeouts{1s, 2s, 3s};
        client.set_routes({route});
        auto found = client.route_for(flow);
        REQUIRE(found);
        CHECK(found->source == "ISTAT");
        CHECK(found->data_timeouts->read == 2s);
        CHECK_FALSE(found->structure_timeouts);
        client.set_routes({});
        CHECK_FALSE(client.route_for(flow));
    }

    TEST_CASE("a cached probe result decodes and encodes again to the same bytes") {
        // As probe_to_json wrote it before outcomes were an enum.
        const std::string cached =
            R"({"data_access_success":false,"dataflow_id":"22_289","duration_seconds":0.5,)"
            R"("error_message":"GET http://x/data/22_289: 503","format":"","observations_count":0,)"
            R"("outcome":"server_error","parse_error":false,"query":"http://x/data/22_289",)"
            R"("series_count":0,"size_bytes":0,"status_code":503,)"
            R"("tested_at":"2025-01-02T03:04:05Z","time_to_first_byte_seconds":0.25,)"
            R"("truncated":false,"wire_bytes":12})";
        auto p = analysis::probe_from_json(cached);
        REQUIRE(p);
        CHECK(p->outcome == analysis::ProbeOutcome::server_error);
        CHECK(p->status_code == 503);
        CHECK(analysis::probe_to_json(*p) == cached);
        auto unknown = cached;
        unknown.replace(unknown.find("server_error"), 12, "server_gone!");
        CHECK_FALSE(analysis::probe_from_json(unknown)); // not written by us: a miss
    }
}

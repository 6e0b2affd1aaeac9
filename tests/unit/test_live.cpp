// The live pipeline (lib/live/): the cache keys the CLI and the service share, the catalogue
// through the cache (stale-if-error, refresh), probes through the cache with the one keep
// rule, and rank -> probe the N best -> re-analyse. Against a MemoryCache on a manual clock
// and the fake upstream on 127.0.0.1.

#include "analysis/probe_codec.hpp"
#include "analysis/rules.hpp"
#include "cache/memory_cache.hpp"
#include "config/loader.hpp"
#include "live/catalog.hpp"
#include "live/keys.hpp"
#include "live/pipeline.hpp"
#include "live/probes.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "sdmx/reader.hpp"
#include "support/fake_upstream.hpp"
#include "support/support.hpp"
#include "upstream/client.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

#include <doctest/doctest.h>

using namespace dataflow;
using namespace std::chrono_literals;
using test::Faults;

namespace {

/// A client to the fake upstream (limiter and breaker on a manual clock; network time is real)
/// and a memory cache on the same clock.
struct Rig {
    test::FakeUpstream fake;
    util::ManualClock clock;
    resilience::LocalRateLimiter limiter{{6000, 100}, {}, clock};
    resilience::BreakerRegistry breakers{resilience::BreakerSettings{}, clock};
    upstream::Client client{settings(), limiter, breakers, clock};
    cache::MemoryCache cache{64ULL << 20, clock};

    static upstream::ClientSettings settings() {
        upstream::ClientSettings s;
        s.user_agent = "dataflow-test/1";
        s.structure = {500ms, 1000ms, 3000ms};
        s.data = {500ms, 1000ms, 3000ms};
        s.retries = 0;
        return s;
    }
    Rig() {
        fake.route("/rest/dataflow/IT1",
                   {200, test::read_file(test::bundled_catalog()), "application/xml", {}, {}});
        fake.route("/rest/data/124_1157*",
                   {200,
                    test::read_file(test::sample("AndreaBozzo__Osservatorio/data_124_1157.xml")),
                    "application/xml",
                    {},
                    {}});
    }
    util::Url url(const std::string& path) const {
        return *util::parse_url("http://127.0.0.1:" + std::to_string(fake.port()) + path).url;
    }
    live::CachedProber prober(cache::Policy policy = {}) {
        return live::CachedProber(upstream::Prober(client, url("/rest"), {}), &cache, clock,
                                  policy);
    }
    std::size_t requests_to(const std::string& prefix) const {
        std::size_t n = 0;
        for (const auto& r : fake.requests()) {
            n += r.target.rfind(prefix, 0) == 0 ? 1 : 0;
        }
        return n;
    }
};

config::Config load_config(std::map<std::string, std::string> env) {
    config::LoadOptions o;
    o.default_config_dir.clear();
    o.default_secrets_dir.clear();
    o.env = std::move(env);
    auto r = config::load(o);
    REQUIRE(r.ok());
    return *r.config;
}

analysis::ProbeResult result_of(const std::string& id, analysis::ProbeOutcome outcome) {
    analysis::ProbeResult p;
    p.dataflow_id = id;
    p.outcome = outcome;
    p.data_access_success = outcome == analysis::ProbeOutcome::success;
    return p;
}

} // namespace

TEST_SUITE("live") {
    TEST_CASE("keys: the catalogue, probe and analysis keys hash the same inputs as before") {
        // Fixed values: entries stored before lib/live/ existed, and by every other process
        // (CLI or service), must keep hitting.
        CHECK(live::catalog_key(*util::parse_url("https://x/dataflow/IT1").url) ==
              "catalog:3f2b26e64b0ff3adfd065d099cad8734806aa935ec89008ec4cdde4162e8f200");
        CHECK(live::probe_key("https://x/rest/data/22_289/all?detail=full") ==
              "probe:b938250409c90db24be6b65fb2d4930978161ae62dfd293a1600a41d0a06686e");
        analysis::AnalysisOptions o;
        o.categories = {"lavoro", "salute"};
        o.min_score = 8;
        o.limit = 3;
        o.only_ready = true;
        // The service's analysis route hashed "lavoro,salute,|8|3|true|word|it,en,".
        CHECK(live::analysis_key("<doc/>", "xml_content", "fp1", o, "word", {"it", "en"}) ==
              "analysis:ffaeacd24c29afef32862b973d901b80e3fbc3e43decc9c92b69f8ef0006f33c");
        CHECK(live::analysis_key("<doc/>", "xml_content", "fp1", {}, "substring", {"it", "en"}) ==
              "analysis:92fd09ae4dc28ec49c9ba802999ac391c13f36381799d377163a879b5308987b");
    }

    TEST_CASE("keys: every analysis input changes the analysis key") {
        analysis::AnalysisOptions base;
        auto key = [](const analysis::AnalysisOptions& o, std::string_view bytes = "<doc/>",
                      std::string_view match = "substring",
                      std::vector<std::string> langs = {"it", "en"}) {
            return live::analysis_key(bytes, "xml_content", "fp1", o, match, langs);
        };
        auto k = key(base);
        std::vector<analysis::AnalysisOptions> variants(7, base);
        variants[0].categories = {"lavoro"};
        variants[1].min_score = 1;
        variants[2].limit = 5;
        variants[3].only_ready = true;
        variants[4].sort = analysis::SortKey::name;
        variants[5].query = "lavoro";
        variants[6].ids = {"22_289"};
        for (const auto& v : variants) {
            CHECK(key(v) != k);
        }
        CHECK(key(base, "<doc />") != k);
        CHECK(key(base, "<doc/>", "word") != k);
        CHECK(key(base, "<doc/>", "substring", {"en", "it"}) != k);
        CHECK(live::analysis_key("<doc/>", "file.xml", "fp1", base, "substring", {"it", "en"}) !=
              k);
        CHECK(live::analysis_key("<doc/>", "xml_content", "fp2", base, "substring", {"it", "en"}) !=
              k);
    }

    TEST_CASE("keep rule: measurements are kept (failed ones as negative), our own failures not") {
        using analysis::ProbeOutcome;
        auto ok = live::probe_entry(result_of("A", ProbeOutcome::success));
        CHECK(ok.store);
        CHECK_FALSE(ok.negative);
        CHECK(ok.tags == std::vector<std::string>{"probe"});
        CHECK(analysis::probe_from_json(ok.value)->dataflow_id == "A");
        for (auto o : {ProbeOutcome::no_data, ProbeOutcome::timeout, ProbeOutcome::server_error}) {
            CAPTURE(analysis::to_string(o));
            auto e = live::probe_entry(result_of("A", o));
            CHECK(e.store);
            CHECK(e.negative);
        }
        for (auto o :
             {ProbeOutcome::rate_limited, ProbeOutcome::cancelled, ProbeOutcome::breaker_open}) {
            CAPTURE(analysis::to_string(o));
            CHECK_FALSE(live::probe_entry(result_of("A", o)).store);
        }
    }

    TEST_CASE("probes: an answered probe is stored under the data URL's key and reused") {
        Rig rig;
        auto prober = rig.prober();
        CHECK_FALSE(prober.lookup("124_1157"));
        auto first = prober.measure("124_1157");
        CHECK_FALSE(first.from_cache);
        CHECK(first.result.outcome == analysis::ProbeOutcome::success);
        CHECK(rig.requests_to("/rest/data/") == 1);
        CHECK(prober.key("124_1157") == live::probe_key(prober.prober().url_for("124_1157")));
        CHECK(rig.cache.get(prober.key("124_1157")).hit());
        auto cached = prober.lookup("124_1157");
        REQUIRE(cached);
        CHECK(cached->fresh);
        CHECK(cached->result.observations_count == first.result.observations_count);
        auto again = prober.measure("124_1157");
        CHECK(again.from_cache);
        CHECK(again.result.observations_count == first.result.observations_count);
        CHECK(rig.requests_to("/rest/data/") == 1);
        // Another prober of the same data root (the service's, a later CLI run) finds it too.
        CHECK(rig.prober().lookup("124_1157"));
        // refresh: measured again even though a fresh result is cached.
        cache::Policy refresh;
        refresh.refresh = true;
        CHECK(rig.prober(refresh).measure("124_1157").from_cache == false);
        CHECK(rig.requests_to("/rest/data/") == 2);
    }

    TEST_CASE("probes: no data is kept as negative for negative_ttl, then measured again") {
        Rig rig;
        cache::Policy policy;
        policy.fresh_ttl = 1h;
        policy.stale_ttl = 1h;
        policy.negative_ttl = 10min;
        auto prober = rig.prober(policy);
        auto r = prober.measure("NOPE_1");
        CHECK(r.result.outcome == analysis::ProbeOutcome::no_data);
        auto l = rig.cache.get(prober.key("NOPE_1"));
        REQUIRE(l.hit());
        CHECK(l.entry.negative);
        CHECK(l.entry.fresh_until_ms - l.entry.stored_at_ms == 600'000);
        CHECK(prober.measure("NOPE_1").from_cache);
        CHECK(rig.requests_to("/rest/data/") == 1);
        rig.clock.advance(10min + 1s);
        CHECK_FALSE(prober.lookup("NOPE_1"));
        CHECK_FALSE(prober.measure("NOPE_1").from_cache);
        CHECK(rig.requests_to("/rest/data/") == 2);
    }

    TEST_CASE("probes: a rate-limited or cancelled probe is not stored") {
        Rig rig;
        auto prober = rig.prober();
        Faults f;
        f.fail_next = 1;
        f.fail_status = 429;
        rig.fake.set_faults(f);
        auto limited = prober.measure("124_1157");
        CHECK(limited.result.outcome == analysis::ProbeOutcome::rate_limited);
        CHECK_FALSE(prober.lookup("124_1157"));
        CHECK_FALSE(rig.cache.get(prober.key("124_1157")).hit());

        rig.client.cancel();
        auto cancelled = prober.measure("124_1157");
        CHECK(cancelled.result.outcome == analysis::ProbeOutcome::cancelled);
        CHECK_FALSE(prober.lookup("124_1157"));
    }

    TEST_CASE("probes: without a cache every measure probes and nothing is kept") {
        Rig rig;
        live::CachedProber prober(upstream::Prober(rig.client, rig.url("/rest"), {}), nullptr,
                                  rig.clock, {});
        CHECK_FALSE(prober.measure("124_1157").from_cache);
        CHECK_FALSE(prober.measure("124_1157").from_cache);
        CHECK_FALSE(prober.lookup("124_1157"));
        CHECK(rig.requests_to("/rest/data/") == 2);
    }

    TEST_CASE("catalogue: fetched once, then served from the cache, refresh fetches again") {
        Rig rig;
        live::CatalogFetcher fetcher(rig.client, &rig.cache, rig.clock);
        auto url = rig.url("/rest/dataflow/IT1");
        cache::Policy policy;
        auto first = fetcher.fetch(url, 64ULL << 20, policy);
        REQUIRE(first);
        CHECK_FALSE(first->cache_hit);
        CHECK_FALSE(first->age_seconds);
        CHECK(first->body == test::read_file(test::bundled_catalog()));
        CHECK(rig.cache.get(live::catalog_key(url)).hit());
        auto second = fetcher.fetch(url, 64ULL << 20, policy);
        REQUIRE(second);
        CHECK(second->cache_hit);
        CHECK_FALSE(second->stale);
        CHECK(second->body == first->body);
        CHECK(second->stored_at_ms == first->stored_at_ms);
        CHECK(rig.requests_to("/rest/dataflow/") == 1);
        policy.refresh = true;
        auto refreshed = fetcher.fetch(url, 64ULL << 20, policy);
        REQUIRE(refreshed);
        CHECK_FALSE(refreshed->cache_hit);
        CHECK(rig.requests_to("/rest/dataflow/") == 2);
    }

    TEST_CASE("catalogue: a failed refresh serves the stale copy, saying why") {
        Rig rig;
        live::CatalogFetcher fetcher(rig.client, &rig.cache, rig.clock);
        auto url = rig.url("/rest/dataflow/IT1");
        cache::Policy policy;
        policy.fresh_ttl = 1min;
        policy.stale_ttl = 1h;
        REQUIRE(fetcher.fetch(url, 64ULL << 20, policy));
        rig.clock.advance(2min);
        Faults f;
        f.fail_next = 1;
        rig.fake.set_faults(f);
        auto stale = fetcher.fetch(url, 64ULL << 20, policy);
        REQUIRE(stale);
        CHECK(stale->cache_hit);
        CHECK(stale->stale);
        CHECK(stale->stale_reason.find("500 server error") != std::string::npos);
        CHECK(stale->body == test::read_file(test::bundled_catalog()));
        CHECK(rig.requests_to("/rest/dataflow/") == 2);
    }

    TEST_CASE("catalogue: failures without a copy are errors of their kind with a hint") {
        Rig rig;
        live::CatalogFetcher fetcher(rig.client, &rig.cache, rig.clock);
        Faults f;
        f.fail_next = 1;
        rig.fake.set_faults(f);
        auto url = rig.url("/rest/dataflow/IT1");
        try {
            fetcher.fetch(url, 64ULL << 20, {});
            FAIL("no error");
        } catch (const Error& e) {
            CHECK(e.kind() == ErrorKind::unavailable);
            CHECK(std::string(e.what()) ==
                  "GET " + url.str() +
                      ": 500 server error; the upstream may be down, try again later");
        }
        CHECK_THROWS_WITH_AS(fetcher.fetch(rig.url("/rest/dataflow/XX9"), 64ULL << 20, {}),
                             doctest::Contains("; check upstream.agency and the URL"), Error);
        auto too_large = url.str() + ": the catalogue is larger than the limit of 1.0 KiB; raise "
                                     "--max-input-bytes if it is expected";
        CHECK_THROWS_WITH_AS(live::fetch_catalogue(rig.client, url, 1024),
                             doctest::Contains(too_large.c_str()), InputError);
        rig.client.cancel();
        CHECK_FALSE(fetcher.fetch(url, 64ULL << 20, {}));
    }

    TEST_CASE("catalogue: the configured URL, its service root and the two policies") {
        auto c = load_config({{"DATAFLOW_UPSTREAM_BASE_URL", "http://up.example/sdmx/rest"},
                              {"DATAFLOW_UPSTREAM_AGENCY", "XY"},
                              {"DATAFLOW_CACHE_FRESH_TTL", "10m"},
                              {"DATAFLOW_CACHE_STALE_TTL", "1h"},
                              {"DATAFLOW_CATALOG_REFRESH_INTERVAL", "2h"}});
        auto url = live::configured_catalogue_url(c);
        CHECK(url.str() == "http://up.example/sdmx/rest/dataflow/XY");
        auto root = live::service_root(url);
        REQUIRE(root);
        CHECK(root->str() == "http://up.example/sdmx/rest");
        CHECK_FALSE(live::service_root(*util::parse_url("http://up.example/other").url));
        CHECK(live::catalog_policy(c).fresh_ttl == 10min);
        CHECK(live::catalog_policy(c).stale_ttl == 1h);
        CHECK(live::refreshed_catalog_policy(c).fresh_ttl == 2h);
        CHECK(live::refreshed_catalog_policy(c).stale_ttl == 2h);
    }

    TEST_CASE("pipeline: probes exactly the N best-ranked dataflows, then re-analyses with them") {
        auto bytes = test::read_file(test::bundled_catalog());
        auto catalog = sdmx::read_catalog(bytes, "it1.xml");
        auto categorizer = live::categorizer_for(config::Config{});
        analysis::AnalysisOptions options;
        options.only_ready = true; // ranking ignores it: nothing is ready before the probes
        auto ranking = options;
        ranking.only_ready = false;
        auto expected = analysis::top_ids(analysis::analyze(catalog, *categorizer, ranking), 3);
        REQUIRE(expected.size() == 3);
        int calls = 0;
        std::vector<std::string> asked;
        auto report = live::analyze_with_probes(
            catalog, *categorizer, options, 3, [&](const std::vector<std::string>& ids) {
                ++calls;
                asked = ids;
                analysis::ProbeResults r;
                r[ids[0]] = result_of(ids[0], analysis::ProbeOutcome::success);
                r[ids[1]] = result_of(ids[1], analysis::ProbeOutcome::no_data);
                r[ids[2]] = result_of(ids[2], analysis::ProbeOutcome::no_data);
                return r;
            });
        CHECK(calls == 1);
        CHECK(asked == expected);
        // Re-analysed with the results and the caller's only_ready: the one ready dataflow.
        REQUIRE(report.test_results.size() == 1);
        CHECK(report.test_results[0].probe.dataflow_id == expected[0]);
        CHECK(report.tableau_ready_count == 1);
        std::vector<std::string> listed;
        for (const auto& g : report.groups) {
            for (const auto& f : g.flows) {
                listed.push_back(f.flow->id);
            }
        }
        CHECK(listed == std::vector<std::string>{expected[0]});
    }

    TEST_CASE("pipeline: probe_count 0 is one analysis and never calls the probe") {
        auto bytes = test::read_file(test::bundled_catalog());
        auto catalog = sdmx::read_catalog(bytes, "it1.xml");
        auto categorizer = live::categorizer_for(config::Config{});
        analysis::AnalysisOptions options;
        options.limit = 7;
        bool called = false;
        auto report = live::analyze_with_probes(catalog, *categorizer, options, 0,
                                                [&](const std::vector<std::string>&) {
                                                    called = true;
                                                    return analysis::ProbeResults{};
                                                });
        CHECK_FALSE(called);
        auto plain = analysis::analyze(catalog, *categorizer, options);
        CHECK(report.returned == plain.returned);
        CHECK(report.returned == 7);
        CHECK(report.test_results.empty());
        CHECK(analysis::top_ids(report, 7) == analysis::top_ids(plain, 7));
    }

    TEST_CASE("categorizer_for: one shared categoriser per rules, match mode and languages") {
        config::Config defaults;
        auto a = live::categorizer_for(defaults);
        CHECK(live::categorizer_for(defaults) == a);
        CHECK(a->mode() == analysis::MatchMode::substring);
        CHECK(a->rules().fingerprint() == defaults.rules()->fingerprint());
        auto word = load_config({{"DATAFLOW_ANALYSIS_MATCH", "word"}});
        auto w = live::categorizer_for(word);
        CHECK(w != a);
        CHECK(w->mode() == analysis::MatchMode::word);
        CHECK(live::categorizer_for(word) == w);
        auto en = load_config({{"DATAFLOW_ANALYSIS_LANGUAGES", "en"}});
        auto e = live::categorizer_for(en);
        CHECK(e->languages() == std::vector<std::string>{"en"});
        // --rules: another rule set replaces the configured one.
        auto rules = analysis::parse_rules_toml(
            "[[rules]]\ncategory = \"x\"\npriority = 1\nkeywords = [\"y\"]\n", "x.toml");
        auto r = live::categorizer_for(defaults, rules);
        CHECK(r->rules().fingerprint() == rules->fingerprint());
        CHECK(r->rules().fingerprint() != defaults.rules()->fingerprint());
    }
}

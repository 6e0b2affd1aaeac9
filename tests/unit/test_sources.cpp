// The source registry (config/sources.*): the built-in entries, a user's extension file with
// its errors at FILE:LINE:COL, the configuration keys that choose a source, and what the
// client does with an entry (URLs, budgets, quirks).

#include "config/loader.hpp"
#include "config/sources.hpp"
#include "support/support.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/url.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace dataflow;
using test::TempDir;

namespace {

config::LoadOptions isolated() {
    config::LoadOptions o;
    o.default_config_dir.clear();
    o.default_secrets_dir.clear();
    return o;
}

std::string findings_text(const config::LoadResult& r) {
    std::string out;
    for (const auto& f : r.findings) {
        out += f.text() + "\n";
    }
    return out;
}

/// The LocatedError a document raises, as "NAME:LINE:COL: DETAIL".
std::string error_of(const std::string& text) {
    try {
        config::sources_from_toml(text, "user.toml", *config::builtin_sources());
    } catch (const LocatedError& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_SUITE("sources") {
    TEST_CASE("the built-in registry holds the agencies the issue names, each complete") {
        auto reg = config::builtin_sources();
        for (const char* id : {"ISTAT", "ESTAT", "ECB", "OECD", "IMF", "INSEE", "ABS", "BIS",
                               "UNICEF", "WB", "SGR"}) {
            CAPTURE(id);
            REQUIRE(reg->find(id) != nullptr);
        }
        std::set<std::string> hosts;
        for (const auto& s : reg->all()) {
            CAPTURE(s.id);
            auto url = util::parse_url(s.base_url, false);
            REQUIRE(url.url);
            CHECK(url.url->scheme == "https"); // every agency serves https today
            CHECK(url.url->target.find('?') == std::string::npos);
            CHECK(hosts.insert(url.url->host).second); // one source per host: budgets apart
            CHECK(util::is_sdmx_id(s.agency));
            CHECK_FALSE(s.name.empty());
            CHECK_FALSE(s.sdmx_versions.empty());
            CHECK_FALSE(s.formats.empty());
            CHECK(s.structure_rate.per_minute > 0);
            CHECK(s.structure_rate.per_minute <= 60); // polite: at most one a second
            CHECK(s.structure_rate.burst >= 1);
            CHECK(s.docs.rfind("http", 0) == 0);
            CHECK(s.origin == "built-in");
            for (const auto& other : s.other_urls) {
                CHECK(util::parse_url(other, false).url);
                CHECK(other != s.base_url);
            }
            // Every query the client builds for it is a valid URL under its base.
            CHECK(upstream::catalogue_url(s).str().rfind(s.base_url, 0) == 0);
            CHECK(upstream::check_url(s).str().rfind(s.base_url, 0) == 0);
        }
        // The facts the client acts on.
        const auto& istat = *reg->find("istat"); // ids are case-insensitive
        CHECK(istat.id == "ISTAT");
        CHECK(istat.base_url == "https://esploradati.istat.it/SDMXWS/rest");
        CHECK(istat.agency == "IT1");
        CHECK(istat.structure_rate == config::SourceRate{4, 1});
        CHECK_FALSE(istat.split_budget());
        CHECK_FALSE(istat.available_constraint);
        CHECK(istat.other_urls == std::vector<std::string>{"http://sdmx.istat.it/SDMXWS/rest"});
        const auto& oecd = *reg->find("OECD");
        CHECK(oecd.split_budget());
        CHECK(oecd.data_rate->per_minute < 1); // downloads an hour, not a minute
        CHECK(oecd.agency == "all");
        CHECK_FALSE(reg->find("ESTAT")->references_on_all);
        CHECK(reg->find("ECB")->conditional_requests);
        CHECK(reg->find("INSEE")->agency == "FR1");
        CHECK(reg->find("ABS")->categories == config::CategoryServing::none);
        CHECK(reg->find("WB")->trailing_slash);
        CHECK_FALSE(reg->find("WB")->last_n_observations);
        CHECK(upstream::catalogue_url(*reg->find("WB")).str() ==
              "https://api.worldbank.org/v2/sdmx/rest/dataflow/WB/");
        CHECK(upstream::catalogue_url(istat).str() ==
              "https://esploradati.istat.it/SDMXWS/rest/dataflow/IT1");
    }

    TEST_CASE("a user's file overrides fields of a built-in entry and adds new sources") {
        auto reg = config::sources_from_toml("[sources.ISTAT]\n"
                                             "structure_per_minute = 2\n"
                                             "\n"
                                             "[sources.NBB]\n"
                                             "name = \"National Bank of Belgium\"\n"
                                             "base_url = \"https://stat.nbb.be/restsdmx/rest\"\n"
                                             "agency = \"NBB\"\n"
                                             "data_per_minute = 1\n",
                                             "user.toml", *config::builtin_sources());
        const auto& istat = *reg->find("ISTAT");
        CHECK(istat.structure_rate.per_minute == 2);
        CHECK(istat.agency == "IT1"); // the rest kept
        CHECK(istat.origin == "user.toml:1");
        const auto* nbb = reg->find("nbb");
        REQUIRE(nbb != nullptr);
        CHECK(nbb->origin == "user.toml:4");
        CHECK(nbb->split_budget());
        CHECK(nbb->data_rate->per_minute == 1);
        CHECK(nbb->structure_rate == config::SourceRate{4, 1}); // the polite default
        CHECK(reg->all().size() == config::builtin_sources()->all().size() + 1);
        CHECK(reg->fingerprint() != config::builtin_sources()->fingerprint());
        CHECK(reg->origin() == "built-in + user.toml");
        // Fields apply in their own order, not the table's (toml++ sorts keys): data_burst alone
        // seeds the data budget from this table's structure rate, not the built-in one.
        auto seeded = config::sources_from_toml("[sources.ISTAT]\ndata_burst = 2\n"
                                                "structure_per_minute = 10\n",
                                                "u", *config::builtin_sources());
        REQUIRE(seeded->find("ISTAT")->data_rate);
        CHECK(seeded->find("ISTAT")->data_rate->per_minute == 10);
        CHECK(seeded->find("ISTAT")->data_rate->burst == 2);
        // shared_budget = true takes a split budget back
        auto joined = config::sources_from_toml("[sources.OECD]\nshared_budget = true\n", "u",
                                                *config::builtin_sources());
        CHECK_FALSE(joined->find("OECD")->split_budget());
    }

    TEST_CASE("a malformed extension is refused at FILE:LINE:COL with what to do") {
        CHECK(error_of("[sources.ISTAT\n").rfind("user.toml:1:", 0) == 0);
        CHECK(error_of("[sources.ISTAT]\nrate = 3\n") ==
              "user.toml:2:8: sources.ISTAT: unknown field 'rate' (known: name, base_url, "
              "other_urls, agency, sdmx_versions, formats, structure_per_minute, structure_burst, "
              "data_per_minute, data_burst, shared_budget, conditional_requests, "
              "references_on_all, categories, available_constraint, updated_after, "
              "last_n_observations, trailing_slash, structure_read_timeout, data_read_timeout, "
              "docs)");
        CHECK(error_of("[sources.X]\nname = \"x\"\n") ==
              "user.toml:1:1: sources.X: a new source needs at least base_url and agency");
        CHECK(error_of("[sources.X]\nbase_url = \"ftp://example.org\"\nagency = \"X\"\n")
                  .rfind("user.toml:2:12: sources.X: 'base_url': \"ftp://example.org\" ", 0) == 0);
        CHECK(error_of("\n\n[sources.ISTAT]\nagency = \"IT1/../x\"\n") ==
              "user.toml:4:10: sources.ISTAT: 'agency': \"IT1/../x\" is not an SDMX identifier "
              "(letters, digits, _ @ $ -)");
        CHECK(error_of("[sources.ISTAT]\nstructure_per_minute = 0\n") ==
              "user.toml:2:24: sources.ISTAT: 'structure_per_minute' must be between 0.01 and "
              "6000");
        CHECK(error_of("[sources.ISTAT]\nstructure_burst = 1.5\n") ==
              "user.toml:2:19: sources.ISTAT: 'structure_burst' must be a whole number between "
              "1 and 100");
        CHECK(error_of("[sources.ISTAT]\ncategories = \"tree\"\n") ==
              "user.toml:2:14: sources.ISTAT: 'categories': \"tree\" is not one of separate, "
              "references, none");
        CHECK(error_of("[sources.ISTAT]\ndata_read_timeout = \"forever\"\n")
                  .find("is not a duration between 100ms and 6h") != std::string::npos);
        CHECK(error_of("[sources.ISTAT]\nformats = [\"xlsx\"]\n") ==
              "user.toml:2:12: sources.ISTAT: 'formats': \"xlsx\" is not one of sdmx-ml, "
              "sdmx-json, sdmx-csv");
        CHECK(error_of("[sources.ISTAT]\nconditional_requests = \"yes\"\n") ==
              "user.toml:2:24: sources.ISTAT: 'conditional_requests' must be true or false");
        CHECK(error_of("[sources.\"a/b\"]\nagency = \"X\"\n")
                  .find("a source id is 1 to 32 letters") != std::string::npos);
        CHECK(error_of("[upstream]\nsource = \"ESTAT\"\n") ==
              "user.toml:1:1: unexpected 'upstream': a sources file holds [sources.ID] tables "
              "only");
        CHECK(error_of("[sources.ISTAT]\nname = \"a\\nb\"\n").find("must be one line") !=
              std::string::npos);
    }

    TEST_CASE("configuration: upstream.source picks an entry, base_url and agency still win") {
        auto defaults = config::load(isolated());
        REQUIRE(defaults.ok());
        auto u = upstream::configured_source(defaults.config->settings());
        CHECK(u.id == "ISTAT");
        CHECK(u.base_url == "https://esploradati.istat.it/SDMXWS/rest");
        CHECK(u.agency == "IT1");

        auto o = isolated();
        o.env = {{"DATAFLOW_UPSTREAM_SOURCE", "estat"}};
        auto estat = config::load(o);
        REQUIRE(estat.ok());
        auto e = upstream::configured_source(estat.config->settings());
        CHECK(e.id == "ESTAT");
        CHECK(e.agency == "ESTAT");
        CHECK(e.base_url == "https://ec.europa.eu/eurostat/api/dissemination/sdmx/2.1");

        o.env["DATAFLOW_UPSTREAM_BASE_URL"] = "https://proxy.example.org/estat";
        o.env["DATAFLOW_UPSTREAM_AGENCY"] = "EUROSTAT";
        auto proxied = config::load(o);
        REQUIRE(proxied.ok());
        auto p = upstream::configured_source(proxied.config->settings());
        CHECK(p.base_url == "https://proxy.example.org/estat");
        CHECK(p.agency == "EUROSTAT");
        CHECK_FALSE(p.references_on_all); // ESTAT's quirks through the proxy

        o.env = {{"DATAFLOW_UPSTREAM_SOURCE", "NOPE"}};
        auto unknown = config::load(o);
        CHECK_FALSE(unknown.ok());
        CHECK(findings_text(unknown).find(
                  "env DATAFLOW_UPSTREAM_SOURCE: error: upstream.source: \"NOPE\" is not a known "
                  "source (known: ABS, BIS, ECB, ESTAT, IMF, INSEE, ISTAT, OECD, SGR, UNICEF, "
                  "WB); `dataflow sources` lists them, upstream.sources_file adds one") !=
              std::string::npos);
    }

    TEST_CASE("configuration: upstream.sources_file, relative to the file naming it, errors "
              "located in it") {
        TempDir dir;
        dir.file("agencies.toml", "[sources.LOCAL]\nbase_url = \"http://127.0.0.1:9/rest\"\n"
                                  "agency = \"L1\"\n");
        auto main = dir.file("dataflow.toml", "[upstream]\nsource = \"LOCAL\"\n"
                                              "sources_file = \"agencies.toml\"\n");
        auto o = isolated();
        o.config_file = main;
        auto r = config::load(o);
        REQUIRE_MESSAGE(r.ok(), findings_text(r));
        CHECK(upstream::configured_source(r.config->settings()).base_url ==
              "http://127.0.0.1:9/rest");
        CHECK(upstream::configured_source(r.config->settings()).agency == "L1");
        CHECK(r.config->sources()->find("LOCAL") != nullptr);
        // Kept resolved: a reload re-checks the applied values as flags, from another directory.
        CHECK(r.config->str("upstream.sources_file") == (dir.path() / "agencies.toml").string());
        config::LoadOptions again = isolated();
        again.flags = {{"upstream.sources_file", r.config->str("upstream.sources_file"), "--x"},
                       {"upstream.source", "LOCAL", "--y"}};
        CHECK(config::load(again).ok());
        auto base_hash = config::load(isolated()).config->hash();
        CHECK(r.config->hash() != base_hash);

        auto bad = dir.file("bad.toml", "[sources.LOCAL]\nbase_url = 12\n");
        auto main2 = dir.file("d2.toml", "[upstream]\nsources_file = \"bad.toml\"\n");
        o.config_file = main2;
        auto r2 = config::load(o);
        CHECK_FALSE(r2.ok());
        CHECK(findings_text(r2).find(bad + ":2:12: error: upstream.sources_file: sources.LOCAL: "
                                           "'base_url' must be a string") != std::string::npos);

        auto main3 = dir.file("d3.toml", "[upstream]\nsources_file = \"missing.toml\"\n");
        o.config_file = main3;
        auto r3 = config::load(o);
        CHECK_FALSE(r3.ok());
        CHECK(findings_text(r3).find("cannot read the sources file") != std::string::npos);
    }

    TEST_CASE("budgets: a route and a limit per source, split by class where the source says") {
        auto o = isolated();
        auto r = config::load(o);
        REQUIRE(r.ok());
        auto b = upstream::source_budgets(r.config->settings());
        CHECK(b.routes.size() == config::builtin_sources()->all().size());
        REQUIRE(b.limits.count("source:ISTAT") == 1);
        CHECK(b.limits["source:ISTAT"].per_minute == 4);
        CHECK(b.limits.count("source:OECD/structure") == 1);
        CHECK(b.limits.count("source:OECD/data") == 1);
        auto istat = util::parse_url("https://esploradati.istat.it/SDMXWS/rest/data/X", false);
        const auto* route = upstream::match_route(b.routes, *istat.url);
        REQUIRE(route != nullptr);
        CHECK(route->key(upstream::OpClass::data) == "source:ISTAT");
        // ISTAT's slow data calls get its read timeout as a floor.
        REQUIRE(route->data_timeouts);
        CHECK(route->data_timeouts->read == std::chrono::milliseconds(240'000));
        auto oecd = util::parse_url("https://sdmx.oecd.org/public/rest/data/X", false);
        route = upstream::match_route(b.routes, *oecd.url);
        REQUIRE(route != nullptr);
        CHECK(route->key(upstream::OpClass::data) == "source:OECD/data");
        CHECK(route->key(upstream::OpClass::structure) == "source:OECD/structure");
        // An operator's host limit wins over the source's budget.
        o.env = {{"DATAFLOW_UPSTREAM_HOST_RATE_LIMITS", "sdmx.oecd.org=2"}};
        auto r2 = config::load(o);
        REQUIRE(r2.ok());
        auto b2 = upstream::source_budgets(r2.config->settings());
        CHECK(upstream::match_route(b2.routes, *oecd.url) == nullptr);
        CHECK(b2.limits["sdmx.oecd.org"].per_minute == 2);
    }

    TEST_CASE("quirks: no references on `all` where refused, categories where served") {
        config::Source s;
        s.id = "T";
        s.base_url = "https://example.org/rest";
        s.agency = "A1";
        s.categories = config::CategoryServing::references;
        auto one = upstream::category_queries(s);
        REQUIRE(one.size() == 1);
        CHECK(one[0].str() == "https://example.org/rest/categoryscheme/A1/all/latest"
                              "?references=parentsandsiblings");
        s.references_on_all = false; // Eurostat's SDMX 2.1 rule
        auto two = upstream::category_queries(s);
        REQUIRE(two.size() == 2);
        CHECK(two[0].str() == "https://example.org/rest/categoryscheme/A1/all/latest");
        CHECK(two[1].str() == "https://example.org/rest/categorisation/A1/all/latest");
        bool dropped = false;
        CHECK(upstream::structure_all_url(s, "dataflow", "descendants", &dropped).str() ==
              "https://example.org/rest/dataflow/A1/all/latest");
        CHECK(dropped);
        CHECK(upstream::structure_all_url(s, "dataflow", "none", &dropped).str() ==
              "https://example.org/rest/dataflow/A1/all/latest");
        CHECK_FALSE(dropped);
        s.categories = config::CategoryServing::separate;
        s.references_on_all = true;
        CHECK(upstream::category_queries(s).size() == 2);
        s.categories = config::CategoryServing::none;
        CHECK(upstream::category_queries(s).empty());
        s.trailing_slash = true;
        CHECK(upstream::check_url(s).str() ==
              "https://example.org/rest/dataflow/A1/all/latest/?detail=allstubs");
    }
}

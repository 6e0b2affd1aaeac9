// End-to-end: the served change feed. `serve` reads its catalogue from the fake upstream; the
// upstream's answer changes; after the next refresh /api/v1/changes and /api/v1/changes.atom
// show exactly that change set (the Atom read by a real feed parser, python3-feedparser); a
// second replica on the same Redis serves the same feed; a restart does not repeat it.

#include "support/fake_upstream.hpp"
#include "support/redis_server.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using dataflow::test::FakeUpstream;
using dataflow::test::RedisServer;
using Server = dataflow::test::ServeProcess;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

/// The bundled ISTAT list with 101_1015 re-versioned (1.2 -> 1.3), 101_1030 removed and a new
/// dataflow 999_NEW added.
std::string changed_catalogue(const std::string& v1) {
    auto v2 = replace_once(v1, "Dataflow=IT1:101_1015(1.2)\" agencyID=\"IT1\" version=\"1.2\"",
                           "Dataflow=IT1:101_1015(1.3)\" agencyID=\"IT1\" version=\"1.3\"");
    auto start = v2.find("<structure:Dataflow id=\"101_1030\"");
    REQUIRE(start != std::string::npos);
    auto end =
        v2.find("</structure:Dataflow>", start) + std::string("</structure:Dataflow>").size();
    v2.erase(start, end - start);
    return replace_once(
        v2, "<structure:Dataflow id=\"101_1015\"",
        "<structure:Dataflow id=\"999_NEW\" "
        "urn=\"urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:999_NEW(1.0)\" "
        "agencyID=\"IT1\" version=\"1.0\" isFinal=\"true\">\n"
        "        <common:Name xml:lang=\"it\">Nascite &amp; popolazione residente</common:Name>\n"
        "        <structure:Structure>\n"
        "          <Ref id=\"DCIS_NEW\" version=\"1.0\" agencyID=\"IT1\" package=\"datastructure\" "
        "class=\"DataStructure\" />\n"
        "        </structure:Structure>\n"
        "      </structure:Dataflow>\n"
        "      <structure:Dataflow id=\"101_1015\"");
}

std::vector<std::string> replica_env(const FakeUpstream& fake, const RedisServer& redis) {
    return {"DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
            "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
            "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100",
            "DATAFLOW_CACHE_BACKEND=redis",
            "DATAFLOW_REDIS_HOST=127.0.0.1",
            "DATAFLOW_REDIS_PORT=" + std::to_string(redis.port()),
            "DATAFLOW_REDIS_KEY_PREFIX=feed",
            "DATAFLOW_API_ADMIN_ENABLED=true"};
}

nlohmann::json get_json(Server& s, const std::string& path) {
    auto r = s.client().Get(path);
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return nlohmann::json::parse(r->body);
}

void wait_loaded(Server& s) {
    REQUIRE(dataflow::test::eventually(
        [&] {
            auto r = s.client().Get("/api/v1/dataflows?limit=1");
            return r && r->status == 200;
        },
        20s));
}

/// Parses `atom` with feedparser and ElementTree; prints "ok <entries> <title of the first>".
std::string parse_feed(const std::string& atom) {
    auto r = dataflow::test::run_process(
        {PYTHON3_BIN, "-c",
         "import sys, feedparser, xml.etree.ElementTree as ET\n"
         "text = sys.stdin.read()\n"
         "ET.fromstring(text.encode('utf-8'))\n"
         "d = feedparser.parse(text)\n"
         "assert not d.bozo, d.bozo_exception\n"
         "assert d.version == 'atom10', d.version\n"
         "print('ok', len(d.entries), d.entries[0].title if d.entries else '')\n"},
        atom, {}, 30000);
    return r.exit_code == 0 ? r.out : "python3 failed: " + r.err;
}

} // namespace

TEST_SUITE("change feed") {
    TEST_CASE("a changed upstream catalogue becomes one change set, served alike by every "
              "replica, in JSON and Atom, and not repeated after a restart") {
        RedisServer redis;
        FakeUpstream fake;
        auto v1 = dataflow::test::read_file(dataflow::test::bundled_catalog());
        fake.route("/rest/dataflow/IT1", {200, v1, "application/xml", {}, {}});
        auto env = replica_env(fake, redis);
        auto a = std::make_unique<Server>(env, std::vector<std::string>{"--no-catalog"});
        wait_loaded(*a);
        // The first catalogue is the baseline: no change set.
        auto empty = get_json(*a, "/api/v1/changes");
        CHECK(empty["changes"].empty());
        CHECK(empty["latest_seq"] == 0);

        fake.route("/rest/dataflow/IT1", {200, changed_catalogue(v1), "application/xml", {}, {}});
        auto refresh = a->client().Post("/api/v1/catalog/refresh");
        REQUIRE(refresh);
        REQUIRE(refresh->status == 202);
        REQUIRE(dataflow::test::eventually(
            [&] { return get_json(*a, "/api/v1/changes")["latest_seq"] == 1; }, 20s));
        auto feed = get_json(*a, "/api/v1/changes");
        REQUIRE(feed["changes"].size() == 1);
        const auto& c = feed["changes"][0];
        CHECK(c["seq"] == 1);
        CHECK(c["summary"] == nlohmann::json{{"added", 1}, {"removed", 1}, {"changed", 1}});
        CHECK(c["old"]["total"] == 456);
        CHECK(c["new"]["total"] == 456);
        REQUIRE(c["added"].size() == 1);
        CHECK(c["added"][0]["id"] == "999_NEW");
        CHECK(c["added"][0]["agency"] == "IT1");
        CHECK(c["added"][0]["version"] == "1.0");
        CHECK(c["added"][0]["category"] == "popolazione");
        REQUIRE(c["removed"].size() == 1);
        CHECK(c["removed"][0]["id"] == "101_1030");
        REQUIRE(c["changed"].size() == 1);
        CHECK(c["changed"][0]["id"] == "101_1015");
        CHECK(c["changed"][0]["changes"][0] ==
              nlohmann::json{{"field", "version"}, {"old", "1.2"}, {"new", "1.3"}});
        CHECK(has(c["title"].get<std::string>(), "ISTAT: 1 new dataflow — "));
        CHECK(has(c["title"].get<std::string>(), "1 removed; 1 new version"));
        CHECK_FALSE(c["detected_at"].get<std::string>().empty());

        // since: a seq or a time; ETag and 304.
        CHECK(get_json(*a, "/api/v1/changes?since=1")["changes"].empty());
        CHECK(get_json(*a, "/api/v1/changes?since=2020-01-01T00:00:00Z")["changes"].size() == 1);
        CHECK(a->client().Get("/api/v1/changes?since=yesterday")->status == 400);
        auto first = a->client().Get("/api/v1/changes");
        REQUIRE(first);
        auto etag = first->get_header_value("ETag");
        REQUIRE_FALSE(etag.empty());
        auto again = a->client().Get("/api/v1/changes", {{"If-None-Match", etag}});
        REQUIRE(again);
        CHECK(again->status == 304);
        CHECK(again->body.empty());

        // The Atom feed: one entry, read by a real feed parser.
        auto atom = a->client().Get("/api/v1/changes.atom");
        REQUIRE(atom);
        CHECK(atom->status == 200);
        CHECK(has(atom->get_header_value("Content-Type"), "application/atom+xml"));
        CHECK(parse_feed(atom->body) ==
              "ok 1 ISTAT: 1 new dataflow — Nascite & popolazione residente; 1 removed; 1 new "
              "version\n");
        auto atom_etag = atom->get_header_value("ETag");
        CHECK(a->client().Get("/api/v1/changes.atom", {{"If-None-Match", atom_etag}})->status ==
              304);

        // Metrics: the replica that recorded it counts it.
        auto m = a->client().Get("/metrics");
        REQUIRE(m);
        CHECK(has(m->body, "dataflow_catalog_changes_total{kind=\"added\"} 1"));
        CHECK(has(m->body, "dataflow_catalog_changes_total{kind=\"removed\"} 1"));
        CHECK(has(m->body, "dataflow_catalog_changes_total{kind=\"changed\"} 1"));

        // A second replica on the same Redis serves the same feed.
        Server b(env, {"--no-catalog"});
        wait_loaded(b);
        auto from_b = get_json(b, "/api/v1/changes");
        CHECK(from_b == feed);
        auto mb = b.client().Get("/metrics");
        REQUIRE(mb);
        CHECK_FALSE(has(mb->body, "dataflow_catalog_last_change_timestamp_seconds 0\n"));
        CHECK(has(mb->body, "dataflow_catalog_changes_total{kind=\"added\"} 0"));

        // A restart with a warm Redis, and a refresh of the same catalogue: nothing repeated.
        a.reset();
        a = std::make_unique<Server>(env, std::vector<std::string>{"--no-catalog"});
        wait_loaded(*a);
        REQUIRE(a->client().Post("/api/v1/catalog/refresh"));
        auto requests = fake.request_count();
        REQUIRE(dataflow::test::eventually([&] { return fake.request_count() > requests; }, 20s));
        std::this_thread::sleep_for(500ms);
        CHECK(get_json(*a, "/api/v1/changes") == feed);
        CHECK(get_json(b, "/api/v1/changes") == feed);
    }
}

// End-to-end: the served catalogue's answers are rendered once and served as bytes (strong
// ETag, 304 without a body, gzip compressed once), changing exactly when the catalogue, the
// rules or the query do; analyses beyond server.max_concurrent_analyses wait in a short queue
// instead of being shed, and a repeated analysis is answered without a slot.

#include "support/fake_upstream.hpp"
#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <thread>
#include <zlib.h>

using dataflow::test::FakeUpstream;
using Server = dataflow::test::ServeProcess;
using namespace std::chrono_literals;

namespace {

/// An exchange: status, the headers that matter here, the raw (undecoded) body.
struct Answer {
    int status = 0;
    std::string etag;
    std::string encoding;
    std::string cache_control;
    std::string vary;
    std::string age;
    std::string body;
};

Answer get(const Server& s, const std::string& path, httplib::Headers headers = {}) {
    auto c = s.client();
    c.set_decompress(false); // the bytes as sent
    if (headers.find("Accept-Encoding") == headers.end()) {
        headers.emplace("Accept-Encoding", "identity");
    }
    auto r = c.Get(path.c_str(), headers);
    REQUIRE(r);
    return {r->status,
            r->get_header_value("ETag"),
            r->get_header_value("Content-Encoding"),
            r->get_header_value("Cache-Control"),
            r->get_header_value("Vary"),
            r->get_header_value("Age"),
            r->body};
}

std::string gunzip(const std::string& in) {
    z_stream z{};
    REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
    std::string out(in.size() * 20 + 1024, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = inflate(&z, Z_FINISH);
    out.resize(z.total_out);
    inflateEnd(&z);
    CHECK(rc == Z_STREAM_END);
    return out;
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
}

void refresh(const Server& s) {
    auto r = s.client().Post("/api/v1/catalog/refresh");
    REQUIRE(r);
    REQUIRE(r->status == 202);
}

std::string analysis_body(const std::string& xml, int max_results) {
    return nlohmann::json{
        {"xml_content", xml}, {"include_tests", false}, {"max_results", max_results}}
        .dump();
}

} // namespace

TEST_SUITE("served answers") {
    TEST_CASE("the served catalogue: strong ETag, 304 without a body, gzip, changed only by "
              "the catalogue, the rules or the query") {
        FakeUpstream fake;
        auto v1 = dataflow::test::read_file(dataflow::test::bundled_catalog());
        fake.route("/rest/dataflow/IT1", {200, v1, "application/xml", {}, {}});
        Server s({"DATAFLOW_UPSTREAM_BASE_URL=" + fake.base(),
                  "DATAFLOW_UPSTREAM_RATE_LIMIT_PER_MINUTE=6000",
                  "DATAFLOW_UPSTREAM_RATE_LIMIT_BURST=100", "DATAFLOW_API_ADMIN_ENABLED=true"},
                 {"--no-catalog"});
        const std::string list = "/api/v1/dataflows?limit=20&category=lavoro";
        REQUIRE(dataflow::test::eventually([&] { return get(s, list).status == 200; }, 20s));

        auto a = get(s, list);
        CHECK(a.etag.size() > 2);
        CHECK(a.etag.front() == '"'); // strong: no W/
        CHECK(a.vary == "Accept-Encoding");
        CHECK(a.cache_control.find("max-age=") != std::string::npos);
        CHECK(a.encoding.empty());
        // The same answer, byte for byte, however the query is spelt.
        auto again = get(s, "/api/v1/dataflows?category=lavoro&sort=score&limit=20&min_score=0");
        CHECK(again.etag == a.etag);
        CHECK(again.body == a.body);
        // 304 without a body to a client that has it (weak comparison, a list of tags).
        auto not_modified = get(s, list, {{"If-None-Match", "\"other\", W/" + a.etag}});
        CHECK(not_modified.status == 304);
        CHECK(not_modified.body.empty());
        CHECK(not_modified.etag == a.etag);
        // gzip when accepted, decompressing to the same bytes; not when refused.
        auto gz = get(s, list, {{"Accept-Encoding", "br;q=1, gzip;q=0.5"}});
        CHECK(gz.encoding == "gzip");
        CHECK(gz.body.size() < a.body.size());
        CHECK(gunzip(gz.body) == a.body);
        CHECK(gz.etag != a.etag); // each representation its own strong tag
        CHECK(get(s, list, {{"If-None-Match", gz.etag}}).status == 304);
        CHECK(get(s, list, {{"Accept-Encoding", "gzip;q=0, *"}}).encoding.empty());
        CHECK(get(s, list, {{"Accept-Encoding", "*"}}).encoding == "gzip");
        // Time alone changes nothing.
        std::this_thread::sleep_for(1100ms);
        auto later = get(s, list);
        CHECK(later.etag == a.etag);
        CHECK(later.body == a.body);
        CHECK(later.age.empty()); // an origin server sends no Age: max-age counts from now
        // Range is ignored: the whole answer, 200, never bytes past its end.
        for (const char* range : {"bytes=5-9", "bytes=50000-60000", "bytes=-3", "bytes=0-0,5-6"}) {
            auto ranged = get(s, list, {{"Range", range}});
            CAPTURE(range);
            CHECK(ranged.status == 200);
            CHECK(ranged.body == a.body);
        }
        // The tag that matched comes back, so a cache can update the copy it holds.
        auto held_identity = get(s, list, {{"If-None-Match", a.etag}, {"Accept-Encoding", "gzip"}});
        CHECK(held_identity.status == 304);
        CHECK(held_identity.etag == a.etag);
        // Another query is another answer.
        CHECK(get(s, "/api/v1/dataflows?limit=21&category=lavoro").etag != a.etag);
        auto one = get(s, "/api/v1/dataflows/22_289");
        CHECK(one.status == 200);
        CHECK(get(s, "/api/v1/dataflows/22_289", {{"If-None-Match", one.etag}}).status == 304);
        CHECK(get(s, "/api/v1/dataflows/NOPE").status == 404);
        auto categories = get(s, "/api/v1/categories");
        CHECK(get(s, "/api/v1/categories", {{"If-None-Match", categories.etag}}).status == 304);

        // The same catalogue downloaded again: the same answer.
        refresh(s);
        REQUIRE(dataflow::test::eventually(
            [&] {
                return s.client()
                           .Get("/metrics")
                           ->body.find(
                               "dataflow_catalog_refreshes_total{result=\"downloaded\"} 2") !=
                       std::string::npos;
            },
            20s));
        CHECK(fake.request_count() == 2);
        CHECK(get(s, list).etag == a.etag);

        // A changed catalogue: a new answer.
        fake.route("/rest/dataflow/IT1",
                   {200,
                    replace_once(v1, "<structure:Dataflow id=\"101_1015\"",
                                 "<structure:Dataflow id=\"999_NEW\" agencyID=\"IT1\" "
                                 "version=\"1.0\"><common:Name xml:lang=\"it\">Occupati e "
                                 "disoccupati nuovi</common:Name></structure:Dataflow>"
                                 "<structure:Dataflow id=\"101_1015\""),
                    "application/xml",
                    {},
                    {}});
        refresh(s);
        REQUIRE(dataflow::test::eventually(
            [&] {
                return get(s, "/api/v1/dataflows?limit=0&q=nuovi").body.find("999_NEW") !=
                       std::string::npos;
            },
            20s));
        auto changed = get(s, list);
        CHECK(changed.etag != a.etag);
        CHECK(get(s, list, {{"If-None-Match", a.etag}}).status == 200);

        // Changed rules: a new answer.
        dataflow::test::write_file(s.config_dir() / "rules.toml",
                                   "[[analysis.rules]]\ncategory = \"lavoro\"\npriority = 3\n"
                                   "keywords = [\"occupati\"]\n");
        s.process->signal(SIGHUP);
        REQUIRE(dataflow::test::eventually(
            [&] {
                auto rules = nlohmann::json::parse(s.client().Get("/api/analysis/rules")->body);
                return rules["rules"].size() == 1;
            },
            10s));
        CHECK(get(s, list).etag != changed.etag);
    }

    TEST_CASE("analyses wait in the queue instead of being refused, a repeated one takes no "
              "slot") {
        auto xml = dataflow::test::read_file(dataflow::test::bundled_catalog());
        {
            // 12 different analyses at once, 4 slots: all answered, none refused. The wait is
            // raised from its 500 ms default so that a slow sanitizer build never times out.
            Server s({"DATAFLOW_SERVER_ANALYSIS_QUEUE_WAIT=20s"});
            std::atomic<int> ok{0};
            std::vector<std::thread> threads;
            for (int i = 0; i < 12; ++i) {
                threads.emplace_back([&, i] {
                    auto r = s.client().Post("/api/analysis/dataflow", analysis_body(xml, 10 + i),
                                             "application/json");
                    ok += r && r->status == 200 ? 1 : 0;
                });
            }
            for (auto& t : threads) {
                t.join();
            }
            CHECK(ok == 12);
            auto status = nlohmann::json::parse(s.client().Get("/health/status")->body);
            CHECK(status["analyses"]["busy_total"] == 0);
            CHECK(status["analyses"]["running"] == 0);
        }
        // One slot, a short queue: while a large analysis holds the slot, a repeated analysis is
        // answered from the cache and a new one waits 50 ms, then is refused.
        // The large body is charged to server.max_body_memory while its analysis runs (as its
        // buffer grew: up to twice its size): raised so that the small ones still fit.
        // The large analysis is tried larger until it holds the slot long enough on this
        // machine: under load, or as analyses get faster, 40 copies may be done too soon.
        Server s({"DATAFLOW_SERVER_MAX_CONCURRENT_ANALYSES=1",
                  "DATAFLOW_SERVER_ANALYSIS_QUEUE_SIZE=1",
                  "DATAFLOW_SERVER_ANALYSIS_QUEUE_WAIT=50ms",
                  "DATAFLOW_SERVER_MAX_BODY_MEMORY=2GiB", "DATAFLOW_SERVER_MAX_BODY_SIZE=512MiB"});
        auto cached_body = analysis_body(xml, 50);
        REQUIRE(
            s.client().Post("/api/analysis/dataflow", cached_body, "application/json")->status ==
            200);
        auto first = xml.find("<structure:Dataflow ");
        auto last = xml.rfind("</structure:Dataflows>");
        bool seen = false;
        for (int copies = 40; copies <= 640 && !seen; copies *= 2) {
            std::string big = xml.substr(0, first);
            for (int i = 0; i < copies; ++i) {
                big += xml.substr(first, last - first);
            }
            big += xml.substr(last);
            std::thread slow([&] {
                s.client().Post("/api/analysis/dataflow", analysis_body(big, copies),
                                "application/json");
            });
            auto running = [&] {
                auto st = nlohmann::json::parse(s.client().Get("/health/status")->body);
                return st["analyses"]["running"].get<int>();
            };
            if (dataflow::test::eventually([&] { return running() == 1; }, 10s)) {
                auto cached =
                    s.client().Post("/api/analysis/dataflow", cached_body, "application/json");
                // New in every attempt: an earlier attempt's may be in the cache.
                auto fresh = s.client().Post("/api/analysis/dataflow",
                                             analysis_body(xml, 500 + copies), "application/json");
                REQUIRE(cached);
                REQUIRE(fresh);
                if (running() == 1 && cached->status == 200) { // the slot was held throughout
                    seen = true;
                    CHECK(nlohmann::json::parse(cached->body)["performance_metrics"]["cache_hit"] ==
                          true);
                    CHECK(fresh->status == 503);
                    CHECK(fresh->get_header_value("Retry-After") == "1");
                } else if (running() == 1) {
                    CAPTURE(cached->body);
                    CHECK(cached->status == 200); // fails with the answer in the log
                }
            }
            slow.join();
        }
        CHECK(seen);
    }
}

// The change feed (live/changes.*): recording change sets in the cache, the bounds of the
// history, a change recorded twice, the JSON query and the Atom rendering.

#include "cache/memory_cache.hpp"
#include "live/changes.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <limits>

using namespace dataflow;
using namespace std::chrono_literals;

namespace {

analysis::CatalogDiff one_added(const std::string& id, const std::string& prepared) {
    analysis::CatalogDiff d;
    d.old_side = {"old.xml", "2026-11-01T00:00:00", 2};
    d.new_side = {"new.xml", prepared, 3};
    d.added.push_back({"IT1", id, "1.0", fmt::format("Nascite {}", id), "popolazione", 12});
    return d;
}

std::vector<int> seqs(const live::ChangeHistory& h, const live::ChangeQuery& q) {
    std::vector<int> out;
    auto doc = nlohmann::json::parse(live::render_changes_json(h, q));
    for (const auto& c : doc["changes"]) {
        out.push_back(c["seq"].get<int>());
    }
    return out;
}

} // namespace

TEST_SUITE("change feed") {
    TEST_CASE("change sets are numbered, kept in the cache and read back by another feed") {
        util::ManualClock clock;
        cache::MemoryCache cache(64 << 20, clock);
        live::ChangeFeed a(&cache, clock);
        live::ChangeFeed b(&cache, clock);
        a.configure("http://x/rest/dataflow/IT1", "ISTAT", {});
        b.configure("http://x/rest/dataflow/IT1", "ISTAT", {});
        CHECK(a.record(one_added("A", "p1")) == 1);
        clock.advance(2s);
        CHECK(a.record(one_added("B", "p2")) == 2);
        // The very same change seen by a second replica is not recorded again.
        CHECK(b.record(one_added("B", "p2")) == 0);
        clock.advance(2s);
        auto h = b.history();
        REQUIRE(h->changes.size() == 2);
        CHECK(h->changes[0].seq == 1);
        CHECK(h->changes[1].seq == 2);
        CHECK(h->changes[1].title == "ISTAT: 1 new dataflow — Nascite B");
        auto doc = nlohmann::json::parse(h->changes[1].json);
        CHECK(doc["added"][0]["id"] == "B");
        CHECK(doc["new"]["prepared"] == "p2");
        CHECK(doc["summary"]["added"] == 1);
        // Another catalogue has a feed of its own.
        live::ChangeFeed other(&cache, clock);
        other.configure("http://x/rest/dataflow/ESTAT", "ESTAT", {});
        CHECK(other.history()->changes.empty());
    }

    TEST_CASE("the history is bounded by count, age and bytes, oldest first out") {
        util::ManualClock clock;
        cache::MemoryCache cache(64 << 20, clock);
        live::ChangeFeed feed(&cache, clock);
        live::ChangeLimits limits;
        limits.max_count = 3;
        limits.max_age = 1h;
        feed.configure("u", "S", limits);
        for (int i = 0; i < 5; ++i) {
            feed.record(one_added(fmt::format("F{}", i), fmt::format("p{}", i)));
            clock.advance(1s);
        }
        auto h = feed.history();
        REQUIRE(h->changes.size() == 3);
        CHECK(h->changes.front().seq == 3);
        CHECK(h->next_seq == 6);
        clock.advance(2h);
        feed.record(one_added("G", "pg"));
        h = feed.history();
        REQUIRE(h->changes.size() == 1); // the others aged out
        CHECK(h->changes[0].seq == 6);   // numbers are never reused
        limits.max_bytes = 10;           // smaller than one change set: the newest stays
        feed.configure("u", "S", limits);
        feed.record(one_added("H", "ph"));
        clock.advance(2s);
        CHECK(feed.history()->changes.size() == 1);
        CHECK(feed.history()->changes[0].seq == 7);
    }

    TEST_CASE("since and limit select change sets, oldest first") {
        util::ManualClock clock;
        live::ChangeFeed feed(nullptr, clock); // no cache: this process only
        feed.configure("u", "S", {});
        for (int i = 0; i < 4; ++i) {
            feed.record(one_added(fmt::format("F{}", i), fmt::format("p{}", i)));
            clock.advance(10s);
        }
        auto h = feed.history();
        CHECK(seqs(*h, {}) == std::vector<int>{1, 2, 3, 4});
        live::ChangeQuery q;
        q.since_seq = 2;
        CHECK(seqs(*h, q) == std::vector<int>{3, 4});
        q.limit = 1;
        CHECK(seqs(*h, q) == std::vector<int>{3});
        live::ChangeQuery t;
        t.since_ms = h->changes[1].detected_at_ms;
        CHECK(seqs(*h, t) == std::vector<int>{3, 4});
        CHECK(nlohmann::json::parse(live::render_changes_json(*h, {}))["latest_seq"] == 4);
        // Cut short by limit: latest_seq is the last one returned, and more says so.
        live::ChangeQuery two;
        two.limit = 2;
        auto page = nlohmann::json::parse(live::render_changes_json(*h, two));
        CHECK(page["latest_seq"] == 2);
        CHECK(page["more"] == true);
        two.since_seq = 2;
        page = nlohmann::json::parse(live::render_changes_json(*h, two));
        CHECK(page["latest_seq"] == 4);
        CHECK(page["more"] == false);
    }

    TEST_CASE("an unreadable stored history is replaced, never thrown") {
        util::ManualClock clock;
        cache::MemoryCache cache(64 << 20, clock);
        live::ChangeFeed feed(&cache, clock);
        feed.configure("u", "S", {});
        cache::Entry bad;
        bad.value = R"({"v":1,"next_seq":"seven","changes":[{"seq":"x"}]})";
        bad.stored_at_ms = 1;
        bad.fresh_until_ms = std::numeric_limits<std::int64_t>::max() / 2;
        bad.stale_until_ms = bad.fresh_until_ms;
        cache.set(cache::make_key("changes", {"u"}), bad);
        CHECK(feed.history()->changes.empty());
        CHECK(feed.record(one_added("A", "p")) == 1);
    }

    TEST_CASE("the Atom feed is well-formed whatever the names hold") {
        util::ManualClock clock;
        live::ChangeFeed feed(nullptr, clock);
        feed.configure("http://x/rest/dataflow/IT1", "ISTAT", {});
        auto d = one_added("A", "p");
        d.added[0].name = std::string("Tom & Jerry <b>\"x\"</b> \x01\x1f bad \xff utf8 \xc3\xa8");
        feed.record(d);
        auto atom =
            live::render_changes_atom(*feed.history(), "ISTAT", "http://x/rest/dataflow/IT1",
                                      "https://feeds.example.org", 50);
        CHECK(atom.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                         "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
                         0) == 0);
        CHECK(atom.find("Tom &amp; Jerry &lt;b&gt;&quot;x&quot;&lt;/b&gt;") != std::string::npos);
        CHECK(atom.find('\x01') == std::string::npos);
        CHECK(atom.find('\xff') == std::string::npos);
        CHECK(atom.find("\xc3\xa8") != std::string::npos); // è kept
        CHECK(atom.find("<link rel=\"self\" type=\"application/atom+xml\" "
                        "href=\"https://feeds.example.org/api/v1/changes.atom\"/>") !=
              std::string::npos);
        CHECK(atom.find("href=\"https://feeds.example.org/api/v1/changes?since=0&amp;limit=1\"") !=
              std::string::npos);
        CHECK(live::xml_escape("a\tb\nc\x7f") == "a\tb\nc\x7f");
        CHECK(live::xml_escape("\xed\xa0\x80").empty()); // a UTF-16 surrogate: not a character
        CHECK(live::xml_escape("\xef\xbf\xbe").empty()); // U+FFFE
        CHECK(live::xml_escape("\xe0\x80\xaf").empty()); // overlong
    }
}

// Rendered answers: content negotiation (Accept-Encoding, If-None-Match), the bounded cache
// and its inputs.

#include "service/rendered.hpp"

#include <doctest/doctest.h>

using namespace dataflow::service;

TEST_CASE("rendered: gzip is accepted by name or by '*', never with q=0") {
    CHECK(accepts_gzip("gzip"));
    CHECK(accepts_gzip("br, gzip;q=0.5, deflate"));
    CHECK(accepts_gzip("x-gzip"));
    CHECK(accepts_gzip("*"));
    CHECK(accepts_gzip(" GZIP ; Q=1 "));
    CHECK_FALSE(accepts_gzip(""));
    CHECK_FALSE(accepts_gzip("identity"));
    CHECK_FALSE(accepts_gzip("br"));
    CHECK_FALSE(accepts_gzip("gzip;q=0"));
    CHECK_FALSE(accepts_gzip("gzip;q=0.000, *"));
    CHECK_FALSE(accepts_gzip("*;q=0"));
    CHECK_FALSE(accepts_gzip("gzip;q=nonsense"));
}

TEST_CASE("rendered: If-None-Match compares entity tags weakly, in a list, or '*'") {
    CHECK(etag_matches("\"abc\"", "\"abc\""));
    CHECK(etag_matches("W/\"abc\"", "\"abc\""));
    CHECK(etag_matches("\"x\", \"abc\"", "\"abc\""));
    CHECK(etag_matches("*", "\"abc\""));
    CHECK_FALSE(etag_matches("\"abcd\"", "\"abc\""));
    CHECK_FALSE(etag_matches("abc", "\"abc\""));
    CHECK_FALSE(etag_matches("", "\"abc\""));
}

TEST_CASE("rendered: a body is hashed and compressed once") {
    std::string body(4096, 'a');
    auto r = make_rendered(body, "application/json", 1000);
    CHECK(*r->body == body);
    REQUIRE(r->gzip);
    CHECK(r->gzip->size() < body.size());
    CHECK(r->etag.size() == 34);
    CHECK(r->etag != r->gzip_etag);
    CHECK(make_rendered(body, "application/json", 2000)->etag == r->etag);
    CHECK(make_rendered(std::string(body).append("b"), "application/json", 1000)->etag != r->etag);
    // Too small to gain: no gzip.
    CHECK_FALSE(make_rendered("{}", "application/json", 0)->gzip);
}

TEST_CASE("rendered: the cache renders once per key and inputs, within its bytes") {
    RenderCache cache;
    auto a = std::make_shared<int>(1);
    auto b = std::make_shared<int>(2);
    int renders = 0;
    auto render = [&] {
        ++renders;
        return std::string(1000, 'x');
    };
    constexpr std::size_t max = 64 * 1024;
    auto first = cache.get({a}, "k", render, "application/json", 0, max);
    auto second = cache.get({a}, "k", render, "application/json", 0, max);
    CHECK(renders == 1);
    CHECK(first == second);
    cache.get({a}, "other", render, "application/json", 0, max);
    CHECK(renders == 2);
    CHECK(cache.stats().entries == 2);
    // Other inputs: everything rendered again.
    cache.get({b}, "k", render, "application/json", 0, max);
    CHECK(renders == 3);
    CHECK(cache.stats().entries == 1);
    // Bounded: the least recently used go first; an answer larger than the bound is not kept.
    for (int i = 0; i < 200; ++i) {
        cache.get({b}, std::string(1, 'n').append(std::to_string(i)), render, "application/json", 0,
                  max);
    }
    CHECK(cache.stats().bytes <= max);
    CHECK(cache.stats().entries < 200);
    cache.get(
        {b}, "huge", [] { return std::string(200 * 1024, 'y'); }, "text/plain", 0, max);
    CHECK(cache.stats().bytes <= max);
    // 0 keeps nothing.
    cache.get({b}, "k", render, "application/json", 0, 0);
    CHECK(cache.stats().entries == 0);
    auto before = renders;
    cache.get({b}, "k", render, "application/json", 0, 0);
    CHECK(renders == before + 1);
}

TEST_CASE("rendered: analysis keys are remembered for one configuration at a time") {
    KeyMemo memo;
    auto a = std::make_shared<int>(1);
    auto b = std::make_shared<int>(2);
    CHECK_FALSE(memo.find(a, "d1"));
    memo.put(a, "d1", "key1");
    CHECK(memo.find(a, "d1") == std::optional<std::string>("key1"));
    CHECK_FALSE(memo.find(b, "d1")); // another configuration: its own keys
    memo.put(b, "d2", "key2");
    CHECK_FALSE(memo.find(a, "d1"));
    CHECK(memo.find(b, "d2") == std::optional<std::string>("key2"));
    for (std::size_t i = 0; i <= KeyMemo::k_max_entries; ++i) {
        memo.put(b, std::to_string(i), "k");
    }
    CHECK_FALSE(memo.find(b, "d2")); // bounded: emptied when full
}

// Circuit breaker and rate limiter, driven by a manual clock (no sleeps).

#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace dataflow;
using namespace std::chrono_literals;
using resilience::BreakerSettings;
using resilience::BreakerState;
using resilience::CallResult;
using resilience::CircuitBreaker;

namespace {

void fail_once(CircuitBreaker& b) {
    auto p = b.acquire();
    REQUIRE(p.allowed);
    b.record(p, CallResult::failure, 10ms);
}

void succeed_once(CircuitBreaker& b) {
    auto p = b.acquire();
    REQUIRE(p.allowed);
    b.record(p, CallResult::success, 10ms);
}

} // namespace

TEST_SUITE("circuit breaker") {
    TEST_CASE("opens after N consecutive failures, fails fast, says when to retry") {
        util::ManualClock clock;
        CircuitBreaker b("istat/structure", BreakerSettings{}, clock);
        for (int i = 0; i < 4; ++i) {
            fail_once(b);
        }
        CHECK(b.snapshot().state == BreakerState::closed);
        fail_once(b);
        CHECK(b.snapshot().state == BreakerState::open);
        auto refused = b.acquire();
        CHECK_FALSE(refused.allowed);
        CHECK(refused.retry_at == clock.steady() + 60s);
        clock.advance(59s);
        CHECK_FALSE(b.acquire().allowed);
        CHECK(b.snapshot().rejected == 2);
        CHECK(b.snapshot().opened == 1);
    }

    TEST_CASE("half-open admits exactly one trial, success closes, failure reopens") {
        util::ManualClock clock;
        CircuitBreaker b("h/data", BreakerSettings{}, clock);
        for (int i = 0; i < 5; ++i) {
            fail_once(b);
        }
        clock.advance(60s);
        auto trial = b.acquire();
        CHECK(trial.allowed);
        CHECK(trial.trial);
        // While the trial is in flight, nobody else gets through.
        for (int i = 0; i < 10; ++i) {
            CHECK_FALSE(b.acquire().allowed);
        }
        b.record(trial, CallResult::failure, 5ms);
        CHECK(b.snapshot().state == BreakerState::open);
        CHECK(b.snapshot().opened == 2);
        CHECK_FALSE(b.acquire().allowed);
        clock.advance(60s);
        auto second = b.acquire();
        REQUIRE(second.allowed);
        b.record(second, CallResult::success, 5ms);
        CHECK(b.snapshot().state == BreakerState::closed);
        succeed_once(b);
        // A closed breaker counts afresh.
        for (int i = 0; i < 4; ++i) {
            fail_once(b);
        }
        CHECK(b.snapshot().state == BreakerState::closed);
    }

    TEST_CASE("N trial successes may be required") {
        util::ManualClock clock;
        BreakerSettings s;
        s.half_open_successes = 2;
        CircuitBreaker b("x", s, clock);
        for (int i = 0; i < 5; ++i) {
            fail_once(b);
        }
        clock.advance(60s);
        succeed_once(b);
        CHECK(b.snapshot().state == BreakerState::half_open);
        succeed_once(b);
        CHECK(b.snapshot().state == BreakerState::closed);
    }

    TEST_CASE("failure ratio over a minimum number of calls in the window") {
        util::ManualClock clock;
        CircuitBreaker b("x", BreakerSettings{}, clock);
        // Alternating: never 5 in a row, but 50 % of >= 10 calls.
        for (int i = 0; i < 9; ++i) {
            i % 2 == 0 ? fail_once(b) : succeed_once(b);
        }
        CHECK(b.snapshot().state == BreakerState::closed); // 9 calls < minimum 10
        fail_once(b);                                      // 6 of 10 failed
        CHECK(b.snapshot().state == BreakerState::open);
        // Old calls leave the window.
        util::ManualClock clock2;
        CircuitBreaker c("y", BreakerSettings{}, clock2);
        for (int i = 0; i < 4; ++i) {
            fail_once(c);
            succeed_once(c);
        }
        clock2.advance(61s);
        for (int i = 0; i < 4; ++i) {
            fail_once(c);
            succeed_once(c);
        }
        CHECK(c.snapshot().state == BreakerState::closed);
        CHECK(c.snapshot().window_calls == 8);
    }

    TEST_CASE("slow successes are failures, neutral results do not count") {
        util::ManualClock clock;
        CircuitBreaker b("x", BreakerSettings{}, clock);
        for (int i = 0; i < 5; ++i) {
            auto p = b.acquire();
            b.record(p, CallResult::success, 31s);
        }
        CHECK(b.snapshot().state == BreakerState::open);
        CircuitBreaker n("y", BreakerSettings{}, clock);
        for (int i = 0; i < 50; ++i) {
            auto p = n.acquire();
            n.record(p, CallResult::neutral, 1ms);
        }
        CHECK(n.snapshot().state == BreakerState::closed);
        CHECK(n.snapshot().window_calls == 0);
        // A neutral trial does not close it, and frees the slot for the next trial.
        for (int i = 0; i < 5; ++i) {
            fail_once(n);
        }
        clock.advance(60s);
        auto trial = n.acquire();
        n.record(trial, CallResult::neutral, 1ms);
        CHECK(n.snapshot().state == BreakerState::half_open);
        CHECK(n.acquire().allowed);
    }

    TEST_CASE("thread-safe: concurrent callers never get two trials") {
        util::ManualClock clock;
        CircuitBreaker b("x", BreakerSettings{}, clock);
        for (int i = 0; i < 5; ++i) {
            fail_once(b);
        }
        clock.advance(60s);
        std::atomic<int> allowed{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t) {
            threads.emplace_back([&] {
                for (int i = 0; i < 1000; ++i) {
                    if (b.acquire().allowed) {
                        ++allowed;
                    }
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        CHECK(allowed == 1);
    }

    TEST_CASE("the registry: one breaker per host and operation class") {
        util::ManualClock clock;
        resilience::BreakerRegistry registry(BreakerSettings{}, clock);
        auto& a = registry.get("esploradati.istat.it", "structure");
        auto& b = registry.get("esploradati.istat.it", "data");
        CHECK(&a != &b);
        CHECK(&a == &registry.get("esploradati.istat.it", "structure"));
        for (int i = 0; i < 5; ++i) {
            fail_once(b);
        }
        auto list = registry.list();
        REQUIRE(list.size() == 2);
        CHECK(list[0].name == "esploradati.istat.it/data");
        CHECK(list[0].state == BreakerState::open);
        CHECK(list[1].state == BreakerState::closed);
        BreakerSettings shorter;
        shorter.failure_threshold = 1;
        registry.configure(shorter);
        fail_once(a);
        CHECK(a.snapshot().state == BreakerState::open);
    }
}

TEST_SUITE("rate limiter") {
    using resilience::LocalRateLimiter;
    using resilience::RateLimit;

    TEST_CASE("a token bucket: 4 per minute, burst 1") {
        util::ManualClock clock;
        LocalRateLimiter limiter(RateLimit{4, 1}, {}, clock);
        auto first = limiter.reserve("h", 0ms);
        CHECK(first.granted);
        CHECK(first.send_at == clock.steady());
        auto second = limiter.reserve("h", 0ms);
        CHECK_FALSE(second.granted);
        CHECK(second.retry_at == clock.steady() + 15s);
        // Waiting is the caller's choice: within 20 s the next token is reserved for t+15 s.
        auto waited = limiter.reserve("h", 20s);
        CHECK(waited.granted);
        CHECK(waited.send_at == clock.steady() + 15s);
        // And the one after that for t+30 s.
        auto third = limiter.reserve("h", 60s);
        CHECK(third.send_at == clock.steady() + 30s);
        // Hosts are independent.
        CHECK(limiter.reserve("other", 0ms).granted);
    }

    TEST_CASE("never more than the budget over a long run") {
        util::ManualClock clock;
        LocalRateLimiter limiter(RateLimit{4, 1}, {}, clock);
        std::vector<std::chrono::steady_clock::time_point> sent;
        auto start = clock.steady();
        while (clock.steady() - start < 10min) {
            auto r = limiter.reserve("h", 1h);
            REQUIRE(r.granted);
            clock.sleep_until(r.send_at);
            sent.push_back(clock.steady());
        }
        // In any 60 s window at most burst + rate requests.
        for (std::size_t i = 0; i < sent.size(); ++i) {
            std::size_t in_window = 0;
            for (std::size_t j = i; j < sent.size() && sent[j] - sent[i] < 60s; ++j) {
                ++in_window;
            }
            CHECK(in_window <= 5);
        }
        CHECK(sent.size() == 41); // 1 at t=0, then one every 15 s for 10 minutes
    }

    TEST_CASE("back-off after a 429 sends nothing until it ends") {
        util::ManualClock clock;
        LocalRateLimiter limiter(RateLimit{60, 5}, {}, clock);
        CHECK(limiter.reserve("h", 0ms).granted);
        limiter.back_off("h", 15min);
        auto r = limiter.reserve("h", 1min);
        CHECK_FALSE(r.granted);
        CHECK(r.backing_off);
        CHECK(r.retry_at == clock.steady() + 15min);
        clock.advance(15min);
        CHECK(limiter.reserve("h", 0ms).granted);
        auto status = limiter.status();
        REQUIRE(status.size() == 1);
        CHECK(status[0].granted == 2);
        CHECK(status[0].refused == 1);
    }

    TEST_CASE("per-host limits") {
        std::map<std::string, RateLimit> hosts;
        CHECK(resilience::parse_host_limits({"sdmx.oecd.org=20/5", "a.b=0.5"}, hosts).empty());
        CHECK(hosts["sdmx.oecd.org"].per_minute == 20);
        CHECK(hosts["sdmx.oecd.org"].burst == 5);
        CHECK(hosts["a.b"].per_minute == 0.5);
        CHECK_FALSE(resilience::parse_host_limits({"nohost"}, hosts).empty());
        CHECK_FALSE(resilience::parse_host_limits({"h=0"}, hosts).empty());
        CHECK_FALSE(resilience::parse_host_limits({"h=5/0"}, hosts).empty());
        util::ManualClock clock;
        LocalRateLimiter limiter(RateLimit{4, 1}, hosts, clock);
        for (int i = 0; i < 5; ++i) {
            CHECK(limiter.reserve("sdmx.oecd.org", 0ms).granted);
        }
        CHECK_FALSE(limiter.reserve("sdmx.oecd.org", 0ms).granted);
    }
}

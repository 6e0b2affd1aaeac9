// Cache throughput: the memory backend's get/set rate, and Redis round trips through the pool
// and through RedisCache. `bench_cache [REDIS_PORT]` (bench/bench_cache.py starts a Redis).

#include "cache/memory_cache.hpp"
#include "cache/redis_cache.hpp"
#include "redis/pool.hpp"
#include "util/clock.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace dataflow;

namespace {

template <typename F>
double rate(int n, F&& f) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
        f(i);
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return n / s;
}

template <typename F>
double median_rate(int runs, int n, F&& f) {
    std::vector<double> r;
    for (int i = 0; i < runs; ++i) {
        r.push_back(rate(n, f));
    }
    std::sort(r.begin(), r.end());
    return r[r.size() / 2];
}

cache::Entry entry(std::size_t size) {
    cache::Entry e;
    e.value.assign(size, 'x');
    e.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    e.fresh_until_ms = e.stored_at_ms + 3'600'000;
    e.stale_until_ms = e.fresh_until_ms;
    return e;
}

} // namespace

int main(int argc, char** argv) {
    const auto& clock = util::SystemClock::instance();
    auto e = entry(1024);
    cache::MemoryCache memory(64ULL << 20, clock);
    std::vector<std::string> keys;
    for (int i = 0; i < 10000; ++i) {
        keys.push_back(cache::make_key("bench", {std::to_string(i)}));
    }
    double set = median_rate(5, 200000, [&](int i) { memory.set(keys[i % 10000], e); });
    double get = median_rate(5, 200000, [&](int i) { memory.get(keys[i % 10000]); });
    std::printf("memory backend, 1 KiB values, 10k keys: set %.0f/s, get %.0f/s (median of 5)\n",
                set, get);
    if (argc < 2) {
        return 0;
    }
    redis::Settings s;
    s.host = "127.0.0.1";
    s.port = std::atoi(argv[1]);
    s.pool_size = 1;
    redis::Pool pool(s, clock);
    pool.command({"SET", "bench:ping", "x"});
    double ping = median_rate(5, 20000, [&](int) { pool.command({"PING"}); });
    double raw_get = median_rate(5, 20000, [&](int) { pool.command({"GET", "bench:ping"}); });
    cache::RedisCache redis(s, "bench", 1 << 20, resilience::BreakerSettings{}, clock);
    for (int i = 0; i < 1000; ++i) {
        redis.set(keys[i], e);
    }
    double cache_get = median_rate(5, 20000, [&](int i) { redis.get(keys[i % 1000]); });
    double cache_set = median_rate(5, 20000, [&](int i) { redis.set(keys[i % 1000], e); });
    std::printf("redis via the pool (loopback, one connection, synchronous): PING %.0f/s (%.1f "
                "us), GET %.0f/s (%.1f us)\n",
                ping, 1e6 / ping, raw_get, 1e6 / raw_get);
    std::printf("RedisCache, 1 KiB values: get %.0f/s (%.1f us), set %.0f/s (%.1f us)\n", cache_get,
                1e6 / cache_get, cache_set, 1e6 / cache_set);
    return 0;
}

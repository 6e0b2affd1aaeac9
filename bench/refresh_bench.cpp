// Conditional catalogue refresh: what confirming an unchanged catalogue with a 304 costs on our
// side (CPU time of the refreshing thread: the conditional GET, the cache lookup of the entry's
// header and the in-place extension of its freshness), next to a refresh that downloads and
// parses it again. A loopback server in this process serves the catalogue with an ETag.
//
//   bench_refresh CATALOGUE.xml [REDIS_PORT]   (bench/bench_refresh.py makes the catalogue and
//                                               starts a Redis)

#include "cache/memory_cache.hpp"
#include "cache/redis_cache.hpp"
#include "live/catalog.hpp"
#include "resilience/circuit_breaker.hpp"
#include "resilience/rate_limiter.hpp"
#include "sdmx/reader.hpp"
#include "upstream/client.hpp"
#include "util/clock.hpp"
#include "util/url.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <httplib.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace dataflow;

namespace {

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wall_ms() {
    return std::chrono::duration<double, std::milli>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Sample {
    double cpu = 0;
    double wall = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

void report(const char* what, const std::vector<Sample>& samples) {
    std::vector<double> cpu;
    std::vector<double> wall;
    for (const auto& s : samples) {
        cpu.push_back(s.cpu);
        wall.push_back(s.wall);
    }
    std::printf("%-46s  CPU median %8.3f ms  wall median %8.3f ms  (%zu runs)\n", what, median(cpu),
                median(wall), samples.size());
}

/// Runs `rounds` refreshes of `url` through `cache`: forced revalidation of the version held.
void run(const char* label, cache::Cache& cache, const util::Url& url, const std::string& body,
         int rounds) {
    const auto& clock = util::SystemClock::instance();
    resilience::LocalRateLimiter limiter({6000, 100}, {}, clock);
    resilience::BreakerRegistry breakers(resilience::BreakerSettings{}, clock);
    upstream::ClientSettings settings;
    settings.retries = 0;
    upstream::Client client(settings, limiter, breakers, clock);
    live::CatalogFetcher fetcher(client, &cache, clock);
    cache::Policy policy;
    policy.refresh = true; // every round asks the upstream

    auto first = fetcher.fetch(url, 256ULL << 20, policy, true, 0);
    if (!first || first->body.size() != body.size()) {
        std::fprintf(stderr, "first fetch failed\n");
        std::exit(1);
    }
    auto held = first->born_ms;
    std::vector<Sample> not_modified;
    std::vector<Sample> downloaded;
    for (int i = 0; i < rounds; ++i) {
        double c0 = thread_cpu_ms();
        double w0 = wall_ms();
        auto r = fetcher.fetch(url, 256ULL << 20, policy, true, held);
        not_modified.push_back({thread_cpu_ms() - c0, wall_ms() - w0});
        if (!r || !r->not_modified || r->body_loaded) {
            std::fprintf(stderr, "expected a 304 without the body\n");
            std::exit(1);
        }
    }
    for (int i = 0; i < std::max(3, rounds / 10); ++i) {
        double c0 = thread_cpu_ms();
        double w0 = wall_ms();
        auto r = fetcher.fetch(url, 256ULL << 20, policy, false, 0);
        auto catalog = sdmx::read_catalog(r->body, url.str());
        downloaded.push_back({thread_cpu_ms() - c0, wall_ms() - w0});
        if (catalog.dataflows.empty()) {
            std::exit(1);
        }
    }
    std::printf("%s\n", label);
    report("  conditional refresh, 304 (unchanged)", not_modified);
    report("  unconditional refresh, 200 + parse", downloaded);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_refresh CATALOGUE.xml [REDIS_PORT]\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    const std::string etag = "\"catalogue-v1\"";

    httplib::Server server;
    server.set_tcp_nodelay(true);
    server.Get("/rest/dataflow/IT1", [&](const httplib::Request& req, httplib::Response& res) {
        if (req.get_header_value("If-None-Match") == etag) {
            res.status = 304;
            res.set_header("ETag", etag);
            return;
        }
        res.set_header("ETag", etag);
        res.set_content(body, "application/xml");
    });
    int port = server.bind_to_any_port("127.0.0.1");
    std::thread serving([&] { server.listen_after_bind(); });
    auto url =
        *util::parse_url("http://127.0.0.1:" + std::to_string(port) + "/rest/dataflow/IT1").url;
    std::printf("catalogue: %s, %zu bytes\n", argv[1], body.size());

    const auto& clock = util::SystemClock::instance();
    {
        cache::MemoryCache memory(512ULL << 20, clock);
        run("memory cache", memory, url, body, 200);
    }
    if (argc > 2) {
        redis::Settings rs;
        rs.host = "127.0.0.1";
        rs.port = std::atoi(argv[2]);
        cache::RedisCache redis(rs, "bench-refresh", 0, resilience::BreakerSettings{}, clock);
        redis.flush(false);
        run("redis cache", redis, url, body, 200);
    }
    server.stop();
    serving.join();
    return 0;
}

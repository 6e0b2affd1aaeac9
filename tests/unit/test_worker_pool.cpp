// The server's worker pool: grows while every worker is busy, shrinks when idle, serves what
// was queued before it stops.

#include "service/worker_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using dataflow::service::WorkerPool;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& f) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!f() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(5ms);
    }
    return f();
}

} // namespace

TEST_SUITE("worker pool") {
    TEST_CASE("a job never waits for a busy worker while the pool may grow") {
        WorkerPool pool(2, 8, 100ms);
        CHECK(pool.threads() == 2);
        std::mutex m;
        std::condition_variable cv;
        bool release = false;
        std::atomic<int> running{0};
        for (int i = 0; i < 6; ++i) {
            pool.enqueue([&] {
                ++running;
                std::unique_lock lock(m);
                cv.wait(lock, [&] { return release; });
            });
        }
        // Six held connections, six workers: none queued behind another.
        CHECK(eventually([&] { return running == 6; }));
        CHECK(pool.threads() == 6);
        CHECK(pool.queued() == 0);
        {
            std::lock_guard lock(m);
            release = true;
        }
        cv.notify_all();
        // The extra threads leave after the idle timeout; the core stays.
        CHECK(eventually([&] { return pool.threads() == 2; }));
    }

    TEST_CASE("beyond max, jobs queue and are all served") {
        WorkerPool pool(1, 3, 50ms);
        std::atomic<int> done{0};
        for (int i = 0; i < 50; ++i) {
            pool.enqueue([&] {
                std::this_thread::sleep_for(1ms);
                ++done;
            });
        }
        CHECK(pool.threads() <= 3);
        CHECK(eventually([&] { return done == 50; }));
    }

    TEST_CASE("shutdown finishes queued jobs, then every thread ends") {
        std::atomic<int> done{0};
        {
            WorkerPool pool(2, 2);
            for (int i = 0; i < 10; ++i) {
                pool.enqueue([&] {
                    std::this_thread::sleep_for(2ms);
                    ++done;
                });
            }
            pool.shutdown();
            CHECK(pool.threads() == 0);
            pool.enqueue([&] { done += 100; }); // refused after shutdown
        }
        CHECK(done == 10);
    }
}

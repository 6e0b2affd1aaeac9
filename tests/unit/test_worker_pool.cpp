// The server's worker pool: grows while every worker is busy, shrinks when idle, serves what
// was queued before it stops.

#include "service/worker_pool.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
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

    TEST_CASE("with an overflow, jobs beyond the busy workers and max_queued are refused at once") {
        WorkerPool pool(1, 1);
        std::atomic<int> overflowed{0};
        std::atomic<bool> release{false};
        pool.set_overflow(1, [&](std::function<void()> job) {
            ++overflowed;
            job(); // the refusal runs on the caller's thread, right away
        });
        std::atomic<int> done{0};
        auto blocker = [&] {
            while (!release) {
                std::this_thread::sleep_for(1ms);
            }
            ++done;
        };
        pool.enqueue(blocker); // the one worker
        REQUIRE(eventually([&] { return pool.queued() == 0; }));
        pool.enqueue([&] { ++done; }); // waits in the queue (max_queued 1)
        CHECK(overflowed == 0);
        pool.enqueue([&] { ++done; }); // over: refused on this thread
        CHECK(overflowed == 1);
        CHECK(done == 1);
        release = true;
        CHECK(eventually([&] { return done == 3; }));
        pool.shutdown();
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

    TEST_CASE(
        "a thread that cannot be created never escapes: queued jobs run on existing workers") {
        // Starts the first `allowed` threads, then fails as std::thread does at a thread limit.
        std::atomic<int> allowed{2};
        std::atomic<int> attempts{0};
        auto starter = [&](std::function<void()> run) {
            ++attempts;
            if (allowed.fetch_sub(1) <= 0) {
                throw std::system_error(
                    std::make_error_code(std::errc::resource_unavailable_try_again),
                    "thread creation failed");
            }
            std::thread(std::move(run)).detach();
        };
        std::mutex m;
        std::condition_variable cv;
        bool release = false;
        std::atomic<int> running{0};
        std::atomic<int> done{0};
        {
            WorkerPool pool(2, 8, 100ms, starter);
            CHECK(pool.threads() == 2);
            for (int i = 0; i < 6; ++i) {
                CHECK_NOTHROW(pool.enqueue([&] {
                    ++running;
                    std::unique_lock lock(m);
                    cv.wait(lock, [&] { return release; });
                    ++done;
                }));
            }
            // Growth was tried and failed: two workers hold two jobs, four wait in the queue.
            CHECK(attempts > 2);
            CHECK(eventually([&] { return running == 2; }));
            CHECK(pool.threads() == 2);
            CHECK(pool.queued() == 4);
            {
                std::lock_guard lock(m);
                release = true;
            }
            cv.notify_all();
            CHECK(eventually([&] { return done == 6; }));
            // Creation works again: the pool grows again.
            allowed = 100;
            release = false;
            running = 0;
            for (int i = 0; i < 4; ++i) {
                pool.enqueue([&] {
                    ++running;
                    std::unique_lock lock(m);
                    cv.wait(lock, [&] { return release; });
                    ++done;
                });
            }
            CHECK(eventually([&] { return running == 4; }));
            CHECK(pool.threads() >= 4);
            {
                std::lock_guard lock(m);
                release = true;
            }
            cv.notify_all();
        }
        CHECK(done == 10);
    }

    TEST_CASE("a pool whose core threads cannot be created serves its queue once one can be") {
        std::atomic<bool> fail{true};
        auto starter = [&](std::function<void()> run) {
            if (fail) {
                throw std::system_error(
                    std::make_error_code(std::errc::resource_unavailable_try_again),
                    "thread creation failed");
            }
            std::thread(std::move(run)).detach();
        };
        std::atomic<int> done{0};
        WorkerPool pool(2, 4, 50ms, starter);
        CHECK(pool.threads() == 0);
        CHECK_NOTHROW(pool.enqueue([&] { ++done; }));
        CHECK(pool.queued() == 1);
        fail = false;
        pool.enqueue([&] { ++done; });
        CHECK(eventually([&] { return done == 2; }));
        CHECK(pool.queued() == 0);
    }
}

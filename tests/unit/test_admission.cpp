// The analysis admission queue: slots, first-in-first-out waiting, queue-full and timeout
// refusals.

#include "service/admission.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using dataflow::service::Admission;
using namespace std::chrono_literals;

namespace {

/// Waits (bounded) until `admission` has `n` requests waiting.
void wait_for_waiting(const Admission& admission, int n) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (admission.waiting() != n && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);
    }
    REQUIRE(admission.waiting() == n);
}

} // namespace

TEST_CASE("admission: a free slot is taken at once, a held one is given back") {
    Admission admission;
    Admission::Limits limits{2, 0, 0ms};
    auto a = admission.acquire(limits);
    auto b = admission.acquire(limits);
    CHECK(a);
    CHECK(b);
    CHECK(admission.running() == 2);
    CHECK(admission.saturated(limits));
    auto why = Admission::Refusal::none;
    auto c = admission.acquire(limits, &why);
    CHECK_FALSE(c);
    CHECK(why == Admission::Refusal::queue_full);
    b.release();
    CHECK(admission.running() == 1);
    CHECK_FALSE(admission.saturated(limits));
    auto moved = std::move(a);
    CHECK(admission.running() == 1);
    {
        auto d = admission.acquire(limits);
        CHECK(d);
    }
    CHECK(admission.running() == 1);
    CHECK(admission.refused_total() == 1);
}

TEST_CASE("admission: queued requests get their slots in order of arrival") {
    Admission admission;
    Admission::Limits limits{1, 16, 10s};
    auto held = admission.acquire(limits);
    REQUIRE(held);
    std::mutex m;
    std::vector<int> order;
    std::vector<std::thread> threads;
    constexpr int n = 6;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            auto slot = admission.acquire(limits);
            std::lock_guard lock(m);
            order.push_back(slot ? i : -1);
        });
        wait_for_waiting(admission, i + 1); // the next one arrives after this one queued
    }
    CHECK(admission.queued_total() == n);
    held.release();
    for (auto& t : threads) {
        t.join();
    }
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5});
    CHECK(admission.running() == 0);
    CHECK(admission.waiting() == 0);
}

TEST_CASE("admission: a full queue refuses at once, before any wait") {
    Admission admission;
    Admission::Limits limits{1, 1, 10s};
    auto held = admission.acquire(limits);
    std::thread waiter([&] {
        auto slot = admission.acquire(limits);
        CHECK(slot);
    });
    wait_for_waiting(admission, 1);
    CHECK(admission.saturated(limits));
    auto started = std::chrono::steady_clock::now();
    auto why = Admission::Refusal::none;
    auto refused = admission.acquire(limits, &why);
    CHECK_FALSE(refused);
    CHECK(why == Admission::Refusal::queue_full);
    CHECK(std::chrono::steady_clock::now() - started < 5s); // not the queue's 10 s
    held.release();
    waiter.join();
}

TEST_CASE("admission: a wait that runs out is refused and leaves the queue to the next") {
    Admission admission;
    auto held = admission.acquire({1, 4, 10s});
    auto why = Admission::Refusal::none;
    std::thread impatient([&] {
        auto slot = admission.acquire({1, 4, 50ms}, &why);
        CHECK_FALSE(slot);
    });
    wait_for_waiting(admission, 1);
    bool patient_got_it = false;
    std::thread patient([&] {
        patient_got_it = static_cast<bool>(admission.acquire({1, 4, 10s}));
    });
    impatient.join();
    CHECK(why == Admission::Refusal::timed_out);
    wait_for_waiting(admission, 1); // the patient one, now first in line
    held.release();
    patient.join();
    CHECK(patient_got_it);
    CHECK(admission.refused_total() == 1);
}

TEST_CASE("admission: a wait of 0 means no queue") {
    Admission admission;
    Admission::Limits limits{1, 8, 0ms};
    auto held = admission.acquire(limits);
    CHECK(admission.saturated(limits));
    auto why = Admission::Refusal::none;
    CHECK_FALSE(admission.acquire(limits, &why));
    CHECK(why == Admission::Refusal::queue_full);
}

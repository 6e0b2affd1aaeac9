// The service's background probes: only ids the service serves are queued, at most max_new new
// ids per call and ProbeScheduler::k_max_queued in all. The worker is not started, so what is
// queued stays queued and the upstream is never called.

#include "cache/memory_cache.hpp"
#include "config/loader.hpp"
#include "service/probe_scheduler.hpp"
#include "upstream/setup.hpp"
#include "util/clock.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

using namespace dataflow;
using service::ProbeScheduler;

namespace {

struct Rig {
    util::ManualClock clock;
    cache::MemoryCache cache{16ULL << 20, clock};
    std::shared_ptr<const config::Config> config = load();
    upstream::Upstream upstream{*config, clock};
    ProbeScheduler scheduler{cache, upstream, clock};

    Rig() { scheduler.configure(*config); }

    static std::shared_ptr<const config::Config> load() {
        config::LoadOptions o;
        o.default_config_dir.clear();
        o.default_secrets_dir.clear();
        // Never contacted: the worker is not started.
        o.env = {{"DATAFLOW_UPSTREAM_BASE_URL", "http://127.0.0.1:9/rest"}};
        auto r = config::load(o);
        REQUIRE(r.ok());
        return r.config;
    }
};

std::vector<std::string> ids(const std::string& stem, std::size_t n) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(stem + std::to_string(i));
    }
    return out;
}

} // namespace

TEST_SUITE("probe scheduler") {
    TEST_CASE("ids outside the served catalogue are client_error and never queued") {
        Rig rig;
        std::set<std::string> served{"22_289", "DCIS_POPRES1"};
        rig.scheduler.set_probeable(
            [&served](const std::string& id) { return served.count(id) > 0; });
        auto r = rig.scheduler.lookup_or_schedule({"22_289", "NOT_SERVED", "DCIS_POPRES1", "a b"});
        REQUIRE(r.size() == 4);
        CHECK(r.at("22_289").pending);
        CHECK(r.at("DCIS_POPRES1").pending);
        const auto& refused = r.at("NOT_SERVED");
        CHECK_FALSE(refused.pending);
        CHECK(refused.outcome == analysis::ProbeOutcome::client_error);
        CHECK(refused.error_message ==
              std::string("not in the served catalogue; only its dataflows are probed"));
        CHECK(r.at("a b").outcome == analysis::ProbeOutcome::client_error);
        CHECK(rig.scheduler.queued() == 2);
        // A flood of unserved ids queues nothing.
        rig.scheduler.lookup_or_schedule(ids("FLOOD_", 500), 1000);
        CHECK(rig.scheduler.queued() == 2);
        // Without a predicate (or with an empty one) every well-formed id is probeable.
        rig.scheduler.set_probeable({});
        rig.scheduler.lookup_or_schedule({"NOT_SERVED"});
        CHECK(rig.scheduler.queued() == 3);
    }

    TEST_CASE("one call queues at most max_new new ids, the rest stay pending for later calls") {
        Rig rig;
        auto wanted = ids("DF_", 25);
        auto r = rig.scheduler.lookup_or_schedule(wanted);
        CHECK(rig.scheduler.queued() == ProbeScheduler::k_default_max_new);
        REQUIRE(r.size() == 25);
        for (const auto& id : wanted) {
            CHECK(r.at(id).pending);
        }
        // Ids already queued do not count against the next call's bound.
        rig.scheduler.lookup_or_schedule(wanted);
        CHECK(rig.scheduler.queued() == 20);
        rig.scheduler.lookup_or_schedule(wanted, 3);
        CHECK(rig.scheduler.queued() == 23);
        rig.scheduler.lookup_or_schedule(wanted, 0);
        CHECK(rig.scheduler.queued() == 23);
    }

    TEST_CASE("the queue never holds more than k_max_queued ids across calls") {
        Rig rig;
        for (int call = 0; call < 6; ++call) {
            std::string stem = "C"; // appended: GCC 12 warns (-Wrestrict) on "C" + s + "_"
            stem += std::to_string(call);
            stem += '_';
            auto r = rig.scheduler.lookup_or_schedule(ids(stem, 300), 300);
            CHECK(r.size() == 300);
        }
        CHECK(rig.scheduler.queued() == ProbeScheduler::k_max_queued);
        CHECK(ProbeScheduler::k_max_queued == 1000);
    }
}

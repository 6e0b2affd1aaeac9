// `dataflow cache stats|flush`.

#include "cache/setup.hpp"
#include "commands.hpp"
#include "redis/pool.hpp"
#include "util/error.hpp"
#include "util/json_writer.hpp"
#include "util/units.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

namespace dataflow::cli {

CLI::App* add_cache_command(CLI::App& app, CacheArgs& args) {
    auto* cmd = app.add_subcommand("cache", "Inspect or flush the shared cache");
    cmd->require_subcommand(1);
    auto* stats = cmd->add_subcommand(
        "stats", "Backend, reachability and latency, hit ratio, entries under our prefix, "
                 "memory, breaker state; exit 69 when the configured Redis is unreachable");
    stats->add_option("-o,--output", args.output, "table or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->default_str("table");
    auto* flush = cmd->add_subcommand(
        "flush", "Invalidate our entries (a new generation) or those of the given tags; never "
                 "touches keys outside redis.key_prefix");
    flush->add_option("--tag", args.tags,
                      "Only entries with this tag (repeatable): catalog, probe, analysis");
    flush->add_flag("--dry-run", args.dry_run, "Only count what would be invalidated");
    flush->add_flag("-y,--yes", args.yes, "Do not ask for confirmation on a terminal");
    for (auto* sub : {stats, flush}) {
        sub->fallthrough();
    }
    return cmd;
}

namespace {

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

std::string render_stats_json(const cache::Stats& s, const std::string& prefix) {
    std::string out;
    util::JsonWriter w(out, 2);
    w.begin_object();
    w.field("backend", s.backend);
    if (s.backend == "redis") {
        w.field("endpoint", s.endpoint);
        w.field("prefix", prefix);
        w.field("reachable", s.reachable);
        if (!s.reachable) {
            w.field("error", s.error);
        }
        w.field("latency_ms", s.latency_ms);
        w.key("used_memory_bytes");
        if (s.redis_used_memory) {
            w.value(static_cast<std::int64_t>(*s.redis_used_memory));
        } else {
            w.null();
        }
        w.field("generation", s.generation);
        w.field("breaker", s.breaker_state);
        w.field("mode", s.redis_mode);
        w.key("nodes");
        w.begin_array();
        for (const auto& n : s.redis_nodes) {
            w.begin_object();
            w.field("endpoint", n.endpoint);
            w.field("role", n.role);
            if (!n.slots.empty()) {
                w.field("slots", n.slots);
            }
            w.field("reachable", n.reachable);
            if (!n.error.empty()) {
                w.field("error", n.error);
            }
            w.end_object();
        }
        w.end_array();
        w.key("topology");
        w.begin_object();
        w.field("moved", static_cast<std::int64_t>(s.redis_topology.moved));
        w.field("ask", static_cast<std::int64_t>(s.redis_topology.ask));
        w.field("refreshes", static_cast<std::int64_t>(s.redis_topology.refreshes));
        w.field("failovers", static_cast<std::int64_t>(s.redis_topology.failovers));
        w.end_object();
    }
    w.field("entries", static_cast<std::int64_t>(s.entries));
    w.field("entries_exact", s.entries_exact);
    w.field("hits", static_cast<std::int64_t>(s.hits));
    w.field("misses", static_cast<std::int64_t>(s.misses));
    w.field("hit_ratio", s.hit_ratio());
    w.field("bytes_used", static_cast<std::int64_t>(s.bytes_used));
    w.end_object();
    return out + "\n";
}

} // namespace

int run_cache(const CLI::App& cmd, const CacheArgs& args, const config::Config& config,
              const Terminal& terminal) {
    const auto& settings = config.settings();
    auto cache = cache::make_cache(settings, util::SystemClock::instance());
    const auto& prefix = settings.redis.key_prefix;
    bool redis = settings.cache.backend == config::CacheBackend::redis;
    if (cmd.got_subcommand("stats")) {
        auto s = cache->stats();
        if (args.output == "json") {
            print(render_stats_json(s, prefix));
        } else if (!redis) {
            print("backend    memory (each process has its own; set cache.backend = redis to "
                  "share)\nbudget     " +
                  util::format_size(settings.cache.memory_budget) + "\n");
        } else {
            std::string out = fmt::format("backend    redis {} (prefix {}:)\n", s.endpoint, prefix);
            if (s.reachable) {
                out += fmt::format("reachable  yes, PING {:.2f} ms\n", s.latency_ms);
                out += fmt::format("entries    {}{} under {}:v1:\n",
                                   s.entries_exact ? "" : ">= ", s.entries, prefix);
                if (s.redis_used_memory) {
                    out += fmt::format("memory     {} used by Redis\n",
                                       util::format_size(*s.redis_used_memory));
                }
                out += fmt::format("generation {}\n", s.generation);
            } else {
                out += fmt::format("reachable  NO: {}\n", s.error);
            }
            out += fmt::format("breaker    {}\n", s.breaker_state);
            out += fmt::format("mode       {}\n", s.redis_mode);
            for (const auto& n : s.redis_nodes) {
                out += fmt::format("node       {} {}{}{}\n", n.endpoint, n.role,
                                   n.slots.empty() ? "" : " slots " + n.slots,
                                   n.reachable ? "" : " UNREACHABLE: " + n.error);
            }
            print(out);
        }
        if (redis && !s.reachable) {
            spdlog::error("{}", s.error);
            return static_cast<int>(ExitCode::unavailable);
        }
        return 0;
    }
    // flush
    if (!redis) {
        print("cache.backend = memory: every process has its own cache, which ends with it; "
              "nothing shared to flush\n");
        return 0;
    }
    if (!args.dry_run && !args.yes && terminal.stdin_tty) {
        std::fprintf(stderr, "Invalidate %s under %s: in Redis %s? [y/N] ",
                     args.tags.empty() ? "every entry" : "the tagged entries", prefix.c_str(),
                     settings.redis.host.c_str());
        std::string answer;
        std::getline(std::cin, answer);
        if (answer != "y" && answer != "Y" && answer != "yes") {
            std::fprintf(stderr, "nothing flushed\n");
            return 1;
        }
    }
    std::uint64_t total = 0;
    bool exact = true;
    try {
        if (args.tags.empty()) {
            auto r = cache->flush(args.dry_run);
            total = r.entries;
            exact = r.exact;
        } else {
            for (const auto& tag : args.tags) {
                auto r = cache->invalidate_tag(tag, args.dry_run);
                total += r.entries;
                exact = exact && r.exact;
            }
        }
    } catch (const redis::Error& e) {
        throw UnavailableError(std::string(e.what()) + "; nothing was flushed");
    }
    if (!exact && !args.tags.empty()) {
        throw UnavailableError(fmt::format("Redis became unavailable after {} entries; run the "
                                           "flush again",
                                           total));
    }
    print(
        fmt::format("{} {}{} entr{}{}\n", args.dry_run ? "would invalidate" : "invalidated",
                    exact ? "" : "at least ", total, total == 1 ? "y" : "ies",
                    args.tags.empty() ? " (a new generation; old keys expire on their own)" : ""));
    return 0;
}

} // namespace dataflow::cli

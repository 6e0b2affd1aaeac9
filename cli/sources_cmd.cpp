// `dataflow sources`: the registry of SDMX sources (list), and `sources check`: can each be
// reached, and how fast does it answer.

#include "cache/setup.hpp"
#include "commands.hpp"
#include "config/config.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "upstream/source_check.hpp"
#include "util/error.hpp"
#include "util/json_writer.hpp"
#include "util/units.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace dataflow::cli {

CLI::App* add_sources_command(CLI::App& app, SourcesArgs& args) {
    auto* cmd = app.add_subcommand(
        "sources", "List the SDMX sources (agencies) --source and upstream.source can name; see "
                   "dataflow-sources(1)");
    cmd->add_option("-o,--output", args.output, "table or json")
        ->check(CLI::IsMember({"table", "json"}))
        ->default_str("table");
    auto* check = cmd->add_subcommand(
        "check", "Measure whether each source answers, and how fast (exit 1 if any does not)");
    check->add_option("id", args.ids, "Sources to check (default: all)");
    check->add_option("--timeout", args.timeout, "Time allowed per source, budget wait included")
        ->default_str("30s");
    check->add_option("-o,--output", args.output, "table or json")
        ->check(CLI::IsMember({"table", "json"}));
    return cmd;
}

namespace {

std::string rate_text(const config::SourceRate& r) {
    if (r.per_minute < 1) {
        return fmt::format("{:.3g}/h", r.per_minute * 60);
    }
    return fmt::format("{:.4g}/min", r.per_minute);
}

std::string budget_text(const config::Source& s) {
    if (!s.data_rate) {
        return rate_text(s.structure_rate);
    }
    return rate_text(s.structure_rate) + " + data " + rate_text(*s.data_rate);
}

void write_source_json(util::JsonWriter& w, const config::Source& s, bool configured) {
    w.begin_object();
    w.field("id", s.id);
    w.field("name", s.name);
    w.field("base_url", s.base_url);
    w.key("other_urls").begin_array();
    for (const auto& u : s.other_urls) {
        w.value(u);
    }
    w.end_array();
    w.field("agency", s.agency);
    w.key("sdmx_versions").begin_array();
    for (const auto& v : s.sdmx_versions) {
        w.value(v);
    }
    w.end_array();
    w.key("formats").begin_array();
    for (const auto& f : s.formats) {
        w.value(f);
    }
    w.end_array();
    w.key("structure_budget").begin_object();
    w.field("per_minute", s.structure_rate.per_minute);
    w.field("burst", s.structure_rate.burst);
    w.end_object();
    w.key("data_budget");
    if (s.data_rate) {
        w.begin_object();
        w.field("per_minute", s.data_rate->per_minute);
        w.field("burst", s.data_rate->burst);
        w.end_object();
    } else {
        w.value(std::optional<std::string>{}); // null: shares the structure budget
    }
    w.field("conditional_requests", s.conditional_requests);
    w.field("references_on_all", s.references_on_all);
    w.field("categories", config::to_string(s.categories));
    w.field("available_constraint", s.available_constraint);
    w.field("updated_after", s.updated_after);
    w.field("last_n_observations", s.last_n_observations);
    w.field("trailing_slash", s.trailing_slash);
    auto ms = [&](std::string_view name, const std::optional<std::chrono::milliseconds>& d) {
        w.key(name);
        if (d) {
            w.value(util::format_duration_ms(d->count()));
        } else {
            w.value(std::optional<std::string>{});
        }
    };
    ms("structure_read_timeout", s.structure_read_timeout);
    ms("data_read_timeout", s.data_read_timeout);
    w.field("catalogue_url", upstream::catalogue_url(s).str());
    w.field("docs", s.docs);
    w.field("origin", s.origin);
    w.field("configured", configured);
    w.end_object();
}

std::string list_table(const config::SourceRegistry& registry, const std::string& configured) {
    std::size_t id_w = 2;
    std::size_t agency_w = 6;
    for (const auto& s : registry.all()) {
        id_w = std::max(id_w, s.id.size() + 1);
        agency_w = std::max(agency_w, s.agency.size());
    }
    std::string out = fmt::format("{:<{}}  {:<{}}  {:<26}  {:<4}  {}\n", "ID", id_w, "AGENCY",
                                  agency_w, "BUDGET", "304", "ENDPOINT");
    for (const auto& s : registry.all()) {
        auto mark = s.id == configured ? std::string("*") : std::string();
        out += fmt::format("{:<{}}  {:<{}}  {:<26}  {:<4}  {}\n", s.id + mark, id_w, s.agency,
                           agency_w, budget_text(s), s.conditional_requests ? "yes" : "no",
                           s.base_url);
    }
    out += fmt::format("\n* the configured source (upstream.source). Registry: {}.\n",
                       registry.origin());
    return out;
}

void write_out(const std::string& text) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
        std::fflush(stdout) != 0) {
        throw InputError("cannot write to standard output");
    }
}

int run_check(const SourcesArgs& args, const config::Config& config) {
    const auto& registry = *config.sources();
    std::vector<const config::Source*> chosen;
    if (args.ids.empty()) {
        for (const auto& s : registry.all()) {
            chosen.push_back(&s);
        }
    }
    for (const auto& id : args.ids) {
        const auto* s = registry.find(id);
        if (s == nullptr) {
            throw UsageError(
                fmt::format("'{}' is not a known source (known: {})", id, registry.ids()));
        }
        chosen.push_back(s);
    }
    auto timeout = util::parse_duration_ms(args.timeout);
    if (!timeout || *timeout < 100) {
        throw UsageError("--timeout '" + args.timeout + "' is not a duration of 100ms or more");
    }
    // The cluster's budget when the cache is Redis: a check spends what every replica shares.
    std::unique_ptr<cache::Cache> shared;
    if (config.settings().cache.backend == config::CacheBackend::redis) {
        shared = cache::make_cache(config, util::SystemClock::instance());
    }
    upstream::Upstream up(config, util::SystemClock::instance(),
                          shared ? shared->redis_client() : nullptr);
    auto settings = up.client().settings();
    auto t = std::chrono::milliseconds(*timeout);
    settings.structure = {std::min(settings.structure.connect, t), t, t};
    settings.retries = 0; // one attempt, measured
    up.client().configure(settings);
    auto routes = upstream::source_budgets(config.settings()).routes;
    for (auto& r : routes) {
        r.structure_timeouts.reset(); // --timeout, not the source's long read timeouts
    }
    up.client().set_routes(std::move(routes));

    auto checks = upstream::check_sources(up.client(), chosen);
    bool all_ok = true;
    std::string out;
    if (args.output == "json") {
        util::JsonWriter w(out, 2);
        w.begin_object().key("sources").begin_array();
        for (const auto& c : checks) {
            w.begin_object();
            w.field("id", c.id);
            w.field("url", c.url);
            w.field("reachable", c.reachable);
            w.field("outcome", upstream::to_string(c.outcome));
            w.field("status", c.status);
            w.field("first_byte_ms", static_cast<std::int64_t>(c.first_byte.count()));
            w.field("total_ms", static_cast<std::int64_t>(c.total.count()));
            w.field("message", c.message);
            w.end_object();
        }
        w.end_array();
        for (const auto& c : checks) {
            all_ok = all_ok && c.reachable;
        }
        w.field("all_reachable", all_ok);
        w.end_object();
        out += '\n';
    } else {
        out = fmt::format("{:<10}  {:<13}  {:>6}  {:>9}  {:>9}  {}\n", "ID", "OUTCOME", "STATUS",
                          "1ST BYTE", "TOTAL", "DETAIL");
        for (const auto& c : checks) {
            all_ok = all_ok && c.reachable;
            out +=
                fmt::format("{:<10}  {:<13}  {:>6}  {:>7}ms  {:>7}ms  {}\n", c.id,
                            c.reachable ? "ok" : upstream::to_string(c.outcome),
                            c.status == 0 ? std::string("-") : std::to_string(c.status),
                            c.first_byte.count(), c.total.count(), c.reachable ? c.url : c.message);
        }
    }
    write_out(out);
    return all_ok ? 0 : 1;
}

} // namespace

int run_sources(const CLI::App& cmd, const SourcesArgs& args, const config::Config& config) {
    if (cmd.got_subcommand("check")) {
        return run_check(args, config);
    }
    const auto& registry = *config.sources();
    const auto configured = upstream::configured_source(config.settings()).id;
    if (args.output == "json") {
        std::string out;
        util::JsonWriter w(out, 2);
        w.begin_object();
        w.field("configured", configured);
        w.field("registry", registry.origin());
        w.key("sources").begin_array();
        for (const auto& s : registry.all()) {
            write_source_json(w, s, s.id == configured);
        }
        w.end_array();
        w.end_object();
        out += '\n';
        write_out(out);
        return 0;
    }
    write_out(list_table(registry, configured));
    return 0;
}

} // namespace dataflow::cli

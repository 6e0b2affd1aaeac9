// `dataflow probe FLOW...`: measure named dataflows' data directly.

#include "analysis/render.hpp"
#include "commands.hpp"
#include "live.hpp"
#include "live/pipeline.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace dataflow::cli {

CLI::App* add_probe_command(CLI::App& app, ProbeArgs& args) {
    auto* cmd = app.add_subcommand(
        "probe", "Fetch named dataflows' data from the upstream and measure it (status, size, "
                 "series, observations, time), within the rate limit");
    cmd->add_option("flow", args.flows, "Dataflow ids (ID or AGENCY,ID[,VERSION])")->required();
    cmd->add_option("-o,--output", args.output, "table, json or csv")
        ->check(CLI::IsMember({"table", "json", "csv"}))
        ->default_str("table");
    cmd->add_option("--probe-timeout", args.probe_timeout,
                    "Deadline of one probe, e.g. 90s (default: upstream.data_deadline, 3m)");
    cmd->add_option("--probe-max-bytes", args.probe_max_bytes,
                    "Bytes read per probe, e.g. 10M (default: probe.max_bytes, 100MiB)");
    cmd->add_option("--last-n", args.last_n,
                    "Only the last N observations per series (default: "
                    "probe.last_n_observations, 0 = all)");
    cmd->add_option("--detail", args.detail, "SDMX detail parameter (default: probe.detail)")
        ->check(CLI::IsMember({"full", "dataonly", "serieskeysonly", "nodata"}));
    cmd->add_option("--upstream", args.upstream, "SDMX REST endpoint (default: upstream.base_url)");
    cmd->add_option("--source", args.upstream_source,
                    "Probe at this source (an id of `dataflow sources`, e.g. ECB)")
        ->type_name("ID");
    return cmd;
}

std::vector<config::FlagValue> probe_flags(const CLI::App& cmd, const ProbeArgs& args) {
    std::vector<config::FlagValue> flags;
    if (cmd.count("--probe-timeout") > 0) {
        flags.push_back({"upstream.data_deadline", args.probe_timeout, "--probe-timeout"});
    }
    if (cmd.count("--probe-max-bytes") > 0) {
        flags.push_back({"probe.max_bytes", args.probe_max_bytes, "--probe-max-bytes"});
    }
    if (cmd.count("--last-n") > 0) {
        flags.push_back({"probe.last_n_observations", args.last_n, "--last-n"});
    }
    if (cmd.count("--detail") > 0) {
        flags.push_back({"probe.detail", args.detail, "--detail"});
    }
    if (cmd.count("--source") > 0) {
        if (cmd.count("--upstream") > 0) {
            throw UsageError("give either --upstream or --source, not both");
        }
        add_source_flags(flags, args.upstream_source);
    }
    if (cmd.count("--upstream") > 0) {
        flags.push_back({"upstream.base_url", args.upstream, "--upstream"});
    }
    return flags;
}

int run_probe(const ProbeArgs& args, const config::Config& config, const Terminal& terminal,
              bool quiet) {
    for (const auto& f : args.flows) {
        if (!upstream::is_flow_ref(f)) {
            throw UsageError("'" + f +
                             "' is not a dataflow id (ID or AGENCY,ID[,VERSION]; letters, digits, "
                             "_ @ $ -)");
        }
    }
    upstream::Upstream up(config, util::SystemClock::instance());
    // `dataflow probe` measures anew every time: no cache is read or written.
    live::CachedProber prober(
        upstream::Prober(up.client(), upstream::base_url(config), upstream::probe_settings(config)),
        nullptr, util::SystemClock::instance(), live::probe_policy(config));
    analysis::ProbeResults results;
    bool interrupted = false;
    {
        InterruptGuard guard(up.client());
        results = probe_all(up, prober, args.flows, terminal, quiet);
        interrupted = InterruptGuard::interrupted();
    }
    // The same shapes as analyze: a report over dataflows known only by id.
    sdmx::Catalog catalog;
    catalog.format = "probe";
    for (const auto& f : args.flows) {
        if (results.count(f) != 0) {
            sdmx::Dataflow d;
            d.id = f;
            catalog.dataflows.push_back(std::move(d));
        }
    }
    analysis::AnalysisOptions options;
    options.limit = 0;
    auto report = analysis::analyze(catalog, *live::categorizer_for(config), options, results);
    report.analysis_timestamp = util::format_rfc3339(std::chrono::system_clock::now());
    std::string out;
    if (args.output == "json") {
        out = analysis::render_tests_json(report);
    } else if (args.output == "csv") {
        out = "dataflow_id,outcome,status_code,data_access_success,series_count,"
              "observations_count,size_bytes,wire_bytes,duration_seconds,tableau_ready,"
              "error_message\r\n";
        for (const auto& t : report.test_results) {
            const auto& p = t.probe;
            auto msg = p.error_message.value_or("");
            std::string quoted = "\"";
            for (char c : msg) {
                quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
            }
            quoted += "\"";
            out += fmt::format("{},{},{},{},{},{},{},{},{:.3f},{},{}\r\n", p.dataflow_id,
                               analysis::to_string(p.outcome),
                               p.status_code ? std::to_string(*p.status_code) : "",
                               p.data_access_success, p.series_count, p.observations_count,
                               p.size_bytes, p.wire_bytes, p.duration_seconds,
                               t.readiness.tableau_ready, msg.empty() ? "" : quoted);
        }
    } else {
        std::size_t w = 4;
        for (const auto& t : report.test_results) {
            w = std::max(w, t.probe.dataflow_id.size());
        }
        out = fmt::format("{:<{}}  {:<12}  {:>6}  {:>8}  {}\n", "FLOW", w, "OUTCOME", "STATUS",
                          "TIME", "RESULT");
        for (const auto& t : report.test_results) {
            const auto& p = t.probe;
            out += fmt::format("{:<{}}  {:<12}  {:>6}  {:>7.1f}s  {}\n", p.dataflow_id, w,
                               analysis::to_string(p.outcome),
                               p.status_code ? std::to_string(*p.status_code) : std::string("-"),
                               p.duration_seconds,
                               p.error_message ? util::printable(*p.error_message)
                                               : analysis::probe_summary(p));
        }
        out += fmt::format("\n{} probed, {} with usable data.\n", report.test_results.size(),
                           report.tableau_ready_count);
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (interrupted) {
        return k_exit_interrupted;
    }
    return probe_exit_code(results);
}

} // namespace dataflow::cli

// `dataflow analyze`: read a catalogue, categorise, rank, print a report.

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "cache/setup.hpp"
#include "commands.hpp"
#include "config/config.hpp"
#include "heap.hpp"
#include "live.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dataflow::cli {

CLI::App* add_analyze_command(CLI::App& app, AnalyzeArgs& args) {
    auto* cmd = app.add_subcommand(
        "analyze", "Categorise and rank every dataflow of an SDMX catalogue and print a report");
    cmd->add_option("source", args.source,
                    "SDMX dataflow list: a file (SDMX-ML 2.0/2.1/3.0 or SDMX-JSON), - for stdin, "
                    "or an http(s):// URL; none: the configured upstream's catalogue "
                    "(upstream.base_url, upstream.agency)")
        ->type_name("FILE|URL");
    cmd->add_option("-o,--output", args.output, "Report format")
        ->check(CLI::IsMember({"table", "json", "csv", "summary"}))
        ->default_str("table");
    cmd->add_option("-c,--category", args.categories,
                    "Only these categories (repeatable or comma-separated)")
        ->delimiter(',');
    cmd->add_option("--min-score", args.min_score,
                    "Keep dataflows with relevance score >= N (default: analysis.min_score, 0)");
    cmd->add_option("-n,--limit", args.limit,
                    "Dataflows returned in total, shared across categories; 0 = no limit "
                    "(default: analysis.limit, 100)");
    cmd->add_option("--sort", args.sort, "Order within each category")
        ->check(CLI::IsMember({"score", "id", "name", "updated"}))
        ->default_str("score");
    cmd->add_flag("--only-ready", args.only_ready,
                  "Only dataflows whose data probe succeeded (needs probe results)");
    cmd->add_option("--match", args.match,
                    "Keyword matching: substring (reference-compatible) or word (word start) "
                    "(default: analysis.match)")
        ->check(CLI::IsMember({"substring", "word"}));
    cmd->add_option("--rules", args.rules_file,
                    "TOML rule file replacing the configured rules (default: analysis.rules, "
                    "else the built-in rules)")
        ->type_name("FILE");
    cmd->add_option("--lang", args.languages,
                    "Display-name language priority, comma-separated (default: "
                    "analysis.languages, it,en)")
        ->delimiter(',');
    cmd->add_option("--max-input-bytes", args.max_input_bytes,
                    "Refuse inputs larger than this, e.g. 64M, 1G (default: "
                    "analysis.max_input_size, 256MiB)");
    cmd->add_option("--probe", args.probe,
                    "Probe the data of the N best-scoring dataflows of the report (sequentially, "
                    "within the upstream rate limit)")
        ->check(CLI::Range(0, 10000));
    cmd->add_option("--probe-timeout", args.probe_timeout,
                    "Deadline of one probe, e.g. 90s (default: upstream.data_deadline, 3m)");
    cmd->add_option("--probe-max-bytes", args.probe_max_bytes,
                    "Bytes read per probe, e.g. 10M (default: probe.max_bytes, 100MiB)");
    cmd->add_flag("--no-cache", args.no_cache,
                  "Neither read nor write the shared cache (cache.backend = redis)");
    cmd->add_flag("--refresh", args.refresh,
                  "Fetch and probe again, ignoring cached copies (and store the results)");
    cmd->add_option("--color", args.color, "Colour in the table: auto (TTY and no NO_COLOR)")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->default_str("auto");
    return cmd;
}

std::vector<config::FlagValue> analyze_flags(const CLI::App& cmd, const AnalyzeArgs& args) {
    std::vector<config::FlagValue> flags;
    if (cmd.count("--min-score") > 0) {
        flags.push_back({"analysis.min_score", args.min_score, "--min-score"});
    }
    if (cmd.count("--limit") > 0) {
        flags.push_back({"analysis.limit", args.limit, "--limit"});
    }
    if (cmd.count("--match") > 0) {
        flags.push_back({"analysis.match", args.match, "--match"});
    }
    if (cmd.count("--lang") > 0) {
        std::string joined;
        for (const auto& l : args.languages) {
            joined += (joined.empty() ? "" : ",") + l;
        }
        flags.push_back({"analysis.languages", joined, "--lang"});
    }
    if (cmd.count("--max-input-bytes") > 0) {
        flags.push_back({"analysis.max_input_size", args.max_input_bytes, "--max-input-bytes"});
    }
    if (cmd.count("--probe-timeout") > 0) {
        flags.push_back({"upstream.data_deadline", args.probe_timeout, "--probe-timeout"});
    }
    if (cmd.count("--probe-max-bytes") > 0) {
        flags.push_back({"probe.max_bytes", args.probe_max_bytes, "--probe-max-bytes"});
    }
    return flags;
}

namespace {

void write_stdout(const std::string& text) {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() ||
        std::fflush(stdout) != 0) {
        throw InputError(std::string("cannot write the report to standard output: ") +
                         std::strerror(errno));
    }
}

bool is_url(const std::string& s) {
    return util::starts_with_ci(s, "http://") || util::starts_with_ci(s, "https://");
}

} // namespace

int run_analyze(const AnalyzeArgs& args, const config::Config& config, const Terminal& terminal,
                bool quiet) {
    auto started = std::chrono::steady_clock::now();
    auto max_bytes = config.size("analysis.max_input_size");
    auto rules =
        args.rules_file.empty() ? config.rules() : analysis::load_rules_file(args.rules_file);
    analysis::Categorizer categorizer(rules,
                                      config.str("analysis.match") == "word"
                                          ? analysis::MatchMode::word
                                          : analysis::MatchMode::substring,
                                      config.list("analysis.languages"));
    analysis::AnalysisOptions options;
    for (const auto& c : args.categories) {
        options.categories.emplace_back(util::trim(c));
    }
    options.min_score = static_cast<int>(config.integer("analysis.min_score"));
    options.limit = static_cast<std::size_t>(config.integer("analysis.limit"));
    options.sort = analysis::parse_sort_key(args.sort).value_or(analysis::SortKey::score);
    options.only_ready = args.only_ready;
    // Check the categories before reading a possibly large input.
    analysis::check_categories(*rules, options.categories);
    if (auto scheme = args.source.find("://");
        scheme != std::string::npos && scheme > 0 && !is_url(args.source) &&
        std::all_of(
            args.source.begin(), args.source.begin() + static_cast<long>(scheme),
            [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '.' || c == '-'; })) {
        throw UsageError(args.source + ": unsupported URL scheme '" +
                         args.source.substr(0, scheme) +
                         "'; give an http:// or https:// URL, a file path, or - for standard "
                         "input");
    }

    auto phase = std::chrono::steady_clock::now();
    auto lap = [&phase](const char* what) {
        auto now = std::chrono::steady_clock::now();
        spdlog::debug("{}: {:.1f} ms", what,
                      std::chrono::duration<double, std::milli>(now - phase).count());
        phase = now;
    };
    // The shared cache (Redis) serves live catalogues and probe results across runs and
    // replicas; a per-process memory cache would only cost memory here.
    std::unique_ptr<cache::Cache> shared_cache;
    std::unique_ptr<cache::CachedComputer> computer;
    CacheUse cache_use;
    if (config.str("cache.backend") == "redis" && !args.no_cache) {
        shared_cache = cache::make_cache(config, util::SystemClock::instance());
        computer =
            std::make_unique<cache::CachedComputer>(*shared_cache, util::SystemClock::instance());
        cache_use = CacheUse{shared_cache.get(), computer.get(), cache::policy(config),
                             cache::probe_policy(config), !args.refresh};
    }
    std::unique_ptr<upstream::Upstream> live;
    auto get_live = [&]() -> upstream::Upstream& {
        if (!live) {
            auto* redis = dynamic_cast<cache::RedisCache*>(shared_cache.get());
            live = std::make_unique<upstream::Upstream>(config, util::SystemClock::instance(),
                                                        redis ? &redis->pool() : nullptr);
        }
        return *live;
    };
    bool cache_hit = false;
    bool cache_stale = false;
    std::optional<double> cache_age;
    std::optional<util::Url> data_root;
    sdmx::Payload payload;
    constexpr std::size_t mib = 1024 * 1024;
    if (args.source.empty() || is_url(args.source)) {
        util::Url url;
        if (args.source.empty()) {
            data_root = upstream::base_url(config);
            url = upstream::catalogue_url(*data_root, config.str("upstream.agency"));
        } else {
            auto parsed = util::parse_url(args.source);
            if (!parsed.url) {
                throw UsageError("source '" + args.source + "' " + parsed.error);
            }
            url = *parsed.url;
            data_root = service_root(url);
        }
        prepare_heap(64 * mib);
        InterruptGuard guard(get_live().client());
        auto fetched = fetch_catalogue_cached(get_live().client(), url, max_bytes, cache_use);
        if (!fetched) {
            spdlog::error("interrupted while fetching {}", url.str());
            return k_exit_interrupted;
        }
        payload.bytes = std::move(fetched->body);
        payload.name = url.str();
        cache_hit = fetched->cache_hit;
        cache_stale = fetched->stale;
        cache_age = fetched->age_seconds;
    } else {
        auto source = sdmx::make_local_source(args.source);
        // Peak RSS is about 4x the input (bench/bench_analyze.py prints it); stdin: assume a
        // large catalogue.
        auto hint = source->size_hint();
        prepare_heap(std::max<std::size_t>(64 * mib, hint <= max_bytes ? hint * 4 : 0));
        payload = source->fetch(sdmx::ReadLimits{
            static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, SIZE_MAX))});
    }
    lap("read");
    auto catalog = sdmx::read_catalog(payload.bytes, payload.name);
    lap("parse");
    // The raw bytes are no longer needed; give the memory back before rendering.
    std::string().swap(payload.bytes);
    for (std::size_t i = 0; i < catalog.warnings.size() && i < 10; ++i) {
        spdlog::warn("{}", catalog.warnings[i]);
    }
    if (catalog.warnings.size() > 10) {
        spdlog::warn("... and {} more warnings", catalog.warnings.size() - 10);
    }
    if (args.only_ready && args.probe == 0) {
        spdlog::warn("--only-ready: no dataflow has been probed (see --probe), so none is known "
                     "to be ready; the report lists none");
    }

    auto report = analysis::analyze(catalog, categorizer, options);
    lap("analyze");
    bool interrupted = false;
    if (args.probe > 0) {
        // Rank first (without --only-ready), probe the best N, then report with the results.
        auto ranking_options = options;
        ranking_options.only_ready = false;
        auto ranked = analysis::analyze(catalog, categorizer, ranking_options);
        auto flows = analysis::top_ids(ranked, static_cast<std::size_t>(args.probe));
        if (!data_root) {
            data_root = upstream::base_url(config);
        }
        auto& up = get_live();
        upstream::Prober prober(up.client(), *data_root, upstream::probe_settings(config));
        analysis::ProbeResults results;
        {
            InterruptGuard guard(up.client());
            results = probe_all(up, prober, flows, terminal, quiet, cache_use);
            interrupted = InterruptGuard::interrupted();
        }
        report = analysis::analyze(catalog, categorizer, options, results);
        lap("probe");
    }
    report.source_name = payload.name;
    report.cache_hit = cache_hit;
    report.cache_stale = cache_stale;
    report.cache_age_seconds = cache_age;
    report.source_format = catalog.format;
    report.analysis_timestamp = util::format_rfc3339(std::chrono::system_clock::now());
    report.analysis_duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::debug("analysed {} dataflows from {} ({}) in {:.3f} s", report.total_analyzed,
                  payload.name, catalog.format, report.analysis_duration_seconds);

    std::string out;
    if (args.output == "json") {
        out = analysis::render_json(report);
    } else if (args.output == "csv") {
        out = analysis::render_csv(report);
    } else if (args.output == "summary") {
        out = analysis::render_summary(report);
    } else {
        analysis::TableOptions t;
        t.width = terminal.width;
        t.color = args.color == "always" ||
                  (args.color == "auto" && terminal.stdout_tty && !terminal.no_color);
        out = analysis::render_table(report, t);
    }
    lap("render");
    write_stdout(out);
    lap("write");
    if (interrupted) {
        return k_exit_interrupted;
    }
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#else
    // A batch process is done once its report is out: the kernel frees the ~30,000 objects of
    // the catalogue faster than their destructors would (a few ms of a 50 ms run).
    std::fflush(nullptr);
    std::_Exit(0);
#endif
}

} // namespace dataflow::cli

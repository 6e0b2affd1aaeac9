// `dataflow analyze`: read a catalogue, categorise, rank, print a report.

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "cache/setup.hpp"
#include "commands.hpp"
#include "config/config.hpp"
#include "heap.hpp"
#include "live.hpp"
#include "live/catalog.hpp"
#include "live/categories.hpp"
#include "live/pipeline.hpp"
#include "sdmx/categories.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sys/stat.h>
#include <thread>

namespace dataflow::cli {

CLI::App* add_analyze_command(CLI::App& app, AnalyzeArgs& args) {
    auto* cmd = app.add_subcommand(
        "analyze", "Categorise and rank every dataflow of an SDMX catalogue and print a report");
    cmd->add_option("input", args.inputs,
                    "SDMX structure messages: files (SDMX-ML 2.0/2.1/3.0 or SDMX-JSON), - for "
                    "stdin (once), or http(s):// URLs, merged: dataflows, category schemes and "
                    "categorisations; none: the configured source's catalogue (upstream.source)")
        ->type_name("FILE|URL");
    cmd->add_option("--source", args.upstream_source,
                    "Read this source's catalogue (an id of `dataflow sources`, e.g. ESTAT) "
                    "instead of the configured one")
        ->type_name("ID");
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
    cmd->add_flag("--agency-categories", args.agency_categories,
                  "Also fetch the source's category schemes and categorisations (two more "
                  "requests, cached like the catalogue)");
    cmd->add_option("--classify", args.classify,
                    "keywords (the rules) or agency (the topic mapped from the agency's category "
                    "where there is one)")
        ->check(CLI::IsMember({"keywords", "agency"}))
        ->default_str("keywords");
    return cmd;
}

void add_source_flags(std::vector<config::FlagValue>& flags, const std::string& id) {
    flags.push_back({"upstream.source", id, "--source"});
    flags.push_back({"upstream.base_url", "", "--source"});
    flags.push_back({"upstream.agency", "", "--source"});
}

std::vector<config::FlagValue> analyze_flags(const CLI::App& cmd, const AnalyzeArgs& args) {
    std::vector<config::FlagValue> flags;
    if (cmd.count("--source") > 0) {
        if (!args.inputs.empty()) {
            throw UsageError("give either a catalogue (FILE|URL) or --source " +
                             args.upstream_source + ", not both");
        }
        add_source_flags(flags, args.upstream_source);
    }
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

/// A mapped input from this size up lets go of the pages the reader has read past.
constexpr std::size_t k_drop_read_from = std::size_t{32} << 20;

/// A batch run has the machine: a large input is read and categorised on two threads when
/// there are two CPUs (the same report either way).
unsigned batch_threads() {
    return std::thread::hardware_concurrency() >= 2 ? 2 : 1;
}

/// Whether the input may be large enough to be read on two threads (ReadOptions::threads): a
/// file of 1 MiB or more, standard input, a URL or the configured source.
bool may_be_large(const AnalyzeArgs& args) {
    if (args.inputs.empty()) {
        return true;
    }
    for (const auto& input : args.inputs) {
        struct stat st {};
        if (input == "-" || input.find("://") != std::string::npos ||
            (::stat(input.c_str(), &st) == 0 &&
             static_cast<std::size_t>(st.st_size) >= sdmx::ReadOptions{}.split_min_bytes)) {
            return true;
        }
    }
    return false;
}

analysis::AnalysisOptions analysis_options(const AnalyzeArgs& args, const config::Config& config) {
    analysis::AnalysisOptions options;
    for (const auto& c : args.categories) {
        options.categories.emplace_back(util::trim(c));
    }
    options.min_score = config.settings().analysis.min_score;
    options.limit = static_cast<std::size_t>(config.settings().analysis.limit);
    options.sort = analysis::parse_sort_key(args.sort).value_or(analysis::SortKey::score);
    options.only_ready = args.only_ready;
    options.threads = batch_threads();
    return options;
}

/// The shared cache (Redis) when configured, and the upstream, made when first needed.
class Live {
public:
    Live(const AnalyzeArgs& args, const config::Config& config)
        : m_config(config), m_refresh(args.refresh) {
        // The shared cache serves live catalogues and probe results across runs and replicas;
        // a per-process memory cache would only cost memory here.
        if (config.settings().cache.backend == config::CacheBackend::redis && !args.no_cache) {
            m_cache = cache::make_cache(config, util::SystemClock::instance());
        }
    }

    upstream::Upstream& upstream() {
        if (!m_upstream) {
            m_upstream =
                std::make_unique<upstream::Upstream>(m_config, util::SystemClock::instance(),
                                                     m_cache ? m_cache->redis_client() : nullptr);
        }
        return *m_upstream;
    }

    /// The catalogue at `url`, through the cache when there is one (nullopt on Ctrl-C).
    std::optional<live::FetchedCatalogue> fetch(const util::Url& url, std::uint64_t max_bytes) {
        live::CatalogFetcher fetcher(upstream().client(), m_cache.get(),
                                     util::SystemClock::instance());
        auto policy = live::catalog_policy(m_config);
        policy.refresh = m_refresh;
        // Validators are sent only to the configured source, and only if it honours them.
        bool conditional = live::configured_conditional(m_config) &&
                           url.str() == live::configured_catalogue_url(m_config).str();
        return fetcher.fetch(url, max_bytes, policy, conditional);
    }

    /// The configured source's category schemes and categorisations (nullopt on Ctrl-C).
    std::optional<live::FetchedCategories> categories(std::uint64_t max_bytes) {
        live::CatalogFetcher fetcher(upstream().client(), m_cache.get(),
                                     util::SystemClock::instance());
        auto policy = live::catalog_policy(m_config);
        policy.refresh = m_refresh;
        InterruptGuard guard(upstream().client());
        return live::fetch_agency_categories(
            fetcher, upstream::configured_source(m_config.settings()), max_bytes, policy);
    }

    /// Probes the data of `flows` (Ctrl-C stops them: `interrupted` tells).
    analysis::ProbeResults probe(const std::vector<std::string>& flows, const util::Url& data_root,
                                 const Terminal& terminal, bool quiet, bool& interrupted) {
        auto& up = upstream();
        auto policy = live::probe_policy(m_config);
        policy.refresh = m_refresh;
        live::CachedProber prober(
            upstream::Prober(up.client(), data_root, upstream::probe_settings(m_config)),
            m_cache.get(), util::SystemClock::instance(), policy);
        InterruptGuard guard(up.client());
        auto results = probe_all(up, prober, flows, terminal, quiet);
        interrupted = InterruptGuard::interrupted();
        return results;
    }

private:
    const config::Config& m_config;
    bool m_refresh = false; ///< --refresh: fetch and probe again, store the results
    std::unique_ptr<cache::Cache> m_cache;
    std::unique_ptr<upstream::Upstream> m_upstream;
};

/// The catalogue's bytes and where they came from.
struct Input {
    sdmx::Payload payload;
    /// A large file, mapped rather than read (payload.bytes is then empty).
    std::optional<util::MappedFile> mapped;
    std::optional<util::Url> data_root; ///< the service root to probe, when known
    bool cache_hit = false;
    bool cache_stale = false;
    std::optional<double> cache_age;
};

constexpr std::size_t mib = 1024 * 1024;

/// The catalogue at an http(s) URL, or the configured upstream's when `source` is empty,
/// through the cache. nullopt when interrupted.
std::optional<Input> fetch_input(const std::string& source, const config::Config& config,
                                 Live& live, std::uint64_t max_bytes) {
    Input input;
    util::Url url;
    if (source.empty()) {
        input.data_root = upstream::base_url(config);
        url = live::configured_catalogue_url(config);
    } else {
        auto parsed = util::parse_url(source);
        if (!parsed.url) {
            throw UsageError("source '" + source + "' " + parsed.error);
        }
        url = *parsed.url;
        input.data_root = live::service_root(url);
    }
    prepare_heap(64 * mib);
    InterruptGuard guard(live.upstream().client());
    auto fetched = live.fetch(url, max_bytes);
    if (!fetched) {
        spdlog::error("interrupted while fetching {}", url.str());
        return std::nullopt;
    }
    input.payload.bytes = std::move(fetched->body);
    input.payload.name = url.str();
    input.cache_hit = fetched->cache_hit;
    input.cache_stale = fetched->stale;
    input.cache_age = fetched->age_seconds;
    return input;
}

/// A catalogue file, or standard input for "-".
Input read_local_input(const std::string& source, std::uint64_t max_bytes) {
    Input input;
    auto local = sdmx::make_local_source(source);
    // Peak RSS is about 4x the input (bench/bench_analyze.py prints it); stdin: assume a
    // large catalogue.
    auto hint = local->size_hint();
    prepare_heap(std::max<std::size_t>(64 * mib, hint <= max_bytes ? hint * 4 : 0));
    const sdmx::ReadLimits limits{
        static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, SIZE_MAX))};
    input.mapped = local->map(limits);
    if (input.mapped) {
        input.payload.name = local->name();
    } else {
        input.payload = local->fetch(limits);
    }
    return input;
}

void log_read_warnings(const sdmx::Catalog& catalog, const AnalyzeArgs& args) {
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
}

std::string render(const analysis::Report& report, const AnalyzeArgs& args,
                   const Terminal& terminal) {
    if (args.output == "json") {
        return analysis::render_json(report);
    }
    if (args.output == "csv") {
        return analysis::render_csv(report);
    }
    if (args.output == "summary") {
        return analysis::render_summary(report);
    }
    analysis::TableOptions t;
    t.width = terminal.width;
    t.color = args.color == "always" ||
              (args.color == "auto" && terminal.stdout_tty && !terminal.no_color);
    return analysis::render_table(report, t);
}

} // namespace

/// Every input read, parsed and merged into one catalogue.
struct Inputs {
    sdmx::Catalog catalog;
    std::string name; ///< the inputs' names, joined
    std::optional<util::Url> data_root;
    bool cache_hit = false;
    bool cache_stale = false;
    std::optional<double> cache_age;
};

/// Reads each input (the configured source's catalogue when there is none, and its category
/// schemes with --agency-categories), parses it and merges them. nullopt when interrupted.
std::optional<Inputs> read_inputs(const AnalyzeArgs& args, const config::Config& config, Live& live,
                                  std::uint64_t max_bytes,
                                  const std::function<void(const char*)>& lap) {
    std::vector<std::string> sources = args.inputs;
    if (std::count(sources.begin(), sources.end(), "-") > 1) {
        throw UsageError("standard input (-) can be read once");
    }
    if (args.agency_categories && !sources.empty()) {
        throw UsageError("--agency-categories fetches the configured source's categories; with "
                         "inputs, give the category scheme and categorisation files as inputs");
    }
    if (sources.empty()) {
        sources.emplace_back(); // the configured source
    }
    Inputs out;
    std::vector<sdmx::Catalog> parts;
    std::vector<std::string> names;
    // One catalogue is analysed as read: of its annotations only the facts derived from them are
    // used. Merging compares whole dataflows, annotations included.
    sdmx::ReadOptions read_options;
    read_options.all_annotations = sources.size() > 1 || args.agency_categories;
    read_options.threads = batch_threads();
    for (const auto& source : sources) {
        check_source_scheme(source);
        auto input = source.empty() || is_url(source) ? fetch_input(source, config, live, max_bytes)
                                                      : read_local_input(source, max_bytes);
        if (!input) {
            return std::nullopt;
        }
        lap("read");
        if (parts.empty()) {
            out.data_root = input->data_root;
            out.cache_hit = input->cache_hit;
            out.cache_stale = input->cache_stale;
            out.cache_age = input->cache_age;
        }
        if (input->mapped) {
            auto options = read_options;
            options.nul_terminated = input->mapped->nul_terminated();
            if (input->mapped->bytes().size() >= k_drop_read_from) {
                // What the reader is past leaves the resident set: on a 117 MB catalogue the
                // peak is the catalogue made from it, not both (bench/README).
                options.done_with = [&mapped = *input->mapped](const char* from, const char* to) {
                    mapped.drop(from, to);
                };
            }
            parts.push_back(
                sdmx::read_catalog_readonly(input->mapped->bytes(), input->payload.name, options));
            if (input->mapped->changed()) {
                throw InputError(fmt::format(
                    "{}: the file changed while it was being read (written to, truncated or "
                    "replaced in place); run again once it is complete",
                    input->payload.name));
            }
        } else {
            parts.push_back(
                sdmx::read_catalog(input->payload.bytes, input->payload.name, read_options));
        }
        names.push_back(input->payload.name);
        lap("parse");
    }
    if (args.agency_categories) {
        auto categories = live.categories(max_bytes);
        if (!categories) {
            return std::nullopt;
        }
        for (std::size_t i = 0; i < categories->parts.size(); ++i) {
            parts.push_back(std::move(categories->parts[i]));
            names.push_back(categories->names[i]);
        }
    }
    for (const auto& n : names) {
        out.name += (out.name.empty() ? "" : ", ") + n;
    }
    out.catalog = parts.size() == 1 ? std::move(parts.front())
                                    : sdmx::merge_catalogs(std::move(parts), names);
    sdmx::require_dataflows(out.catalog, out.name);
    return out;
}

int run_analyze(const AnalyzeArgs& args, const config::Config& config, const Terminal& terminal,
                bool quiet) {
    auto started = std::chrono::steady_clock::now();
    if (batch_threads() >= 2 && may_be_large(args)) {
        // Awake on the other CPU by the time the input is read (and for 2 ms after each part).
        util::keep_helper_ready(std::chrono::milliseconds(2));
    }
    auto max_bytes = config.settings().analysis.max_input_size;
    auto categorizer = live::categorizer_for(
        config, args.rules_file.empty() ? nullptr : analysis::load_rules_file(args.rules_file));
    auto options = analysis_options(args, config);
    // Check the categories before reading a possibly large input.
    analysis::check_categories(categorizer->rules(), options.categories);

    auto phase = started;
    std::function<void(const char*)> lap = [&phase](const char* what) {
        auto now = std::chrono::steady_clock::now();
        spdlog::debug("{}: {:.1f} ms", what,
                      std::chrono::duration<double, std::milli>(now - phase).count());
        phase = now;
    };
    lap("rules");
    Live live(args, config);
    auto input = read_inputs(args, config, live, max_bytes, lap);
    if (!input) {
        return k_exit_interrupted;
    }
    const auto& catalog = input->catalog;
    log_read_warnings(catalog, args);
    std::optional<sdmx::ResolvedCategories> resolved;
    if (!catalog.categorisations.empty() || !catalog.category_schemes.empty()) {
        resolved = sdmx::resolve_categorisations(catalog);
        for (std::size_t i = 0; i < resolved->warnings.size() && i < 10; ++i) {
            spdlog::warn("{}", resolved->warnings[i]);
        }
        options.agency_categories = &*resolved;
    } else if (args.classify == "agency") {
        spdlog::warn("--classify agency: no category scheme or categorisation was read, so the "
                     "keyword rules classify every dataflow");
    }
    options.classify = args.classify == "agency" ? analysis::ClassifySource::agency
                                                 : analysis::ClassifySource::keywords;

    // With --probe N: rank (without --only-ready), probe the best N, report with the results.
    bool interrupted = false;
    auto report = live::analyze_with_probes(
        catalog, *categorizer, options, static_cast<std::size_t>(args.probe),
        [&](const std::vector<std::string>& flows) {
            lap("analyze");
            if (!input->data_root) {
                input->data_root = upstream::base_url(config);
            }
            return live.probe(flows, *input->data_root, terminal, quiet, interrupted);
        });
    lap(args.probe > 0 ? "probe" : "analyze");
    report.source_name = input->name;
    report.cache_hit = input->cache_hit;
    report.cache_stale = input->cache_stale;
    report.cache_age_seconds = input->cache_age;
    report.source_format = catalog.format;
    report.analysis_timestamp = util::format_rfc3339(std::chrono::system_clock::now());
    report.analysis_duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    spdlog::debug("analysed {} dataflows from {} ({}) in {:.3f} s", report.total_analyzed,
                  input->name, catalog.format, report.analysis_duration_seconds);

    auto out = render(report, args, terminal);
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

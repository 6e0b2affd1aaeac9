// `dataflow diff OLD [NEW]`: what changed between two catalogues (files, stdin, URLs, or the
// configured source's current one).

#include "analysis/diff.hpp"
#include "analysis/rules.hpp"
#include "cache/setup.hpp"
#include "commands.hpp"
#include "config/config.hpp"
#include "heap.hpp"
#include "live.hpp"
#include "live/catalog.hpp"
#include "live/pipeline.hpp"
#include "sdmx/categories.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dataflow::cli {

CLI::App* add_diff_command(CLI::App& app, DiffArgs& args) {
    auto* cmd = app.add_subcommand(
        "diff", "Compare two catalogues: dataflows added, removed, and changed (version, names, "
                "structure, annotations, category)");
    cmd->add_option("old", args.old_source,
                    "The earlier catalogue: a file (SDMX-ML 2.0/2.1/3.0 or SDMX-JSON), - for "
                    "stdin, or an http(s):// URL")
        ->type_name("FILE|URL")
        ->required();
    cmd->add_option("new", args.new_source,
                    "The later catalogue, as OLD; none: the configured source's current "
                    "catalogue (upstream.source)")
        ->type_name("FILE|URL");
    cmd->add_option("--source", args.upstream_source,
                    "Compare with this source's current catalogue (an id of `dataflow sources`, "
                    "e.g. ESTAT) instead of the configured one")
        ->type_name("ID");
    cmd->add_option("--old-with", args.old_with,
                    "Another message merged into OLD (a category scheme, categorisations, more "
                    "dataflows; repeatable): the agency's categories are then compared too")
        ->type_name("FILE|URL");
    cmd->add_option("--new-with", args.new_with, "Another message merged into NEW, as --old-with")
        ->type_name("FILE|URL");
    cmd->add_option("-o,--output", args.output, "Report format")
        ->check(CLI::IsMember({"table", "json", "csv", "summary"}))
        ->default_str("table");
    cmd->add_option("-c,--category", args.categories,
                    "Only dataflows of these categories on either side (repeatable or "
                    "comma-separated)")
        ->delimiter(',');
    cmd->add_option("--min-score", args.min_score,
                    "Only dataflows with relevance score >= N on either side (default: "
                    "analysis.min_score, 0)");
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
    cmd->add_flag("--exit-code", args.exit_code,
                  "Exit with status 3 when the catalogues differ (0 when they do not)");
    cmd->add_flag("--no-cache", args.no_cache,
                  "Neither read nor write the shared cache (cache.backend = redis)");
    cmd->add_flag("--refresh", args.refresh,
                  "Fetch live catalogues again, ignoring cached copies (and store them)");
    cmd->add_option("--color", args.color, "Colour in the table: auto (TTY and no NO_COLOR)")
        ->check(CLI::IsMember({"auto", "always", "never"}))
        ->default_str("auto");
    return cmd;
}

std::vector<config::FlagValue> diff_flags(const CLI::App& cmd, const DiffArgs& args) {
    std::vector<config::FlagValue> flags;
    if (args.old_source == "-" && args.new_source == "-") {
        throw UsageError("standard input (-) can be only one side of the comparison");
    }
    if (cmd.count("--source") > 0) {
        if (!args.new_source.empty()) {
            throw UsageError("give either a NEW catalogue (FILE|URL) or --source " +
                             args.upstream_source + ", not both");
        }
        add_source_flags(flags, args.upstream_source);
    }
    if (cmd.count("--min-score") > 0) {
        flags.push_back({"analysis.min_score", args.min_score, "--min-score"});
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
    return flags;
}

namespace {

/// The shared cache (Redis) when configured, and the upstream, made when first needed.
class LiveCatalogs {
public:
    LiveCatalogs(const DiffArgs& args, const config::Config& config)
        : m_config(config), m_refresh(args.refresh) {
        if (config.settings().cache.backend == config::CacheBackend::redis && !args.no_cache) {
            m_cache = cache::make_cache(config, util::SystemClock::instance());
        }
    }

    /// The catalogue at `source` (a URL), or the configured source's when empty; nullopt on
    /// Ctrl-C.
    std::optional<sdmx::Payload> fetch(const std::string& source, std::uint64_t max_bytes) {
        util::Url url;
        if (source.empty()) {
            url = live::configured_catalogue_url(m_config);
        } else {
            auto parsed = util::parse_url(source);
            if (!parsed.url) {
                throw UsageError("source '" + source + "' " + parsed.error);
            }
            url = *parsed.url;
        }
        if (!m_upstream) {
            m_upstream =
                std::make_unique<upstream::Upstream>(m_config, util::SystemClock::instance(),
                                                     m_cache ? m_cache->redis_client() : nullptr);
        }
        InterruptGuard guard(m_upstream->client());
        live::CatalogFetcher fetcher(m_upstream->client(), m_cache.get(),
                                     util::SystemClock::instance());
        auto policy = live::catalog_policy(m_config);
        policy.refresh = m_refresh;
        bool conditional = live::configured_conditional(m_config) &&
                           url.str() == live::configured_catalogue_url(m_config).str();
        auto fetched = fetcher.fetch(url, max_bytes, policy, conditional);
        if (!fetched) {
            spdlog::error("interrupted while fetching {}", url.str());
            return std::nullopt;
        }
        return sdmx::Payload{std::move(fetched->body), url.str()};
    }

private:
    const config::Config& m_config;
    bool m_refresh = false;
    std::unique_ptr<cache::Cache> m_cache;
    std::unique_ptr<upstream::Upstream> m_upstream;
};

/// One message, parsed; nullopt when interrupted.
std::optional<sdmx::Catalog> load_message(const std::string& source, LiveCatalogs& live,
                                          std::uint64_t max_bytes, std::string& name) {
    std::optional<sdmx::Payload> payload;
    if (source.empty() || is_url(source)) {
        payload = live.fetch(source, max_bytes);
        if (!payload) {
            return std::nullopt;
        }
    } else {
        payload = sdmx::make_local_source(source)->fetch(sdmx::ReadLimits{
            static_cast<std::size_t>(std::min<std::uint64_t>(max_bytes, SIZE_MAX))});
    }
    name = payload->name;
    return sdmx::read_catalog(payload->bytes, payload->name);
}

/// One side's catalogue, parsed; nullopt when interrupted. Errors say which side failed.
std::optional<sdmx::Catalog> load_side(std::string_view side, const std::string& source,
                                       LiveCatalogs& live, std::uint64_t max_bytes) {
    try {
        std::string name;
        auto loaded = load_message(source, live, max_bytes, name);
        if (!loaded) {
            return std::nullopt;
        }
        auto& catalog = *loaded;
        sdmx::require_dataflows(catalog, name);
        for (std::size_t i = 0; i < catalog.warnings.size() && i < 10; ++i) {
            spdlog::warn("{} side: {}", side, catalog.warnings[i]);
        }
        if (catalog.warnings.size() > 10) {
            spdlog::warn("{} side: ... and {} more warnings", side, catalog.warnings.size() - 10);
        }
        return std::move(catalog);
    } catch (const Error& e) {
        throw Error(e.kind(), std::string(side) + " side: " + e.what());
    }
}

/// One side's catalogue: its main message and the --old-with / --new-with ones, merged;
/// nullopt when interrupted. Errors say which side failed.
std::optional<sdmx::Catalog> load_side(std::string_view side, const std::string& source,
                                       const std::vector<std::string>& with, LiveCatalogs& live,
                                       std::uint64_t max_bytes) {
    if (with.empty()) {
        return load_side(side, source, live, max_bytes);
    }
    try {
        std::vector<sdmx::Catalog> parts;
        std::vector<std::string> names;
        std::vector<std::string> sources{source};
        sources.insert(sources.end(), with.begin(), with.end());
        for (const auto& s : sources) {
            check_source_scheme(s);
            std::string name;
            auto part = load_message(s, live, max_bytes, name);
            if (!part) {
                return std::nullopt;
            }
            parts.push_back(std::move(*part));
            names.push_back(std::move(name));
        }
        auto catalog = sdmx::merge_catalogs(std::move(parts), names);
        sdmx::require_dataflows(catalog, names.front());
        for (std::size_t i = 0; i < catalog.warnings.size() && i < 10; ++i) {
            spdlog::warn("{} side: {}", side, catalog.warnings[i]);
        }
        return catalog;
    } catch (const Error& e) {
        throw Error(e.kind(), std::string(side) + " side: " + e.what());
    }
}

/// Peak RSS is about 4x the input (as for analyze), for both sides.
void prepare_heap_for(const DiffArgs& args, std::uint64_t max_bytes) {
    constexpr std::size_t mib = 1024 * 1024;
    std::size_t expected = 0;
    for (const auto* s : {&args.old_source, &args.new_source}) {
        if (s->empty() || is_url(*s) || *s == "-") {
            expected += 64 * mib;
        } else if (auto hint = sdmx::make_local_source(*s)->size_hint(); hint <= max_bytes) {
            expected += hint * 4;
        }
    }
    prepare_heap(std::max<std::size_t>(64 * mib, expected));
}

std::string render(const analysis::CatalogDiff& diff, const DiffArgs& args,
                   const Terminal& terminal) {
    if (args.output == "json") {
        return analysis::render_diff_json(diff);
    }
    if (args.output == "csv") {
        return analysis::render_diff_csv(diff);
    }
    if (args.output == "summary") {
        return analysis::render_diff_summary(diff);
    }
    analysis::DiffTableOptions t;
    t.width = terminal.width;
    t.color = args.color == "always" ||
              (args.color == "auto" && terminal.stdout_tty && !terminal.no_color);
    return analysis::render_diff_table(diff, t);
}

} // namespace

int run_diff(const DiffArgs& args, const config::Config& config, const Terminal& terminal) {
    const auto& settings = config.settings().analysis;
    auto categorizer = live::categorizer_for(
        config, args.rules_file.empty() ? nullptr : analysis::load_rules_file(args.rules_file));
    analysis::DiffOptions options;
    options.languages = settings.languages;
    options.min_score = settings.min_score;
    for (const auto& c : args.categories) {
        options.categories.emplace_back(util::trim(c));
    }
    // Check what can be checked before reading two possibly large inputs.
    analysis::check_categories(categorizer->rules(), options.categories);
    check_source_scheme(args.old_source);
    check_source_scheme(args.new_source);
    prepare_heap_for(args, settings.max_input_size);

    LiveCatalogs live(args, config);
    auto stdin_uses = std::count(args.old_with.begin(), args.old_with.end(), "-") +
                      std::count(args.new_with.begin(), args.new_with.end(), "-") +
                      (args.old_source == "-" ? 1 : 0) + (args.new_source == "-" ? 1 : 0);
    if (stdin_uses > 1) {
        throw UsageError("standard input (-) can be read once");
    }
    auto before = load_side("old", args.old_source, args.old_with, live, settings.max_input_size);
    if (!before) {
        return k_exit_interrupted;
    }
    auto after = load_side("new", args.new_source, args.new_with, live, settings.max_input_size);
    if (!after) {
        return k_exit_interrupted;
    }
    auto diff = analysis::diff_catalogs(*before, *after, *categorizer, options);
    diff.old_side.source = args.old_source == "-" ? "<stdin>" : args.old_source;
    diff.new_side.source = args.new_source.empty()
                               ? live::configured_catalogue_url(config).str()
                               : (args.new_source == "-" ? "<stdin>" : args.new_source);
    spdlog::debug("diff: {} added, {} removed, {} changed, {} unchanged", diff.added.size(),
                  diff.removed.size(), diff.changed.size(), diff.unchanged);

    auto out = render(diff, args, terminal);
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
        throw InputError(std::string("cannot write the diff to standard output: ") +
                         std::strerror(errno));
    }
    // Reported differences only: with filters, what is not shown does not fail a CI job.
    int rc = args.exit_code && !diff.empty() ? k_exit_differ : 0;
#if defined(__SANITIZE_ADDRESS__)
    return rc;
#else
    // As analyze: the kernel frees the two catalogues' objects faster than their destructors.
    std::fflush(nullptr);
    std::_Exit(rc);
#endif
}

} // namespace dataflow::cli

#pragma once
/// One registration function and one run function per subcommand.

#include "config/loader.hpp"
#include "terminal.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace dataflow::cli {

/// Options every command accepts, before or after the command name.
struct GlobalArgs {
    std::string log_level = "info";
    std::string log_format = "text";
    bool quiet = false;
    std::string config_file;
    std::string config_dir;
    std::string secrets_dir;
};

struct AnalyzeArgs {
    /// The catalogue: files, - (once) or URLs (positional), merged; none: the configured source.
    std::vector<std::string> inputs;
    std::string upstream_source; ///< --source ID: a registry source instead
    std::string output = "table";
    std::vector<std::string> categories;
    std::string min_score = "0";
    std::string limit = "100";
    std::string sort = "score";
    bool only_ready = false;
    std::string match = "substring";
    std::string rules_file;
    std::vector<std::string> languages{"it", "en"};
    std::string max_input_bytes = "256MiB";
    std::string color = "auto";
    int probe = 0;
    std::string probe_timeout;
    std::string probe_max_bytes;
    bool no_cache = false;
    bool refresh = false;
    bool agency_categories = false; ///< also fetch the source's category schemes
    std::string classify = "keywords";
};

CLI::App* add_analyze_command(CLI::App& app, AnalyzeArgs& args);
/// The configuration keys set by analyze's flags (only those given).
std::vector<config::FlagValue> analyze_flags(const CLI::App& cmd, const AnalyzeArgs& args);
int run_analyze(const AnalyzeArgs& args, const config::Config& config, const Terminal& terminal,
                bool quiet);

struct DiffArgs {
    std::string old_source;            ///< OLD: file, - or URL (positional)
    std::string new_source;            ///< NEW: file, - or URL; empty: the configured source's
    std::string upstream_source;       ///< --source ID: that source's catalogue as NEW
    std::vector<std::string> old_with; ///< --old-with: more messages merged into OLD
    std::vector<std::string> new_with; ///< --new-with: more messages merged into NEW
    std::string output = "table";
    std::vector<std::string> categories;
    std::string min_score = "0";
    std::string match = "substring";
    std::string rules_file;
    std::vector<std::string> languages{"it", "en"};
    std::string max_input_bytes = "256MiB";
    std::string color = "auto";
    bool exit_code = false; ///< --exit-code: differences give k_exit_differ
    bool no_cache = false;
    bool refresh = false;
};

/// `diff --exit-code`: the catalogues differ (distinct from every error status).
inline constexpr int k_exit_differ = 3;

CLI::App* add_diff_command(CLI::App& app, DiffArgs& args);
/// The configuration keys set by diff's flags (only those given); UsageError for `-` twice or
/// --source with a NEW catalogue.
std::vector<config::FlagValue> diff_flags(const CLI::App& cmd, const DiffArgs& args);
/// 0, or k_exit_differ with --exit-code when differences are reported.
int run_diff(const DiffArgs& args, const config::Config& config, const Terminal& terminal);

struct ProbeArgs {
    std::vector<std::string> flows;
    std::string output = "table";
    std::string probe_timeout;
    std::string probe_max_bytes;
    std::string last_n;
    std::string detail;
    std::string upstream;
    std::string upstream_source; ///< --source ID
};

CLI::App* add_probe_command(CLI::App& app, ProbeArgs& args);
std::vector<config::FlagValue> probe_flags(const CLI::App& cmd, const ProbeArgs& args);
int run_probe(const ProbeArgs& args, const config::Config& config, const Terminal& terminal,
              bool quiet);

struct ServeArgs {
    std::string host;
    std::string port;
    std::string metrics_port;
    std::string catalog;
};

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);
std::vector<config::FlagValue> serve_flags(const CLI::App& cmd, const ServeArgs& args);
int run_serve(const config::LoadOptions& options, const config::LoadResult& loaded);

struct HealthArgs {
    std::string url;
    std::string probe = "ready";
    std::string timeout = "2s";
    std::string output = "text";
};

CLI::App* add_health_command(CLI::App& app, HealthArgs& args);
int run_health(const HealthArgs& args, const config::Config& config);

struct CacheArgs {
    std::string output = "table";
    std::vector<std::string> tags;
    bool dry_run = false;
    bool yes = false;
};

CLI::App* add_cache_command(CLI::App& app, CacheArgs& args);
int run_cache(const CLI::App& cmd, const CacheArgs& args, const config::Config& config,
              const Terminal& terminal);

struct SourcesArgs {
    std::string output = "table";
    std::vector<std::string> ids;
    std::string timeout = "30s";
};

CLI::App* add_sources_command(CLI::App& app, SourcesArgs& args);
/// `sources` lists the registry; `sources check` measures each source (exit 0, or 1 when one
/// does not answer).
int run_sources(const CLI::App& cmd, const SourcesArgs& args, const config::Config& config);

/// The flags --source ID sets: upstream.source, and upstream.base_url and upstream.agency
/// emptied so the source's own apply.
void add_source_flags(std::vector<config::FlagValue>& flags, const std::string& id);

struct ConfigArgs {
    std::string validate_output = "text";
    std::string show_output = "toml";
    std::string schema_output = "markdown";
    std::vector<std::string> schema_keys;
    bool strict = false;
    bool sources = false;
    std::string env_file;
    std::string environment;
};

CLI::App* add_config_command(CLI::App& app, ConfigArgs& args);
/// `config validate`: loads like serve would, prints every finding; exit 0, or 1 when invalid.
int run_config_validate(const ConfigArgs& args, config::LoadOptions options);
/// `config show`: prints the effective configuration.
int run_config_show(const ConfigArgs& args, const config::Config& config);
/// `config schema`: prints the key reference.
int run_config_schema(const ConfigArgs& args);

} // namespace dataflow::cli

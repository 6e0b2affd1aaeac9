#include "app.hpp"

#include "cli_tree.hpp"
#include "commands.hpp"
#include "config/loader.hpp"
#include "config/schema.hpp"
#include "util/error.hpp"
#include "util/http_module.hpp"
#include "util/log.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>

extern char** environ;

namespace dataflow::cli {

namespace {

std::string version_text() {
    return std::string("dataflow ") + DATAFLOW_VERSION;
}

util::LogOptions log_options(const std::string& level, const std::string& format, bool quiet,
                             const Terminal& terminal) {
    util::LogOptions log;
    log.level = util::parse_log_level(level).value_or(spdlog::level::info);
    if (quiet && log.level < spdlog::level::err) {
        log.level = spdlog::level::err;
    }
    log.format = format == "json" ? util::LogFormat::json : util::LogFormat::text;
    log.color = terminal.stderr_tty && !terminal.no_color;
    return log;
}

/// Logs every finding; returns the exit code when there is an error (2 when a flag is to
/// blame, 78 otherwise), or 0.
int report_findings(const config::LoadResult& result) {
    bool flag_error = false;
    for (const auto& f : result.findings) {
        if (f.severity == config::Severity::error) {
            spdlog::error("{}", f.text(false));
            flag_error = flag_error || f.where.kind == config::SourceKind::flag;
        } else {
            spdlog::warn("{}", f.text(false));
        }
    }
    if (result.ok()) {
        return 0;
    }
    if (flag_error) {
        return static_cast<int>(ExitCode::usage);
    }
    spdlog::error("invalid configuration ({} error{}); 'dataflow config validate' lists every "
                  "problem",
                  result.errors(), result.errors() == 1 ? "" : "s");
    return static_cast<int>(ExitCode::config);
}

/// The command tree of `app` as plain data (cli_tree.hpp), for completions and the man check.
CommandSpec describe(const CLI::App& app) {
    CommandSpec spec;
    spec.name = app.get_name();
    spec.description = app.get_description();
    for (const CLI::Option* opt : app.get_options()) {
        OptionSpec o;
        o.short_names = opt->get_snames();
        o.long_names = opt->get_lnames();
        o.description = opt->get_description();
        if (opt->get_expected_max() > 0) { // flags expect no value
            o.repeatable = opt->get_expected_max() > 1;
            // The type name is "TEXT", "FILE", "DIR", or "TEXT:{a,b,c}" for a choice.
            std::string type = opt->get_type_name();
            auto brace = type.find(":{");
            if (brace != std::string::npos && type.back() == '}') {
                o.kind = ValueKind::choice;
                std::string list = type.substr(brace + 2, type.size() - brace - 3);
                for (std::size_t start = 0; start <= list.size();) {
                    auto comma = std::min(list.find(',', start), list.size());
                    o.choices.push_back(list.substr(start, comma - start));
                    start = comma + 1;
                }
                type.erase(brace);
            } else if (type.find("FILE") != std::string::npos) {
                o.kind = ValueKind::file;
            } else if (type.find("DIR") != std::string::npos) {
                o.kind = ValueKind::dir;
            } else {
                o.kind = ValueKind::text;
                type.erase(std::min(type.find(':'), type.size())); // "INT:INT in [0 - 10000]"
            }
            o.value_name = type;
        }
        if (opt->get_positional() && o.short_names.empty() && o.long_names.empty()) {
            o.positional = opt->get_name();
            spec.positionals.push_back(std::move(o));
        } else {
            spec.options.push_back(std::move(o));
        }
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        spec.subcommands.push_back(describe(*sub));
    }
    return spec;
}

/// The first word of the command line that is neither an option nor an option's value, when it
/// names no command.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view word = argv[i];
        if (word == "--") {
            return std::nullopt;
        }
        if (word.starts_with("-")) {
            if (word.find('=') == std::string_view::npos) {
                for (const CLI::Option* opt : app.get_options()) {
                    if (opt->get_expected_max() > 0 && opt->check_name(std::string(word))) {
                        ++i; // its value
                    }
                }
            }
            continue;
        }
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
            if (sub->check_name(std::string(word))) {
                return std::nullopt;
            }
        }
        return std::string(word);
    }
    return std::nullopt;
}

void add_global_options(CLI::App& app, GlobalArgs& global) {
    app.set_version_flag("--version", version_text(), "Print the version and exit");
    app.require_subcommand(1);
    app.footer("Exit codes: 0 success, 1 input or analysis error, 2 usage error, 3 the "
               "catalogues differ ('dataflow diff --exit-code'), 69 upstream unavailable, 75 "
               "rate-limited (retry later), 78 configuration error, 130 interrupted (Ctrl-C). "
               "'dataflow health' exits only 0 or 1.\n"
               "See 'man dataflow' and https://sdmx.org for SDMX itself.");

    app.add_option("--log-level", global.log_level, "Log threshold on stderr (default: log.level)")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_option("--log-format", global.log_format, "Log format on stderr (default: log.format)")
        ->check(CLI::IsMember({"text", "json"}));
    app.add_flag("-q,--quiet", global.quiet, "Only errors on stderr");
    app.add_option("--config", global.config_file,
                   "TOML configuration file (default: $DATAFLOW_CONFIG)")
        ->type_name("FILE");
    app.add_option("--config-dir", global.config_dir,
                   "Directory of configuration files, e.g. a mounted ConfigMap (default: "
                   "$DATAFLOW_CONFIG_DIR, else /etc/config if it exists)")
        ->type_name("DIR");
    app.add_option("--secrets-dir", global.secrets_dir,
                   "Directory of secret files, e.g. a mounted Secret (default: "
                   "$DATAFLOW_SECRETS_DIR, else /etc/secrets if it exists)")
        ->type_name("DIR");
}

/// The subcommands and the arguments they parse into (CLI11 keeps pointers to both).
struct Commands {
    AnalyzeArgs analyze_args;
    CLI::App* analyze = nullptr;
    DiffArgs diff_args;
    CLI::App* diff = nullptr;
    ProbeArgs probe_args;
    CLI::App* probe = nullptr;
    ServeArgs serve_args;
    CLI::App* serve = nullptr;
    HealthArgs health_args;
    CLI::App* health = nullptr;
    CacheArgs cache_args;
    CLI::App* cache = nullptr;
    ConfigArgs config_args;
    CLI::App* config = nullptr;
    SourcesArgs sources_args;
    CLI::App* sources = nullptr;
    std::string completion_format;
    CLI::App* completion = nullptr;
};

void add_commands(CLI::App& app, Commands& cmds) {
    cmds.analyze = add_analyze_command(app, cmds.analyze_args);
    cmds.analyze->fallthrough();
    cmds.diff = add_diff_command(app, cmds.diff_args);
    cmds.diff->fallthrough();
    cmds.probe = add_probe_command(app, cmds.probe_args);
    cmds.probe->fallthrough();
    cmds.serve = add_serve_command(app, cmds.serve_args);
    cmds.serve->fallthrough();
    cmds.health = add_health_command(app, cmds.health_args);
    cmds.health->fallthrough();
    cmds.cache = add_cache_command(app, cmds.cache_args);
    cmds.cache->fallthrough();
    cmds.config = add_config_command(app, cmds.config_args);
    cmds.config->fallthrough();
    cmds.sources = add_sources_command(app, cmds.sources_args);
    cmds.sources->fallthrough();
    cmds.completion = app.add_subcommand(
        "completion", "Print a shell completion script (bash, zsh, fish) or the command tree as "
                      "JSON; see dataflow-completion(1)");
    cmds.completion
        ->add_option("shell", cmds.completion_format, "bash, zsh, fish, or json (the command tree)")
        ->check(CLI::IsMember({"bash", "zsh", "fish", "json"}))
        ->required();
    cmds.completion->fallthrough();
}

/// Says that `typo` names no command, with the closest one; returns the usage exit code.
int report_unknown_command(const CLI::App& app, const std::string& typo) {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        names.push_back(sub->get_name());
    }
    auto suggestion = config::closest(typo, names);
    std::string list;
    for (const auto& n : names) {
        list += (list.empty() ? "" : ", ") + n;
    }
    std::fprintf(
        stderr, "dataflow: error: unknown command '%s'%s (commands: %s; see 'dataflow --help')\n",
        typo.c_str(), suggestion.empty() ? "" : ("; did you mean '" + suggestion + "'?").c_str(),
        list.c_str());
    return static_cast<int>(ExitCode::usage);
}

/// Prints CLI11's message (or --help, --version) and returns the exit code.
int parse_error_exit(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
    int rc = app.exit(e, std::cout, std::cerr);
    // `health` exits 0 or 1, nothing else: Docker's HEALTHCHECK reserves 2.
    bool health_probe = false;
    for (int i = 1; i < argc; ++i) {
        health_probe = health_probe || std::string_view(argv[i]) == "health";
    }
    if (rc != 0 && health_probe) {
        return 1;
    }
    return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
}

int print_completion(const CLI::App& app, const std::string& format) {
    std::string script = completion_script(describe(app), format);
    std::fwrite(script.data(), 1, script.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : static_cast<int>(ExitCode::failure);
}

/// Where the configuration comes from: the environment and the global options' files.
config::LoadOptions load_options(const GlobalArgs& global) {
    config::LoadOptions options;
    options.env = config::environment_from(environ);
    if (!global.config_file.empty()) {
        options.config_file = global.config_file;
    }
    if (!global.config_dir.empty()) {
        options.config_dir = global.config_dir;
    }
    if (!global.secrets_dir.empty()) {
        options.secrets_dir = global.secrets_dir;
    }
    return options;
}

/// The configuration's log settings apply unless a flag said otherwise.
void apply_log_config(const CLI::App& app, const GlobalArgs& global, const config::Config& config,
                      const Terminal& terminal, bool serving) {
    bool level_flag = app.count("--log-level") > 0 || global.quiet;
    bool format_flag = app.count("--log-format") > 0;
    // A service whose stderr is not a terminal logs JSON lines unless told otherwise.
    const auto& log = config.settings().log;
    std::string default_format(config::to_string(log.format));
    if (serving && !terminal.stderr_tty &&
        config.origin("log.format").kind == config::SourceKind::default_value) {
        default_format = "json";
    }
    if (!level_flag || !format_flag) {
        util::configure_logging(
            log_options(level_flag ? global.log_level : std::string(config::to_string(log.level)),
                        format_flag ? global.log_format : default_format, global.quiet, terminal));
    }
}

/// Loads the configuration (with the command's flags) and runs the parsed command.
int run_command(const CLI::App& app, const GlobalArgs& global, Commands& cmds,
                const Terminal& terminal) {
    auto options = load_options(global);
    if (cmds.config->parsed()) {
        if (cmds.config->got_subcommand("schema")) {
            return run_config_schema(cmds.config_args);
        }
        if (cmds.config->got_subcommand("validate")) {
            return run_config_validate(cmds.config_args, options);
        }
    }
    if (cmds.analyze->parsed()) {
        options.flags = analyze_flags(*cmds.analyze, cmds.analyze_args);
    }
    if (cmds.diff->parsed()) {
        options.flags = diff_flags(*cmds.diff, cmds.diff_args);
    }
    if (cmds.probe->parsed()) {
        options.flags = probe_flags(*cmds.probe, cmds.probe_args);
    }
    if (cmds.serve->parsed()) {
        options.flags = serve_flags(*cmds.serve, cmds.serve_args);
    }

    auto loaded = config::load(options);
    if (int rc = report_findings(loaded); rc != 0) {
        return cmds.health->parsed() ? 1 : rc;
    }
    const auto& config = *loaded.config;
    apply_log_config(app, global, config, terminal, cmds.serve->parsed());

    if (cmds.analyze->parsed()) {
        return run_analyze(cmds.analyze_args, config, terminal, global.quiet);
    }
    if (cmds.diff->parsed()) {
        return run_diff(cmds.diff_args, config, terminal);
    }
    if (cmds.probe->parsed()) {
        return run_probe(cmds.probe_args, config, terminal, global.quiet);
    }
    if (cmds.sources->parsed()) {
        return run_sources(*cmds.sources, cmds.sources_args, config);
    }
    if (cmds.cache->parsed()) {
        return run_cache(*cmds.cache, cmds.cache_args, config, terminal);
    }
    // Both are in the HTTP module (util/http_module.hpp), loaded here.
    if (cmds.serve->parsed()) {
        return util::http_function_as<decltype(&run_serve)>("cli.serve")(options, loaded);
    }
    if (cmds.health->parsed()) {
        return util::http_function_as<decltype(&run_health)>("cli.health")(cmds.health_args,
                                                                           config);
    }
    if (cmds.config->got_subcommand("show")) {
        return run_config_show(cmds.config_args, config);
    }
    return static_cast<int>(ExitCode::usage);
}

} // namespace

int run(int argc, char** argv) {
    CLI::App app{"dataflow: analyse SDMX dataflow catalogues of official statistics agencies",
                 "dataflow"};
    GlobalArgs global;
    add_global_options(app, global);
    Commands cmds;
    add_commands(app, cmds);

    // A mistyped command would otherwise read as "A subcommand is required".
    if (auto typo = unknown_command(app, argc, argv)) {
        return report_unknown_command(app, *typo);
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return parse_error_exit(app, e, argc, argv);
    }
    if (cmds.completion->parsed()) {
        // Needs no configuration: runs before it is loaded.
        return print_completion(app, cmds.completion_format);
    }

    Terminal terminal = Terminal::detect();
    util::configure_logging(
        log_options(global.log_level, global.log_format, global.quiet, terminal));
    try {
        return run_command(app, global, cmds, terminal);
    } catch (const Error& e) {
        spdlog::error("{}", e.what());
        if (cmds.health->parsed()) {
            return 1;
        }
        if (e.kind() == ErrorKind::usage) {
            spdlog::error("run 'dataflow {} --help' for the options",
                          app.get_subcommands().empty() ? std::string()
                                                        : app.get_subcommands()[0]->get_name());
        }
        return static_cast<int>(e.info().exit_code);
    } catch (const std::bad_alloc&) {
        spdlog::error("out of memory; try a smaller input or raise the memory limit");
        return static_cast<int>(ExitCode::failure);
    } catch (const std::exception& e) {
        spdlog::error("internal error: {} (please report this)", e.what());
        return static_cast<int>(ExitCode::failure);
    }
}

} // namespace dataflow::cli

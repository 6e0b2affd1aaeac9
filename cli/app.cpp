#include "app.hpp"

#include "commands.hpp"
#include "util/error.hpp"
#include "util/log.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <new>

namespace dataflow::cli {

namespace {

struct GlobalArgs {
    std::string log_level = "info";
    std::string log_format = "text";
    bool quiet = false;
};

std::string version_text() {
    return std::string("dataflow ") + DATAFLOW_VERSION;
}

} // namespace

int run(int argc, char** argv) {
    CLI::App app{"dataflow: analyse SDMX dataflow catalogues of official statistics agencies",
                 "dataflow"};
    app.set_version_flag("--version", version_text(), "Print the version and exit");
    app.require_subcommand(1);
    app.footer("Exit codes: 0 success, 1 input or analysis error, 2 usage error, 69 upstream "
               "unavailable, 75 rate-limited (retry later), 78 configuration error.\n"
               "See 'man dataflow' and https://sdmx.org for SDMX itself.");

    GlobalArgs global;
    auto add_globals = [&](CLI::App& a) {
        a.add_option("--log-level", global.log_level, "Log threshold on stderr")
            ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
            ->default_str("info");
        a.add_option("--log-format", global.log_format, "Log format on stderr")
            ->check(CLI::IsMember({"text", "json"}))
            ->default_str("text");
        a.add_flag("-q,--quiet", global.quiet, "Only errors on stderr");
    };
    add_globals(app);

    AnalyzeArgs analyze;
    add_analyze_command(app, analyze)->fallthrough();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e, std::cout, std::cerr);
        return rc == 0 ? 0 : static_cast<int>(ExitCode::usage);
    }

    util::LogOptions log;
    log.level = *util::parse_log_level(global.log_level);
    if (global.quiet && log.level < spdlog::level::err) {
        log.level = spdlog::level::err;
    }
    log.format = global.log_format == "json" ? util::LogFormat::json : util::LogFormat::text;
    Terminal terminal = Terminal::detect();
    log.color = terminal.stderr_tty && !terminal.no_color;
    util::configure_logging(log);

    try {
        if (app.got_subcommand("analyze")) {
            return run_analyze(analyze, terminal);
        }
        return static_cast<int>(ExitCode::usage);
    } catch (const Error& e) {
        spdlog::error("{}", e.what());
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

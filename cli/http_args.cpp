// The options of `dataflow serve` and `dataflow health`. What they run (serve.cpp,
// health_cmd.cpp) is in the HTTP module (util/http_module.hpp), loaded when they start.

#include "commands.hpp"

#include <CLI/CLI.hpp>

namespace dataflow::cli {

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args) {
    auto* cmd = app.add_subcommand(
        "serve", "Run the analysis as an HTTP service (health probes, metrics, JSON logs, "
                 "graceful shutdown); see docs/API.md");
    cmd->add_option("--host", args.host, "Listen address (default: server.host, 0.0.0.0)");
    cmd->add_option("--port", args.port,
                    "API port; 0 picks a free one (default: server.port, 8000)");
    cmd->add_option("--metrics-port", args.metrics_port,
                    "Metrics port; 0 serves /metrics on the API port (default: "
                    "server.metrics_port, 8001)");
    cmd->add_option("--catalog", args.catalog,
                    "Serve this local catalogue at /api/v1/dataflows instead of the upstream's "
                    "(catalog.mode = file)")
        ->type_name("FILE");
    return cmd;
}

std::vector<config::FlagValue> serve_flags(const CLI::App& cmd, const ServeArgs& args) {
    std::vector<config::FlagValue> flags;
    if (cmd.count("--host") > 0) {
        flags.push_back({"server.host", args.host, "--host"});
    }
    if (cmd.count("--port") > 0) {
        flags.push_back({"server.port", args.port, "--port"});
    }
    if (cmd.count("--metrics-port") > 0) {
        flags.push_back({"server.metrics_port", args.metrics_port, "--metrics-port"});
    }
    if (cmd.count("--catalog") > 0) {
        flags.push_back({"catalog.mode", "file", "--catalog"});
        flags.push_back({"catalog.file", args.catalog, "--catalog"});
    }
    return flags;
}

CLI::App* add_health_command(CLI::App& app, HealthArgs& args) {
    auto* cmd = app.add_subcommand(
        "health", "Ask a running 'dataflow serve' whether it is healthy: exit 0 healthy, 1 "
                  "not (for exec probes, HEALTHCHECK and kubectl exec)");
    cmd->add_option(
        "--url", args.url,
        "Service URL (default: http://127.0.0.1:<server.metrics_port>, the probe port, or "
        "<server.port> when it is 0)");
    cmd->add_option("--probe", args.probe, "startup, live, ready or status (the detailed view)")
        ->check(CLI::IsMember({"startup", "live", "ready", "status"}))
        ->default_str("ready");
    cmd->add_option("--timeout", args.timeout, "Time allowed for the answer")->default_str("2s");
    cmd->add_option("-o,--output", args.output, "text or json")
        ->check(CLI::IsMember({"text", "json"}))
        ->default_str("text");
    return cmd;
}

} // namespace dataflow::cli

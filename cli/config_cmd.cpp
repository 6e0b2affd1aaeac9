// `dataflow config validate|show|schema`.

#include "commands.hpp"
#include "config/render.hpp"
#include "config/schema.hpp"
#include "util/error.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace dataflow::cli {

CLI::App* add_config_command(CLI::App& app, ConfigArgs& args) {
    auto* cmd = app.add_subcommand(
        "config", "Check and show the configuration (defaults, --config file, config and "
                  "secrets directories, DATAFLOW_* environment, flags)");
    cmd->require_subcommand(1);

    auto* validate = cmd->add_subcommand(
        "validate", "Load the configuration as 'serve' would and report every problem; exit 0 "
                    "when valid, 1 when not. Never touches the network.");
    validate
        ->add_option("--env-file", args.env_file,
                     "Also read NAME=value lines from this file, as environment variables")
        ->type_name("FILE");
    validate
        ->add_option("--environment", args.environment,
                     "Validate as this environment (overrides the configured one)")
        ->check(CLI::IsMember({"development", "staging", "production"}));
    validate
        ->add_option("-o,--output", args.validate_output,
                     "text, json, or github (workflow annotations)")
        ->check(CLI::IsMember({"text", "json", "github"}))
        ->default_str("text");
    validate->add_flag("--strict", args.strict, "Warnings fail validation too");

    auto* show =
        cmd->add_subcommand("show", "Print the effective configuration (secrets masked as ***)");
    show->add_option("-o,--output", args.show_output, "toml or json")
        ->check(CLI::IsMember({"toml", "json"}))
        ->default_str("toml");
    show->add_flag("--sources", args.sources, "Say where each value came from");

    auto* schema = cmd->add_subcommand(
        "schema", "Print every configuration key with its type, default and environment name");
    schema->add_option("-o,--output", args.schema_output, "markdown or man")
        ->check(CLI::IsMember({"markdown", "man"}))
        ->default_str("markdown");
    schema
        ->add_option("--keys", args.schema_keys,
                     "Only these keys: a key (server.port) or a prefix ending in a dot "
                     "(redis.); repeatable or comma-separated")
        ->delimiter(',');

    for (auto* sub : {validate, show, schema}) {
        sub->fallthrough();
    }
    return cmd;
}

namespace {

void print(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

} // namespace

int run_config_validate(const ConfigArgs& args, config::LoadOptions options) {
    if (!args.env_file.empty()) {
        options.env_file = args.env_file;
    }
    if (!args.environment.empty()) {
        options.flags.push_back({"environment", args.environment, "--environment"});
    }
    auto result = config::load(options);
    auto format = args.validate_output == "json"     ? config::FindingsFormat::json
                  : args.validate_output == "github" ? config::FindingsFormat::github
                                                     : config::FindingsFormat::text;
    print(config::render_findings(result, format));
    bool failed = !result.ok() || (args.strict && result.warnings() > 0);
    return failed ? 1 : 0;
}

int run_config_show(const ConfigArgs& args, const config::Config& config) {
    print(args.show_output == "json" ? config::render_json(config, args.sources)
                                     : config::render_toml(config, args.sources));
    return 0;
}

int run_config_schema(const ConfigArgs& args) {
    for (const auto& selector : args.schema_keys) {
        bool any =
            std::any_of(config::schema().begin(), config::schema().end(),
                        [&](const auto& k) { return config::key_selected(k.name, {selector}); });
        if (!any) {
            throw UsageError("--keys " + selector + ": no configuration key " +
                             (selector.back() == '.' ? "starts with it" : "has that name") +
                             "; 'dataflow config schema' lists them all");
        }
    }
    print(args.schema_output == "man" ? config::render_reference_man(args.schema_keys)
                                      : config::render_reference_markdown(args.schema_keys));
    return 0;
}

} // namespace dataflow::cli

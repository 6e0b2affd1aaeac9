#pragma once
/// The `dataflow` command line: global options, subcommands, exit-code mapping.

namespace dataflow::cli {

/// Runs the command line and returns the process exit code (see README "Exit codes").
int run(int argc, char** argv);

} // namespace dataflow::cli

#pragma once
/// One registration function and one run function per subcommand.

#include "terminal.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace dataflow::cli {

struct AnalyzeArgs {
    std::string source;
    std::string output = "table";
    std::vector<std::string> categories;
    int min_score = 0;
    std::int64_t limit = 100;
    std::string sort = "score";
    bool only_ready = false;
    std::string match = "substring";
    std::string rules_file;
    std::vector<std::string> languages{"it", "en"};
    std::string max_input_bytes = "256MiB";
    std::string color = "auto";
};

CLI::App* add_analyze_command(CLI::App& app, AnalyzeArgs& args);
int run_analyze(const AnalyzeArgs& args, const Terminal& terminal);

/// "256MiB", "10M", "1048576" -> bytes; nullopt-like 0 on error is not used: throws UsageError.
std::uint64_t parse_size(const std::string& text, const std::string& option);

} // namespace dataflow::cli

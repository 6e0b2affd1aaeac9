#pragma once
/// The command tree as plain data, read off the CLI11 parser, so shell completions, the
/// `completion json` dump and the man-page check all come from the options the binary really
/// has. Nothing here includes CLI11 (it costs seconds per translation unit).

#include <string>
#include <string_view>
#include <vector>

namespace dataflow::cli {

/// What an option's or a positional's value is, for completion.
enum class ValueKind {
    none,   ///< a flag: no value
    text,   ///< free text
    choice, ///< one of `choices`
    file,   ///< a path to a file
    dir,    ///< a path to a directory
};

struct OptionSpec {
    std::vector<std::string> short_names; ///< without the dash: "o"
    std::vector<std::string> long_names;  ///< without the dashes: "output"
    std::string positional;               ///< the name of a positional argument, else empty
    std::string description;
    std::string value_name; ///< "FORMAT", "FILE", ...
    ValueKind kind = ValueKind::none;
    std::vector<std::string> choices;
    bool repeatable = false;
};

struct CommandSpec {
    std::string name;
    std::string description;
    std::vector<OptionSpec> options;     ///< named options (not the help flag)
    std::vector<OptionSpec> positionals; ///< in order
    std::vector<CommandSpec> subcommands;
};

/// The shells `dataflow completion` writes a script for, plus "json" (the tree itself).
inline constexpr std::string_view k_completion_formats[] = {"bash", "zsh", "fish", "json"};

/// The completion script (or JSON tree) for `root`, whose options are global: accepted by
/// every command, before or after its name.
std::string completion_script(const CommandSpec& root, std::string_view format);

} // namespace dataflow::cli

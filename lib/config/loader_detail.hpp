#pragma once
// Internal to lib/config: the loader's state and steps, shared by loader.cpp (the run, values,
// TOML), loader_sources.cpp (directories, key files, legacy names, environment, --env-file) and
// loader_checks.cpp (rule sets, cross-key checks, the production profile).

#include "config/loader.hpp"

#include <toml++/toml.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {
class RuleSet;
}

namespace dataflow::config::detail {

bool is_dir(const std::string& path);
/// Every key's dotted name, and every key's environment name (for "did you mean").
std::vector<std::string> key_names();
std::vector<std::string> env_names();
std::string did_you_mean(const std::string& suggestion);

struct EnvEntry {
    std::string value;
    Origin origin;
};

class Loader {
public:
    explicit Loader(const LoadOptions& options) : m_options(options) {}

    LoadResult run();

private:
    // findings
    void add(Severity severity, Origin where, std::string key, std::string message);
    void error(Origin where, std::string key, std::string message);
    void warning(Origin where, std::string key, std::string message);

    // values (loader.cpp)
    std::optional<std::string> resolve_dir(const std::optional<std::string>& flag, const char* env,
                                           const std::string& fallback, const char* flag_name);
    std::optional<std::string> read(const std::string& path, SourceKind kind);
    void assign(const KeyDef& key, Value value, const Origin& origin);
    void assign_text(const KeyDef& key, std::string_view text, const Origin& origin);
    static Origin at(const toml::node& node, SourceKind kind, const std::string& path);
    void assign_toml(const KeyDef& key, const toml::node& node, const Origin& origin);
    static std::string_view node_type(const toml::node& node);

    // TOML (loader.cpp)
    void load_toml_file(const std::string& path, SourceKind kind);
    void load_toml_text(const std::string& text, const std::string& path, SourceKind kind);
    void walk(const toml::table& table, const std::string& prefix, const std::string& path,
              SourceKind kind);
    void load_inline_rules(const toml::node& node, const toml::node* mappings,
                           const std::string& path, const Origin& origin);

    // directories, legacy names, environment (loader_sources.cpp)
    void load_dir(const std::string& dir, SourceKind kind);
    void load_key_file(const std::string& path, const std::string& name, SourceKind kind);
    void apply_alias(const Alias& alias, std::string_view value, const Origin& origin);
    /// The process environment with --env-file's entries over it.
    std::map<std::string, EnvEntry> environment();
    void load_environment();

    // rule sets and checks (loader_checks.cpp)
    void resolve_rules();
    void resolve_sources();
    bool is_default(std::string_view key) const;
    /// The origin of `preferred` unless it is a default, else `fallback`'s.
    Origin preferred_origin(std::string_view preferred, std::string_view fallback) const;
    void validate();
    void validate_ports_and_times();
    void validate_auth();
    void validate_paths();
    void validate_redis_topology();
    void validate_production();

    const LoadOptions& m_options;
    Config m_config;
    std::vector<Finding> m_findings;
    std::shared_ptr<const analysis::RuleSet> m_inline_rules;
    Origin m_inline_rules_origin;
};

} // namespace dataflow::config::detail

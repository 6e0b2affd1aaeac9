#pragma once
/// The effective configuration: an immutable snapshot of every key's typed value and where it
/// came from. Shared as std::shared_ptr<const Config> and swapped atomically on reload.

#include "config/schema.hpp"
#include "config/settings.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {
class RuleSet;
}

namespace dataflow::config {

/// Where a value (or a finding) comes from.
enum class SourceKind { none, default_value, file, config_dir, secrets_dir, env, env_file, flag };

struct Origin {
    SourceKind kind = SourceKind::none;
    std::string name; ///< file path, environment variable or flag
    int line = 0;     ///< 1-based, 0 when unknown
    int column = 0;

    /// For diagnostics: "default", "config.toml:12:9", "/etc/config/redis.host",
    /// "env DATAFLOW_REDIS_HOST", "flag --port".
    std::string location() const;
    /// For `config show --sources`: like location() with the kind spelt out for directory
    /// files ("config-dir /etc/config/redis.host", "secret /etc/secrets/redis_password").
    std::string describe() const;
};

class Config {
public:
    /// All defaults; the built-in rule set.
    Config();

    const Value& value(const KeyDef& key) const { return m_values[key_index(key)]; }
    const Origin& origin(const KeyDef& key) const { return m_origins[key_index(key)]; }
    /// Lookup by dotted name; throws std::out_of_range for a name not in the schema (a bug).
    const Value& value(std::string_view key) const;
    const Origin& origin(std::string_view key) const;

    const std::string& str(std::string_view key) const;
    std::int64_t integer(std::string_view key) const;
    double number(std::string_view key) const;
    bool flag(std::string_view key) const;
    std::chrono::milliseconds duration(std::string_view key) const;
    std::uint64_t size(std::string_view key) const;
    const std::vector<std::string>& list(std::string_view key) const;

    /// Every key as a typed field (config/settings.hpp), built by finish(): prefer this to the
    /// string accessors above, which remain for the loader, rendering and not yet converted code.
    const Settings& settings() const { return m_settings; }

    /// The categorisation rules: inline [[analysis.rules]], analysis.rules_file, or built-in.
    const std::shared_ptr<const analysis::RuleSet>& rules() const { return m_rules; }
    /// The source registry: built-in, extended by upstream.sources_file.
    const std::shared_ptr<const SourceRegistry>& sources() const { return m_sources; }

    /// SHA-256 over every non-secret value and the rules (secrets excluded so the hash can be
    /// shown); equal configurations have equal hashes in every process.
    const std::string& hash() const { return m_hash; }

    /// True when this and `other` differ in any value, secrets included.
    bool differs_from(const Config& other) const;

    // Building (the loader and reload).
    void set(const KeyDef& key, Value value, Origin origin);
    void set_rules(std::shared_ptr<const analysis::RuleSet> rules, Origin origin);
    void set_sources(std::shared_ptr<const SourceRegistry> sources);
    void finish(); ///< computes the hash and the settings; call after the last set

private:
    std::vector<Value> m_values;
    std::vector<Origin> m_origins;
    std::shared_ptr<const analysis::RuleSet> m_rules;
    std::shared_ptr<const SourceRegistry> m_sources;
    std::string m_hash;
    Settings m_settings;
};

} // namespace dataflow::config

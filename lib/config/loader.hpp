#pragma once
/// Loading the configuration from its layered sources, lowest precedence first: defaults, a TOML
/// file, a config directory (ConfigMap), a secrets directory (Secret), environment variables,
/// command-line flags. Merging is per key; every finding is collected with its location.

#include "config/config.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dataflow::config {

enum class Severity { warning, error };

struct Finding {
    Severity severity = Severity::error;
    Origin where;
    std::string key; ///< dotted key, or empty
    std::string message;

    /// "config.toml:12:9: error: server.port: 70000 is out of range 1..65535"; without the
    /// severity when a logger already shows it.
    std::string text(bool with_severity = true) const;
};

/// A flag given on the command line that sets a key.
struct FlagValue {
    std::string key;  ///< dotted key
    std::string text; ///< the value as typed
    std::string flag; ///< "--port", for messages
};

struct LoadOptions {
    /// The environment (NAME -> value): the process environment, as the caller passes it.
    std::map<std::string, std::string> env;
    /// --config; when unset DATAFLOW_CONFIG from `env`.
    std::optional<std::string> config_file;
    /// --config-dir / --secrets-dir; when unset DATAFLOW_CONFIG_DIR / DATAFLOW_SECRETS_DIR, then
    /// the defaults below when they exist.
    std::optional<std::string> config_dir;
    std::optional<std::string> secrets_dir;
    std::string default_config_dir = "/etc/config";
    std::string default_secrets_dir = "/etc/secrets";
    /// --env-file entries, applied over `env` (origin env-file FILE:LINE).
    std::optional<std::string> env_file;
    std::vector<FlagValue> flags;
};

struct LoadResult {
    /// Always set: on errors it holds what could be loaded (do not use it to serve).
    std::shared_ptr<const Config> config;
    std::vector<Finding> findings;
    /// Files and directories read, for the reload watcher.
    std::optional<std::string> config_file;
    std::optional<std::string> config_dir;
    std::optional<std::string> secrets_dir;

    std::size_t errors() const;
    std::size_t warnings() const;
    bool ok() const { return errors() == 0; }
};

/// Loads and validates. Never throws for bad configuration (findings instead); never touches
/// the network.
LoadResult load(const LoadOptions& options);

/// The process environment as a map (only for the composition root: lib/ never reads it).
std::map<std::string, std::string> environment_from(char** envp);

/// Largest configuration file read (TOML or one key file).
inline constexpr std::size_t k_max_config_file_bytes = 1024 * 1024;
/// Most entries read from one directory.
inline constexpr std::size_t k_max_dir_entries = 1000;

} // namespace dataflow::config

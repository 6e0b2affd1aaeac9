#pragma once
/// The configuration schema: one table that declares every key. Parsing, environment names,
/// validation, `config show`, docs/CONFIGURATION.md and the man page are generated from it.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dataflow::config {

enum class KeyType {
    string,
    integer,
    number, ///< floating point
    boolean,
    duration,    ///< stored in milliseconds; "500ms", "30s", "1m30s"; a bare number is seconds
    size,        ///< stored in bytes; "64MiB", "10M", "1000"
    enumeration, ///< one of KeyDef::choices
    list,        ///< of strings; comma-separated outside TOML
    rules,       ///< an array of rule tables, TOML files only
};

/// Extra checks beyond the type.
enum class Check {
    none,
    http_url,    ///< http:// or https:// URL with a host
    sdmx_id,     ///< SDMX identifier: [A-Za-z0-9_@$-]+
    host,        ///< host name or IP address, no scheme or port
    language,    ///< list of language tags (it, en, pt-BR)
    no_newline,  ///< one line (header values, tokens)
    host_limits, ///< list of host=PER_MINUTE[/BURST]
    endpoints,   ///< list of host:port ([v6]:port)
};

/// A typed value: string (string, enumeration), int64 (integer, duration ms, size bytes),
/// double (number), bool (boolean), list of strings (list). Rules live in Config itself.
using Value = std::variant<std::string, std::int64_t, double, bool, std::vector<std::string>>;

struct KeyDef {
    std::string_view name; ///< dotted: "server.port"
    KeyType type = KeyType::string;
    std::string_view default_text; ///< parsed like any other text value
    double min = 0;                ///< inclusive range when min < max (ms for durations, bytes)
    double max = 0;
    std::string_view choices; ///< enumeration: "a|b|c"; aliases after ';': "warning=warn"
    bool secret = false;      ///< never printed, logged or hashed in clear
    bool reloadable = false;  ///< may change without a restart
    Check check = Check::none;
    std::string_view description; ///< one line, for docs and `config show`
};

/// Every key, in documentation order.
std::span<const KeyDef> schema();

/// The key with this dotted name, or nullptr.
const KeyDef* find_key(std::string_view name);
/// Index of a key in schema().
std::size_t key_index(const KeyDef& key);

/// "server.port" -> "DATAFLOW_SERVER_PORT".
std::string env_name(std::string_view key);
/// The key whose environment name is `env`, or nullptr.
const KeyDef* find_key_by_env(std::string_view env);

/// Legacy names kept working (the reference deployment's environment and secret files).
struct Alias {
    std::string_view name;     ///< DATAFLOW_ENABLE_METRICS, redis_password, ...
    std::string_view key;      ///< target key; empty: accepted and ignored
    std::string_view note;     ///< shown as the deprecation warning
    bool backend_flag = false; ///< a boolean mapped to cache.backend redis|memory
    bool deprecated = true;    ///< warn when used
};
std::span<const Alias> aliases();
const Alias* find_alias(std::string_view name);

/// Parses text (from a file, environment variable, flag or TOML string) as the key's type and
/// checks range, choices and checks. On failure returns the message (without the key name;
/// never containing the value of a secret key).
struct ParseResult {
    std::optional<Value> value;
    std::string error;
};
ParseResult parse_value(const KeyDef& key, std::string_view text);

/// Checks an already typed value (from TOML) against range, choices and checks.
std::string check_value(const KeyDef& key, const Value& value);

/// The value as text that parse_value reads back ("30s", "64MiB", "it,en").
std::string format_value(const KeyDef& key, const Value& value);

/// "integer", "duration", ... for messages and docs.
std::string_view type_name(KeyType type);
/// The allowed range or values in words ("1..65535", "memory | redis"), or empty.
std::string describe_range(const KeyDef& key);

/// The closest known name to `name` among `candidates` (edit distance), or empty if none is
/// close enough to be a plausible typo.
std::string closest(std::string_view name, const std::vector<std::string>& candidates);

/// Loader variables that are not keys: DATAFLOW_CONFIG, DATAFLOW_CONFIG_DIR, ...
bool is_loader_variable(std::string_view env);

/// Kubernetes' service-link variables (DATAFLOW_ANALYZER_SERVICE_HOST, ..._PORT_8000_TCP):
/// injected for every Service, never configuration. `value` tells <SVC>_PORT=tcp://... from a
/// misspelt key.
bool is_kubernetes_service_variable(std::string_view env, std::string_view value);

} // namespace dataflow::config

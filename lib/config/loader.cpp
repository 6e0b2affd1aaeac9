#include "config/loader.hpp"

#include "analysis/rules.hpp"
#include "analysis/rules_toml.hpp"
#include "sdmx/source.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace dataflow::config {

namespace fs = std::filesystem;

std::string Finding::text(bool with_severity) const {
    std::string out = where.location();
    out += out.empty() ? "" : ": ";
    if (with_severity) {
        out += severity == Severity::error ? "error: " : "warning: ";
    }
    if (!key.empty()) {
        out += key;
        out += ": ";
    }
    out += message;
    return out;
}

std::size_t LoadResult::errors() const {
    return static_cast<std::size_t>(std::count_if(
        findings.begin(), findings.end(), [](auto& f) { return f.severity == Severity::error; }));
}

std::size_t LoadResult::warnings() const {
    return findings.size() - errors();
}

std::map<std::string, std::string> environment_from(char** envp) {
    std::map<std::string, std::string> env;
    for (char** e = envp; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        if (eq != std::string_view::npos) {
            env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
    }
    return env;
}

namespace {

bool is_dir(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> key_names() {
    std::vector<std::string> out;
    for (const auto& k : schema()) {
        out.emplace_back(k.name);
    }
    return out;
}

std::vector<std::string> env_names() {
    std::vector<std::string> out;
    for (const auto& k : schema()) {
        if (k.type != KeyType::rules) {
            out.push_back(env_name(k.name));
        }
    }
    return out;
}

/// Sections ("server", "redis") and every key.
bool is_section(std::string_view path) {
    for (const auto& k : schema()) {
        if (k.name.size() > path.size() && k.name.substr(0, path.size()) == path &&
            k.name[path.size()] == '.') {
            return true;
        }
    }
    return false;
}

std::string did_you_mean(const std::string& suggestion) {
    return suggestion.empty() ? std::string("; run 'dataflow config schema' for the keys")
                              : "; did you mean " + suggestion + "?";
}

struct EnvEntry {
    std::string value;
    Origin origin;
};

class Loader {
public:
    explicit Loader(const LoadOptions& options) : m_options(options) {}

    LoadResult run() {
        LoadResult result;
        auto getenv = [&](const char* name) -> std::optional<std::string> {
            auto it = m_options.env.find(name);
            if (it == m_options.env.end() || it->second.empty()) {
                return std::nullopt;
            }
            return it->second;
        };

        // 2. the TOML file
        result.config_file =
            m_options.config_file ? m_options.config_file : getenv("DATAFLOW_CONFIG");
        if (result.config_file) {
            load_toml_file(*result.config_file, SourceKind::file);
        }
        // 3. the config directory, 4. the secrets directory
        result.config_dir = resolve_dir(m_options.config_dir, "DATAFLOW_CONFIG_DIR",
                                        m_options.default_config_dir, "--config-dir");
        if (result.config_dir) {
            load_dir(*result.config_dir, SourceKind::config_dir);
        }
        result.secrets_dir = resolve_dir(m_options.secrets_dir, "DATAFLOW_SECRETS_DIR",
                                         m_options.default_secrets_dir, "--secrets-dir");
        if (result.secrets_dir) {
            load_dir(*result.secrets_dir, SourceKind::secrets_dir);
        }
        // 5. environment (and --env-file over it)
        load_environment();
        // 6. flags
        for (const auto& f : m_options.flags) {
            const KeyDef* key = find_key(f.key);
            if (key == nullptr) {
                throw std::logic_error("flag for unknown key " + f.key);
            }
            assign_text(*key, f.text, Origin{SourceKind::flag, f.flag, 0, 0});
        }
        resolve_rules();
        validate();
        m_config.finish();
        result.config = std::make_shared<const Config>(std::move(m_config));
        result.findings = std::move(m_findings);
        return result;
    }

private:
    void add(Severity severity, Origin where, std::string key, std::string message) {
        m_findings.push_back(
            Finding{severity, std::move(where), std::move(key), std::move(message)});
    }
    void error(Origin where, std::string key, std::string message) {
        add(Severity::error, std::move(where), std::move(key), std::move(message));
    }
    void warning(Origin where, std::string key, std::string message) {
        add(Severity::warning, std::move(where), std::move(key), std::move(message));
    }

    std::optional<std::string> resolve_dir(const std::optional<std::string>& flag, const char* env,
                                           const std::string& fallback, const char* flag_name) {
        std::optional<std::string> dir = flag;
        Origin origin{SourceKind::flag, flag_name, 0, 0};
        if (!dir) {
            auto it = m_options.env.find(env);
            if (it != m_options.env.end() && !it->second.empty()) {
                dir = it->second;
                origin = Origin{SourceKind::env, env, 0, 0};
            }
        }
        if (!dir) {
            if (!fallback.empty() && is_dir(fallback)) {
                return fallback;
            }
            return std::nullopt;
        }
        if (!is_dir(*dir)) {
            error(origin, {},
                  fmt::format("'{}' is not a readable directory: {}", *dir,
                              fs::exists(*dir) ? "not a directory" : "no such directory"));
            return std::nullopt;
        }
        return dir;
    }

    /// Reads a whole file (bounded); on failure records an error and returns nullopt.
    std::optional<std::string> read(const std::string& path, SourceKind kind) {
        try {
            sdmx::FileSource source(path);
            return source.fetch(sdmx::ReadLimits{k_max_config_file_bytes}).bytes;
        } catch (const Error& e) {
            std::string_view message = e.what();
            if (message.substr(0, path.size() + 2) == path + ": ") {
                message.remove_prefix(path.size() + 2); // the location says it already
            }
            error(Origin{kind, path, 0, 0}, {}, std::string(message));
            return std::nullopt;
        }
    }

    // ---- assignment

    void assign(const KeyDef& key, Value value, const Origin& origin) {
        if (key.secret &&
            (origin.kind == SourceKind::file || origin.kind == SourceKind::config_dir)) {
            warning(origin, std::string(key.name),
                    "a secret in a plain configuration file; put it in the secrets directory "
                    "(a Kubernetes Secret) or an environment variable from a Secret");
        }
        m_config.set(key, std::move(value), origin);
    }

    void assign_text(const KeyDef& key, std::string_view text, const Origin& origin) {
        auto parsed = parse_value(key, text);
        if (!parsed.value) {
            error(origin, std::string(key.name), parsed.error);
            return;
        }
        assign(key, std::move(*parsed.value), origin);
    }

    static Origin at(const toml::node& node, SourceKind kind, const std::string& path) {
        const auto& b = node.source().begin;
        return Origin{kind, path, static_cast<int>(b.line), static_cast<int>(b.column)};
    }

    void assign_toml(const KeyDef& key, const toml::node& node, const Origin& origin) {
        auto wrong = [&](std::string_view expected) {
            error(origin, std::string(key.name),
                  fmt::format("must be {} (got a TOML {})", expected, node_type(node)));
        };
        auto scalar_text = [&]() -> std::optional<std::string> {
            if (auto s = node.as_string()) {
                return s->get();
            }
            return std::nullopt;
        };
        Value value;
        switch (key.type) {
        case KeyType::rules:
            return; // handled by the caller
        case KeyType::string:
            if (auto s = node.as_string()) {
                value = s->get();
            } else if (auto i = node.as_integer()) {
                value = std::to_string(i->get()); // a numeric password is a string
            } else if (auto f = node.as_floating_point()) {
                value = fmt::format("{}", f->get());
            } else {
                return wrong("a string");
            }
            break;
        case KeyType::integer:
        case KeyType::size:
            if (auto i = node.as_integer()) {
                value = i->get();
            } else if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            } else {
                return wrong(key.type == KeyType::size ? "a size (bytes or \"64MiB\")"
                                                       : "an integer");
            }
            break;
        case KeyType::number:
            if (auto i = node.as_integer()) {
                value = static_cast<double>(i->get());
            } else if (auto f = node.as_floating_point()) {
                value = f->get();
            } else if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            } else {
                return wrong("a number");
            }
            break;
        case KeyType::boolean:
            if (auto b = node.as_boolean()) {
                value = b->get();
            } else if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            } else {
                return wrong("true or false");
            }
            break;
        case KeyType::duration:
            if (auto i = node.as_integer()) {
                if (i->get() < 0 || i->get() > 100LL * 365 * 86400) {
                    error(origin, std::string(key.name),
                          fmt::format("{} seconds is not a valid duration", i->get()));
                    return;
                }
                value = i->get() * 1000;
            } else if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            } else {
                return wrong("a duration (\"30s\", \"500ms\", or seconds as an integer)");
            }
            break;
        case KeyType::enumeration:
            if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            }
            return wrong(fmt::format("one of {}", describe_range(key)));
        case KeyType::list:
            if (auto a = node.as_array()) {
                std::vector<std::string> items;
                for (const auto& item : *a) {
                    if (!item.is_string()) {
                        return wrong("a list of strings");
                    }
                    auto v = std::string(util::trim(item.as_string()->get()));
                    if (!v.empty()) {
                        items.push_back(std::move(v));
                    }
                }
                value = std::move(items);
            } else if (auto t = scalar_text()) {
                return assign_text(key, *t, origin);
            } else {
                return wrong("a list of strings");
            }
            break;
        }
        auto problem = check_value(key, value);
        if (!problem.empty()) {
            error(origin, std::string(key.name), problem);
            return;
        }
        assign(key, std::move(value), origin);
    }

    static std::string_view node_type(const toml::node& node) {
        switch (node.type()) {
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::array:
            return "array";
        case toml::node_type::table:
            return "table";
        default:
            return "date/time";
        }
    }

    // ---- TOML files

    void load_toml_file(const std::string& path, SourceKind kind) {
        auto text = read(path, kind);
        if (!text) {
            return;
        }
        load_toml_text(*text, path, kind);
    }

    void load_toml_text(const std::string& text, const std::string& path, SourceKind kind) {
        if (auto bad = util::find_invalid_utf8(text)) {
            auto pos = util::position_of(text, *bad);
            error(Origin{kind, path, static_cast<int>(pos.line), static_cast<int>(pos.column)}, {},
                  fmt::format("invalid UTF-8 at byte offset {}", *bad));
            return;
        }
        toml::table doc;
        try {
            doc = toml::parse(text, path);
        } catch (const toml::parse_error& e) {
            Origin where{kind, path, static_cast<int>(e.source().begin.line),
                         static_cast<int>(e.source().begin.column)};
            if (kind == SourceKind::secrets_dir) {
                // toml++ quotes the text it choked on; in a secrets file that may be a secret.
                error(where, {}, "TOML syntax error (details hidden: the file is a secret)");
            } else {
                error(where, {}, fmt::format("TOML syntax error: {}", e.description()));
            }
            return;
        }
        // toml++ iterates keys in name order; report in the order of the file.
        auto first = m_findings.size();
        walk(doc, "", path, kind);
        std::stable_sort(m_findings.begin() + static_cast<std::ptrdiff_t>(first), m_findings.end(),
                         [](const Finding& a, const Finding& b) {
                             return std::pair(a.where.line, a.where.column) <
                                    std::pair(b.where.line, b.where.column);
                         });
    }

    void walk(const toml::table& table, const std::string& prefix, const std::string& path,
              SourceKind kind) {
        for (const auto& [k, node] : table) {
            std::string name =
                prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
            Origin origin = at(node, kind, path);
            if (const KeyDef* key = find_key(name)) {
                if (key->type == KeyType::rules) {
                    load_inline_rules(node, path, origin);
                } else {
                    assign_toml(*key, node, origin);
                }
                continue;
            }
            if (is_section(name)) {
                if (auto t = node.as_table()) {
                    walk(*t, name, path, kind);
                } else {
                    error(origin, name,
                          fmt::format("is a table of settings, not a value; set its keys "
                                      "([{}] ... or {}.<key> = ...)",
                                      name, name));
                }
                continue;
            }
            auto candidates = key_names();
            for (const auto& def : schema()) {
                if (auto dot = def.name.find('.'); dot != std::string_view::npos) {
                    candidates.emplace_back(def.name.substr(0, dot));
                }
            }
            error(origin, name, "unknown key" + did_you_mean(closest(name, candidates)));
        }
    }

    void load_inline_rules(const toml::node& node, const std::string& path, const Origin& origin) {
        try {
            m_inline_rules = analysis::rules_from_toml(node, path, "analysis.rules");
            m_inline_rules_origin = origin;
        } catch (const LocatedError& e) {
            error(Origin{origin.kind, e.file(), e.line(), e.column()}, "analysis.rules",
                  e.detail());
        }
    }

    // ---- directories

    void load_dir(const std::string& dir, SourceKind kind) {
        std::vector<std::string> names;
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            error(Origin{kind, dir, 0, 0}, {}, "cannot list the directory: " + ec.message());
            return;
        }
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec) {
                error(Origin{kind, dir, 0, 0}, {}, "cannot list the directory: " + ec.message());
                return;
            }
            auto name = it->path().filename().string();
            // Kubernetes' ..data and ..<timestamp> entries, and any dot-file, are not keys.
            if (name.empty() || name[0] == '.') {
                continue;
            }
            if (names.size() >= k_max_dir_entries) {
                error(Origin{kind, dir, 0, 0}, {},
                      fmt::format("more than {} entries; is this the right directory?",
                                  k_max_dir_entries));
                return;
            }
            names.push_back(std::move(name));
        }
        std::sort(names.begin(), names.end());
        // TOML files first, then alias-named files, then files named by key: the canonical
        // name wins over a legacy one whatever the order of the names.
        std::vector<std::pair<int, std::string>> ordered;
        for (auto& n : names) {
            int rank = n.size() > 5 && n.substr(n.size() - 5) == ".toml" ? 0
                       : find_alias(n) != nullptr                        ? 1
                                                                         : 2;
            ordered.emplace_back(rank, std::move(n));
        }
        std::stable_sort(ordered.begin(), ordered.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [rank, name] : ordered) {
            std::string path = (fs::path(dir) / name).string();
            struct stat st {};
            if (::stat(path.c_str(), &st) != 0) {
                error(Origin{kind, path, 0, 0}, {},
                      fmt::format("cannot read: {}", std::strerror(errno)));
                continue;
            }
            if (!S_ISREG(st.st_mode)) {
                continue; // sub-directories are not keys
            }
            if (rank == 0) {
                load_toml_file(path, kind);
            } else {
                load_key_file(path, name, kind);
            }
        }
    }

    void load_key_file(const std::string& path, const std::string& name, SourceKind kind) {
        Origin origin{kind, path, 0, 0};
        const KeyDef* key = find_key(name);
        if (key == nullptr) {
            key = find_key_by_env(name);
        }
        const Alias* alias = key == nullptr ? find_alias(name) : nullptr;
        if (key == nullptr && alias == nullptr) {
            std::vector<std::string> candidates = key_names();
            auto envs = env_names();
            candidates.insert(candidates.end(), envs.begin(), envs.end());
            error(origin, {},
                  fmt::format("'{}' is not a configuration key{}", name,
                              did_you_mean(closest(name, candidates))));
            return;
        }
        if (key != nullptr && key->type == KeyType::rules) {
            error(origin, std::string(key->name),
                  "rules cannot be set from a plain file; use a .toml file with "
                  "[[analysis.rules]] tables or analysis.rules_file");
            return;
        }
        auto text = read(path, kind);
        if (!text) {
            return;
        }
        // A mounted file usually ends with one newline that is not part of the value.
        std::string_view value(*text);
        if (value.size() >= 2 && value.substr(value.size() - 2) == "\r\n") {
            value.remove_suffix(2);
        } else if (!value.empty() && value.back() == '\n') {
            value.remove_suffix(1);
        }
        if (util::find_invalid_utf8(value)) {
            error(origin, key != nullptr ? std::string(key->name) : std::string(alias->key),
                  "is not valid UTF-8 text");
            return;
        }
        if (alias != nullptr) {
            apply_alias(*alias, value, origin);
        } else {
            assign_text(*key, value, origin);
        }
    }

    void apply_alias(const Alias& alias, std::string_view value, const Origin& origin) {
        if (alias.key.empty()) {
            warning(origin, {}, fmt::format("{} is ignored: {}", alias.name, alias.note));
            return;
        }
        const KeyDef& key = *find_key(alias.key);
        if (alias.deprecated) {
            warning(origin, std::string(key.name),
                    fmt::format("{} is a deprecated name; {}", alias.name, alias.note));
        }
        if (alias.backend_flag) {
            auto b = parse_value(*find_key("metrics.enabled"), value);
            if (!b.value) {
                error(origin, std::string(key.name), fmt::format("{}: {}", alias.name, b.error));
                return;
            }
            assign(key, std::string(std::get<bool>(*b.value) ? "redis" : "memory"), origin);
            return;
        }
        assign_text(key, value, origin);
    }

    // ---- environment

    std::map<std::string, EnvEntry> environment() {
        std::map<std::string, EnvEntry> env;
        for (const auto& [name, value] : m_options.env) {
            env[name] = EnvEntry{value, Origin{SourceKind::env, name, 0, 0}};
        }
        if (!m_options.env_file) {
            return env;
        }
        const std::string& path = *m_options.env_file;
        auto text = read(path, SourceKind::env_file);
        if (!text) {
            return env;
        }
        int line_no = 0;
        std::string_view rest(*text);
        while (!rest.empty()) {
            auto nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
            ++line_no;
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
            }
            auto t = util::trim(line);
            if (t.empty() || t[0] == '#') {
                continue;
            }
            if (t.substr(0, 7) == "export ") {
                t = util::trim(t.substr(7));
            }
            Origin origin{SourceKind::env_file, path, line_no, 0};
            auto eq = t.find('=');
            auto name = eq == std::string_view::npos ? t : util::trim(t.substr(0, eq));
            bool valid_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
            });
            if (eq == std::string_view::npos || !valid_name) {
                error(origin, {}, "expected NAME=value");
                continue;
            }
            auto value = util::trim(t.substr(eq + 1));
            std::string v;
            if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                value.back() == value.front()) {
                auto inner = value.substr(1, value.size() - 2);
                if (value.front() == '"') {
                    for (std::size_t i = 0; i < inner.size(); ++i) {
                        if (inner[i] == '\\' && i + 1 < inner.size()) {
                            char c = inner[++i];
                            v += c == 'n' ? '\n' : c;
                        } else {
                            v += inner[i];
                        }
                    }
                } else {
                    v = std::string(inner);
                }
            } else {
                v = std::string(value);
            }
            env[std::string(name)] = EnvEntry{std::move(v), origin};
        }
        return env;
    }

    void load_environment() {
        auto env = environment();
        std::vector<std::pair<const KeyDef*, const EnvEntry*>> canonical;
        std::vector<std::pair<const Alias*, const EnvEntry*>> legacy;
        for (const auto& [name, entry] : env) {
            if (name.rfind("DATAFLOW_", 0) != 0 || is_loader_variable(name)) {
                continue;
            }
            if (const KeyDef* key = find_key_by_env(name)) {
                canonical.emplace_back(key, &entry);
            } else if (const Alias* alias = find_alias(name)) {
                legacy.emplace_back(alias, &entry);
            } else if (!is_kubernetes_service_variable(name, entry.value)) {
                warning(entry.origin, {},
                        "unknown variable, ignored" + did_you_mean(closest(name, env_names())));
            }
        }
        for (const auto& [alias, entry] : legacy) {
            apply_alias(*alias, entry->value, entry->origin);
        }
        for (const auto& [key, entry] : canonical) {
            if (key->type == KeyType::rules) {
                error(entry->origin, std::string(key->name),
                      "rules cannot be set from the environment; use analysis.rules_file");
                continue;
            }
            assign_text(*key, entry->value, entry->origin);
        }
    }

    // ---- rules

    void resolve_rules() {
        const KeyDef& file_key = *find_key("analysis.rules_file");
        const std::string& file = m_config.str("analysis.rules_file");
        const Origin& file_origin = m_config.origin(file_key);
        if (m_inline_rules && !file.empty()) {
            error(file_origin, "analysis.rules_file",
                  fmt::format("both analysis.rules_file and [[analysis.rules]] (at {}) are set; "
                              "keep one",
                              m_inline_rules_origin.location()));
            return;
        }
        if (m_inline_rules) {
            m_config.set_rules(m_inline_rules, m_inline_rules_origin);
            return;
        }
        if (file.empty()) {
            return;
        }
        // A relative path is relative to the file that names it.
        fs::path path(file);
        if (path.is_relative() &&
            (file_origin.kind == SourceKind::file || file_origin.kind == SourceKind::config_dir ||
             file_origin.kind == SourceKind::secrets_dir)) {
            path = fs::path(file_origin.name).parent_path() / path;
        }
        try {
            m_config.set_rules(analysis::load_rules_file(path.string()), file_origin);
        } catch (const LocatedError& e) {
            error(Origin{SourceKind::file, e.file(), e.line(), e.column()}, "analysis.rules_file",
                  e.detail());
        } catch (const Error& e) {
            error(file_origin, "analysis.rules_file", e.what());
        }
    }

    // ---- cross-key checks and the production profile

    bool is_default(std::string_view key) const {
        return m_config.origin(key).kind == SourceKind::default_value;
    }

    void validate() {
        const auto& c = m_config;
        bool production = c.str("environment") == "production";
        bool redis = c.str("cache.backend") == "redis";
        auto origin = [&](std::string_view key) { return c.origin(key); };
        auto where = [&](std::string_view preferred, std::string_view fallback) {
            return is_default(preferred) ? origin(fallback) : origin(preferred);
        };

        if (c.integer("server.metrics_port") != 0 &&
            c.integer("server.metrics_port") == c.integer("server.port")) {
            error(origin("server.metrics_port"), "server.metrics_port",
                  "equals server.port; use 0 to serve /metrics on the API port");
        }
        if (c.duration("cache.stale_ttl") < c.duration("cache.fresh_ttl")) {
            error(where("cache.stale_ttl", "cache.fresh_ttl"), "cache.stale_ttl",
                  "is shorter than cache.fresh_ttl; an entry must stay fresh before it goes "
                  "stale");
        }
        for (const char* cls : {"structure", "data"}) {
            auto deadline = fmt::format("upstream.{}_deadline", cls);
            auto connect = fmt::format("upstream.{}_connect_timeout", cls);
            if (c.duration(deadline) < c.duration(connect)) {
                error(where(deadline, connect), deadline,
                      fmt::format("is shorter than {}; no call could ever finish", connect));
            }
        }
        if (c.duration("upstream.retry_after_max") < c.duration("upstream.retry_after_min")) {
            error(where("upstream.retry_after_max", "upstream.retry_after_min"),
                  "upstream.retry_after_max", "is shorter than upstream.retry_after_min");
        }
        const auto& mode = c.str("auth.mode");
        if (mode == "token" && c.list("auth.tokens").empty() &&
            c.list("auth.admin_tokens").empty()) {
            error(origin("auth.mode"), "auth.mode",
                  "token authentication without auth.tokens or auth.admin_tokens; no request "
                  "could be authorised");
        }
        if (mode == "jwt" && c.str("auth.jwt_secret").empty()) {
            error(origin("auth.mode"), "auth.mode",
                  "JWT authentication without auth.jwt_secret; no token could be verified");
        }
        if (mode == "jwt" && !c.str("auth.jwt_secret").empty() &&
            c.str("auth.jwt_secret").size() < 32) {
            warning(origin("auth.jwt_secret"), "auth.jwt_secret",
                    "an HMAC secret shorter than 32 bytes is weak; use 32 random bytes or more");
        }
        for (const char* key : {"auth.tokens", "auth.admin_tokens"}) {
            for (const auto& token : c.list(key)) {
                if (token.size() < 16) {
                    warning(origin(key), key,
                            "a token shorter than 16 characters is easy to guess; use random "
                            "tokens of 32 characters or more");
                    break;
                }
            }
        }
        if (c.str("catalog.mode") == "file" && c.str("catalog.file").empty()) {
            error(origin("catalog.mode"), "catalog.file",
                  "catalog.mode = file needs catalog.file (the path of a dataflow list)");
        }
        if (const auto& f = c.str("catalog.file"); !f.empty() && ::access(f.c_str(), R_OK) != 0) {
            error(origin("catalog.file"), "catalog.file",
                  fmt::format("cannot read '{}': {}", f, std::strerror(errno)));
        }
        if (const auto& root = c.str("api.file_root"); !root.empty() && !is_dir(root)) {
            error(origin("api.file_root"), "api.file_root",
                  fmt::format("'{}' is not a directory", root));
        }
        if (const auto& ca = c.str("upstream.ca_file");
            !ca.empty() && ::access(ca.c_str(), R_OK) != 0) {
            error(origin("upstream.ca_file"), "upstream.ca_file",
                  fmt::format("cannot read '{}': {}", ca, std::strerror(errno)));
        }
        if (!redis) {
            for (const auto& key : schema()) {
                if (key.name.substr(0, 6) == "redis." && !is_default(key.name)) {
                    warning(origin(key.name), std::string(key.name),
                            "has no effect with cache.backend = memory");
                }
            }
        }

        if (!production) {
            return;
        }
        const auto& host = c.str("redis.host");
        if (redis && (host == "localhost" || host == "127.0.0.1" || host == "::1" ||
                      host == "[::1]" || host.rfind("127.", 0) == 0)) {
            error(where("redis.host", "cache.backend"), "redis.host",
                  fmt::format("production with distributed caching on '{}': each replica would "
                              "use its own Redis; set redis.host to the Redis Service "
                              "(e.g. redis.<namespace>.svc.cluster.local)",
                              host));
        }
        const auto& level = c.str("log.level");
        if (level == "debug" || level == "trace") {
            error(origin("log.level"), "log.level",
                  fmt::format("'{}' in production logs request details at volume; use info "
                              "(raise it on one pod for a while if you must)",
                              level));
        }
        if (c.flag("api.admin_enabled") && c.str("auth.mode") == "none") {
            error(where("api.admin_enabled", "auth.mode"), "api.admin_enabled",
                  "admin endpoints are enabled without authentication; set auth.mode = token "
                  "(with auth.admin_tokens) or jwt, or disable api.admin_enabled");
        }
        if (c.str("upstream.base_url").rfind("https://", 0) != 0) {
            error(origin("upstream.base_url"), "upstream.base_url",
                  "production needs an https:// upstream");
        }
    }

    const LoadOptions& m_options;
    Config m_config;
    std::vector<Finding> m_findings;
    std::shared_ptr<const analysis::RuleSet> m_inline_rules;
    Origin m_inline_rules_origin;
};

} // namespace

LoadResult load(const LoadOptions& options) {
    return Loader(options).run();
}

} // namespace dataflow::config

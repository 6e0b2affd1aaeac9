#include "config/loader.hpp"

#include "analysis/rules.hpp"
#include "analysis/rules_toml.hpp"
#include "config/loader_detail.hpp"
#include "sdmx/source.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <sys/stat.h>

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

LoadResult load(const LoadOptions& options) {
    return detail::Loader(options).run();
}

namespace detail {

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

std::string did_you_mean(const std::string& suggestion) {
    return suggestion.empty() ? std::string("; run 'dataflow config schema' for the keys")
                              : "; did you mean " + suggestion + "?";
}

namespace {

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

} // namespace

LoadResult Loader::run() {
    LoadResult result;
    auto getenv = [&](const char* name) -> std::optional<std::string> {
        auto it = m_options.env.find(name);
        if (it == m_options.env.end() || it->second.empty()) {
            return std::nullopt;
        }
        return it->second;
    };

    // 2. the TOML file
    result.config_file = m_options.config_file ? m_options.config_file : getenv("DATAFLOW_CONFIG");
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
    resolve_sources();
    validate();
    m_config.finish();
    result.config = std::make_shared<const Config>(std::move(m_config));
    result.findings = std::move(m_findings);
    return result;
}

void Loader::add(Severity severity, Origin where, std::string key, std::string message) {
    m_findings.push_back(Finding{severity, std::move(where), std::move(key), std::move(message)});
}

void Loader::error(Origin where, std::string key, std::string message) {
    add(Severity::error, std::move(where), std::move(key), std::move(message));
}

void Loader::warning(Origin where, std::string key, std::string message) {
    add(Severity::warning, std::move(where), std::move(key), std::move(message));
}

std::optional<std::string> Loader::resolve_dir(const std::optional<std::string>& flag,
                                               const char* env, const std::string& fallback,
                                               const char* flag_name) {
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

std::optional<std::string> Loader::read(const std::string& path, SourceKind kind) {
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

void Loader::assign(const KeyDef& key, Value value, const Origin& origin) {
    if (key.secret && (origin.kind == SourceKind::file || origin.kind == SourceKind::config_dir)) {
        warning(origin, std::string(key.name),
                "a secret in a plain configuration file; put it in the secrets directory "
                "(a Kubernetes Secret) or an environment variable from a Secret");
    }
    m_config.set(key, std::move(value), origin);
}

void Loader::assign_text(const KeyDef& key, std::string_view text, const Origin& origin) {
    auto parsed = parse_value(key, text);
    if (!parsed.value) {
        error(origin, std::string(key.name), parsed.error);
        return;
    }
    assign(key, std::move(*parsed.value), origin);
}

Origin Loader::at(const toml::node& node, SourceKind kind, const std::string& path) {
    const auto& b = node.source().begin;
    return Origin{kind, path, static_cast<int>(b.line), static_cast<int>(b.column)};
}

void Loader::assign_toml(const KeyDef& key, const toml::node& node, const Origin& origin) {
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
            return wrong(key.type == KeyType::size ? "a size (bytes or \"64MiB\")" : "an integer");
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

std::string_view Loader::node_type(const toml::node& node) {
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

void Loader::load_toml_file(const std::string& path, SourceKind kind) {
    auto text = read(path, kind);
    if (!text) {
        return;
    }
    load_toml_text(*text, path, kind);
}

void Loader::load_toml_text(const std::string& text, const std::string& path, SourceKind kind) {
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

void Loader::walk(const toml::table& table, const std::string& prefix, const std::string& path,
                  SourceKind kind) {
    for (const auto& [k, node] : table) {
        std::string name =
            prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        Origin origin = at(node, kind, path);
        if (name == "analysis.agency_categories") {
            // Read with the [[analysis.rules]] of the same file: mappings belong to a rule set.
            if (table.get("rules") == nullptr) {
                error(
                    origin, name,
                    "[[analysis.agency_categories]] needs [[analysis.rules]] in the same file "
                    "(or put both in analysis.rules_file as [[rules]] and [[agency_categories]])");
            }
            continue;
        }
        if (const KeyDef* key = find_key(name)) {
            if (key->type == KeyType::rules) {
                load_inline_rules(node, table.get("agency_categories"), path, origin);
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

void Loader::load_inline_rules(const toml::node& node, const toml::node* mappings,
                               const std::string& path, const Origin& origin) {
    try {
        m_inline_rules = analysis::rules_from_toml(node, mappings, path, "analysis.rules",
                                                   "analysis.agency_categories");
        m_inline_rules_origin = origin;
    } catch (const LocatedError& e) {
        error(Origin{origin.kind, e.file(), e.line(), e.column()}, "analysis.rules", e.detail());
    }
}

} // namespace detail

} // namespace dataflow::config

// The loader's sources besides the TOML file: the config and secrets directories (one file per
// key, Kubernetes' ConfigMap and Secret mounts), legacy names, the environment and --env-file.

#include "config/loader_detail.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/stat.h>

namespace dataflow::config::detail {

namespace fs = std::filesystem;

// ---- directories

void Loader::load_dir(const std::string& dir, SourceKind kind) {
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

void Loader::load_key_file(const std::string& path, const std::string& name, SourceKind kind) {
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

void Loader::apply_alias(const Alias& alias, std::string_view value, const Origin& origin) {
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

std::map<std::string, EnvEntry> Loader::environment() {
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

void Loader::load_environment() {
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

} // namespace dataflow::config::detail

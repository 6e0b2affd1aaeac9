#include "config/config.hpp"

#include "analysis/rules.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace dataflow::config {

std::string Origin::location() const {
    switch (kind) {
    case SourceKind::none:
        return {};
    case SourceKind::default_value:
        return "default";
    case SourceKind::file:
    case SourceKind::env_file:
        if (line > 0 && column > 0) {
            return fmt::format("{}:{}:{}", name, line, column);
        }
        if (line > 0) {
            return fmt::format("{}:{}", name, line);
        }
        return name;
    case SourceKind::config_dir:
    case SourceKind::secrets_dir:
        if (line > 0) {
            return fmt::format("{}:{}:{}", name, line, column);
        }
        return name;
    case SourceKind::env:
        return "env " + name;
    case SourceKind::flag:
        return "flag " + name;
    }
    return name;
}

std::string Origin::describe() const {
    switch (kind) {
    case SourceKind::config_dir:
        return "config-dir " + location();
    case SourceKind::secrets_dir:
        return "secret " + location();
    case SourceKind::env_file:
        return "env-file " + location();
    default:
        return location();
    }
}

Config::Config() {
    auto keys = schema();
    m_values.reserve(keys.size());
    m_origins.reserve(keys.size());
    for (const auto& key : keys) {
        if (key.type == KeyType::rules) {
            m_values.emplace_back(std::string());
        } else {
            auto parsed = parse_value(key, key.default_text);
            if (!parsed.value) {
                throw std::logic_error(
                    fmt::format("schema: default of {} is invalid: {}", key.name, parsed.error));
            }
            m_values.push_back(std::move(*parsed.value));
        }
        m_origins.push_back(Origin{SourceKind::default_value, {}, 0, 0});
    }
    m_rules = analysis::default_rules();
    m_sources = builtin_sources();
    finish();
}

const Value& Config::value(std::string_view key) const {
    const KeyDef* def = find_key(key);
    if (def == nullptr) {
        throw std::out_of_range(fmt::format("unknown configuration key {}", key));
    }
    return value(*def);
}

const Origin& Config::origin(std::string_view key) const {
    const KeyDef* def = find_key(key);
    if (def == nullptr) {
        throw std::out_of_range(fmt::format("unknown configuration key {}", key));
    }
    return origin(*def);
}

const std::string& Config::str(std::string_view key) const {
    return std::get<std::string>(value(key));
}
std::int64_t Config::integer(std::string_view key) const {
    return std::get<std::int64_t>(value(key));
}
double Config::number(std::string_view key) const {
    return std::get<double>(value(key));
}
bool Config::flag(std::string_view key) const {
    return std::get<bool>(value(key));
}
std::chrono::milliseconds Config::duration(std::string_view key) const {
    return std::chrono::milliseconds(std::get<std::int64_t>(value(key)));
}
std::uint64_t Config::size(std::string_view key) const {
    return static_cast<std::uint64_t>(std::get<std::int64_t>(value(key)));
}
const std::vector<std::string>& Config::list(std::string_view key) const {
    return std::get<std::vector<std::string>>(value(key));
}

void Config::set(const KeyDef& key, Value value, Origin origin) {
    m_values[key_index(key)] = std::move(value);
    m_origins[key_index(key)] = std::move(origin);
}

void Config::set_rules(std::shared_ptr<const analysis::RuleSet> rules, Origin origin) {
    m_rules = std::move(rules);
    m_origins[key_index(*find_key("analysis.rules"))] = std::move(origin);
}

void Config::set_sources(std::shared_ptr<const SourceRegistry> sources) {
    m_sources = std::move(sources);
}

bool Config::differs_from(const Config& other) const {
    return m_values != other.m_values || m_rules->fingerprint() != other.m_rules->fingerprint() ||
           m_sources->fingerprint() != other.m_sources->fingerprint();
}

void Config::finish() {
    std::string canonical;
    auto keys = schema();
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (keys[i].secret || keys[i].type == KeyType::rules) {
            continue;
        }
        canonical += keys[i].name;
        canonical += '=';
        canonical += format_value(keys[i], m_values[i]);
        canonical += '\n';
    }
    canonical += "rules=" + m_rules->fingerprint();
    canonical += "\nsources=" + m_sources->fingerprint();
    m_hash = util::sha256_hex(canonical);
    m_settings = build_settings(*this);
}

} // namespace dataflow::config

#include "config/render.hpp"

#include "analysis/rules.hpp"
#include "util/json_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace dataflow::config {

namespace {

constexpr std::string_view k_mask = "***";

bool is_set(const Value& v) {
    if (auto s = std::get_if<std::string>(&v)) {
        return !s->empty();
    }
    if (auto l = std::get_if<std::vector<std::string>>(&v)) {
        return !l->empty();
    }
    return true;
}

std::string toml_string(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            if (c < 0x20 || c == 0x7F) {
                out += fmt::format("\\u{:04X}", c);
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    return out + "\"";
}

std::string toml_value(const KeyDef& key, const Value& value) {
    if (key.secret && is_set(value)) {
        return toml_string(k_mask);
    }
    switch (key.type) {
    case KeyType::integer:
    case KeyType::boolean:
        return format_value(key, value);
    case KeyType::number: {
        auto text = format_value(key, value);
        return text.find_first_of(".eE") == std::string::npos ? text + ".0" : text;
    }
    case KeyType::list: {
        std::string out = "[";
        for (const auto& item : std::get<std::vector<std::string>>(value)) {
            out += out.size() > 1 ? ", " : "";
            out += toml_string(item);
        }
        return out + "]";
    }
    default:
        return toml_string(format_value(key, value));
    }
}

std::string section_of(std::string_view name) {
    auto dot = name.find('.');
    return dot == std::string_view::npos ? std::string() : std::string(name.substr(0, dot));
}

std::string leaf_of(std::string_view name) {
    auto dot = name.find('.');
    return std::string(dot == std::string_view::npos ? name : name.substr(dot + 1));
}

void json_value(util::JsonWriter& w, const KeyDef& key, const Value& value) {
    if (key.secret && is_set(value)) {
        w.value(k_mask);
        return;
    }
    switch (key.type) {
    case KeyType::integer:
        w.value(static_cast<std::int64_t>(std::get<std::int64_t>(value)));
        return;
    case KeyType::number:
        w.value(std::get<double>(value));
        return;
    case KeyType::boolean:
        w.value(std::get<bool>(value));
        return;
    case KeyType::list:
        w.begin_array();
        for (const auto& item : std::get<std::vector<std::string>>(value)) {
            w.value(item);
        }
        w.end_array();
        return;
    default:
        w.value(format_value(key, value));
    }
}

void json_rules(util::JsonWriter& w, const analysis::RuleSet& rules) {
    w.begin_array();
    for (const auto& r : rules.rules()) {
        w.begin_object();
        w.field("id", r.id);
        w.field("category", r.category);
        w.field("priority", static_cast<std::int64_t>(r.priority));
        w.key("keywords");
        w.begin_array();
        for (const auto& k : r.keywords) {
            w.value(k);
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
}

void json_config(util::JsonWriter& w, const Config& config) {
    w.begin_object();
    std::string open;
    for (const auto& key : schema()) {
        auto section = section_of(key.name);
        if (section != open) {
            if (!open.empty()) {
                w.end_object();
            }
            if (!section.empty()) {
                w.key(section);
                w.begin_object();
            }
            open = section;
        }
        w.key(leaf_of(key.name));
        if (key.type == KeyType::rules) {
            json_rules(w, *config.rules());
        } else {
            json_value(w, key, config.value(key));
        }
    }
    if (!open.empty()) {
        w.end_object();
    }
    w.end_object();
}

std::string escape_github(std::string_view s, bool property) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '%':
            out += "%25";
            break;
        case '\r':
            out += "%0D";
            break;
        case '\n':
            out += "%0A";
            break;
        case ':':
            out += property ? "%3A" : ":";
            break;
        case ',':
            out += property ? "%2C" : ",";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string_view origin_kind(SourceKind kind) {
    switch (kind) {
    case SourceKind::default_value:
        return "default";
    case SourceKind::file:
        return "file";
    case SourceKind::config_dir:
        return "config_dir";
    case SourceKind::secrets_dir:
        return "secrets_dir";
    case SourceKind::env:
        return "env";
    case SourceKind::env_file:
        return "env_file";
    case SourceKind::flag:
        return "flag";
    case SourceKind::none:
        break;
    }
    return "none";
}

std::string plural(std::size_t n, std::string_view word) {
    return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

} // namespace

std::string summary_line(const LoadResult& result) {
    if (result.errors() == 0) {
        return fmt::format("config OK: {}, {}", plural(0, "error"),
                           plural(result.warnings(), "warning"));
    }
    return fmt::format("config invalid: {}, {}", plural(result.errors(), "error"),
                       plural(result.warnings(), "warning"));
}

std::string render_findings(const LoadResult& result, FindingsFormat format) {
    std::string out;
    switch (format) {
    case FindingsFormat::text:
        for (const auto& f : result.findings) {
            out += f.text();
            out += '\n';
        }
        out += summary_line(result);
        out += '\n';
        return out;
    case FindingsFormat::github:
        for (const auto& f : result.findings) {
            out += f.severity == Severity::error ? "::error" : "::warning";
            std::string props;
            bool file_based =
                f.where.kind == SourceKind::file || f.where.kind == SourceKind::config_dir ||
                f.where.kind == SourceKind::secrets_dir || f.where.kind == SourceKind::env_file;
            if (file_based) {
                props = "file=" + escape_github(f.where.name, true);
                if (f.where.line > 0) {
                    props += fmt::format(",line={}", f.where.line);
                }
                if (f.where.column > 0) {
                    props += fmt::format(",col={}", f.where.column);
                }
            }
            props += std::string(props.empty() ? "" : ",") + "title=" +
                     escape_github(f.key.empty() ? std::string("dataflow config") : f.key, true);
            out += " " + props + "::";
            std::string message = f.key.empty() ? f.message : f.key + ": " + f.message;
            if (!file_based && f.where.kind != SourceKind::none) {
                message = f.where.location() + ": " + message;
            }
            out += escape_github(message, false);
            out += '\n';
        }
        out += summary_line(result);
        out += '\n';
        return out;
    case FindingsFormat::json: {
        util::JsonWriter w(out, 2);
        w.begin_object();
        w.field("valid", result.ok());
        w.field("errors", static_cast<std::int64_t>(result.errors()));
        w.field("warnings", static_cast<std::int64_t>(result.warnings()));
        w.key("findings");
        w.begin_array();
        for (const auto& f : result.findings) {
            w.begin_object();
            w.field("severity", f.severity == Severity::error ? "error" : "warning");
            w.field("key", f.key);
            w.field("message", f.message);
            w.field("source", origin_kind(f.where.kind));
            w.field("location", f.where.location());
            if (f.where.kind != SourceKind::env && f.where.kind != SourceKind::flag) {
                w.field("file", f.where.name);
            }
            w.field("line", static_cast<std::int64_t>(f.where.line));
            w.field("column", static_cast<std::int64_t>(f.where.column));
            w.end_object();
        }
        w.end_array();
        w.field("summary", summary_line(result));
        w.end_object();
        return out + "\n";
    }
    }
    return out;
}

std::string render_toml(const Config& config, bool sources) {
    std::string out = "# dataflow effective configuration (secrets shown as \"***\")\n";
    out += "# hash " + config.hash() + "\n";
    std::string open;
    for (const auto& key : schema()) {
        if (key.type == KeyType::rules) {
            continue;
        }
        auto section = section_of(key.name);
        if (section != open) {
            out += "\n[" + section + "]\n";
            open = section;
        }
        std::string line = leaf_of(key.name) + " = " + toml_value(key, config.value(key));
        if (sources) {
            line += "  # " + config.origin(key).describe();
        }
        out += line + "\n";
    }
    const auto& rules = *config.rules();
    out += fmt::format("\n# analysis.rules: {} rules, fingerprint {}", rules.rules().size(),
                       rules.fingerprint());
    if (sources) {
        out += ", from " + config.origin("analysis.rules").describe() + " (" + rules.origin() + ")";
    }
    out += "\n";
    for (const auto& r : rules.rules()) {
        out += "[[analysis.rules]]\n";
        out += "id = " + toml_string(r.id) + "\n";
        out += "category = " + toml_string(r.category) + "\n";
        out += fmt::format("priority = {}\n", r.priority);
        out += "keywords = [";
        for (std::size_t i = 0; i < r.keywords.size(); ++i) {
            out += (i ? ", " : "") + toml_string(r.keywords[i]);
        }
        out += "]\n";
    }
    for (const auto& m : rules.agency_mappings()) {
        out += "[[analysis.agency_categories]]\n";
        out += "scheme = " + toml_string(m.scheme_agency + ":" + m.scheme_id) + "\n";
        out += "category = " + toml_string(m.category) + "\n";
        out += "topic = " + toml_string(m.topic) + "\n";
    }
    return out;
}

std::string render_json(const Config& config, bool sources) {
    std::string out;
    util::JsonWriter w(out, 2);
    if (!sources) {
        json_config(w, config);
        return out + "\n";
    }
    w.begin_object();
    w.key("config");
    json_config(w, config);
    w.key("sources");
    w.begin_object();
    for (const auto& key : schema()) {
        w.field(key.name, config.origin(key).describe());
    }
    w.end_object();
    w.field("hash", config.hash());
    w.end_object();
    return out + "\n";
}

namespace {

std::string default_shown(const KeyDef& key) {
    if (key.type == KeyType::rules) {
        return "built-in rule set";
    }
    if (key.default_text.empty()) {
        return "(empty)";
    }
    if (key.name == "upstream.user_agent") {
        return "dataflow/VERSION";
    }
    return std::string(key.default_text);
}

std::string md_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '|') {
            out += "\\|";
        } else {
            out += c;
        }
    }
    return out;
}

std::string man_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\') {
            out += "\\e";
        } else if (c == '-') {
            out += "\\-";
        } else {
            out += c;
        }
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) {
        out.insert(0, "\\&");
    }
    return out;
}

} // namespace

bool key_selected(std::string_view name, const std::vector<std::string>& selectors) {
    if (selectors.empty()) {
        return true;
    }
    return std::any_of(selectors.begin(), selectors.end(), [&](const std::string& s) {
        return !s.empty() && s.back() == '.' ? name.substr(0, s.size()) == s : name == s;
    });
}

std::string render_reference_markdown(const std::vector<std::string>& selectors) {
    std::string out;
    out += "<!-- Generated by `dataflow config schema -o markdown` from lib/config/schema.cpp; "
           "a test fails when this file is out of date. Do not edit by hand. -->\n";
    out += "# Configuration reference\n\n";
    out += "Every key `dataflow` reads, with its type, default, allowed values, environment "
           "variable and whether it can change without a restart (*reload*). Where values come "
           "from and how they combine is described in [CONFIGURING.md](CONFIGURING.md).\n\n";
    out += "Value syntax, the same in every source: **duration** `500ms`, `30s`, `5m`, `1h30m`, "
           "`7d` (a bare number is seconds); **size** `1048576`, `512KiB`, `64MiB`, `1G` (K, M, "
           "G are binary; KB, MB, GB decimal); **boolean** `true`/`false` (also `yes`/`no`, "
           "`on`/`off`, `1`/`0`); **list** a TOML array, or comma-separated text elsewhere; "
           "**enum** case-insensitive.\n\n";
    std::string open = "-";
    for (const auto& key : schema()) {
        if (!key_selected(key.name, selectors)) {
            continue;
        }
        auto section = section_of(key.name);
        if (section != open) {
            out += "\n## " + (section.empty() ? std::string("Top level") : "`" + section + "`") +
                   "\n\n";
            out += "| Key | Type | Default | Allowed | Environment | Reload | Description |\n";
            out += "|---|---|---|---|---|---|---|\n";
            open = section;
        }
        std::string type(type_name(key.type));
        if (key.secret) {
            type += ", secret";
        }
        out += fmt::format("| `{}` | {} | `{}` | {} | {} | {} | {} |\n", key.name, type,
                           md_escape(default_shown(key)), md_escape(describe_range(key)),
                           key.type == KeyType::rules ? std::string("—")
                                                      : fmt::format("`{}`", env_name(key.name)),
                           key.reloadable ? "yes" : "restart", md_escape(key.description));
    }
    out += "\n## Legacy names\n\n";
    out += "Accepted for the reference deployment's environment and Secret; the deprecated ones "
           "log a warning.\n\n";
    out += "| Name | Sets | Note |\n|---|---|---|\n";
    for (const auto& a : aliases()) {
        std::string target =
            a.key.empty() ? std::string("nothing (ignored)") : fmt::format("`{}`", a.key);
        if (a.backend_flag) {
            target += " (`true` → `redis`, `false` → `memory`)";
        }
        std::string note =
            a.note.empty() ? std::string("Secret file name, accepted") : std::string(a.note);
        if (a.deprecated) {
            note = "deprecated: " + note;
        }
        out += fmt::format("| `{}` | {} | {} |\n", a.name, target, md_escape(note));
    }
    return out;
}

std::string render_reference_man(const std::vector<std::string>& selectors) {
    std::string out;
    for (const auto& key : schema()) {
        if (!key_selected(key.name, selectors)) {
            continue;
        }
        out += ".TP\n";
        out += fmt::format(".B {}\n", man_escape(key.name));
        std::string line = fmt::format("({}{}; default {}", type_name(key.type),
                                       key.secret ? ", secret" : "", default_shown(key));
        if (auto range = describe_range(key); !range.empty()) {
            line += "; " + range;
        }
        if (key.type != KeyType::rules) {
            line += "; " + env_name(key.name);
        }
        line += key.reloadable ? "; reloadable)" : "; restart)";
        out += man_escape(line) + "\n";
        out += man_escape(key.description) + ".\n";
    }
    return out;
}

} // namespace dataflow::config

// The change feed as Atom 1.0 (RFC 4287): one entry per change set, newest first.

#include "live/changes.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dataflow::live {

namespace {

using Json = nlohmann::json;

constexpr std::size_t k_max_lines = 500; ///< per entry's content; the JSON has them all

std::string str(const Json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

/// "+ ID 1.0 — name [category]" per added, "- …" per removed, "~ ID: field old → new" per
/// changed dataflow.
std::string content_of(const std::string& change_json) {
    auto c = Json::parse(change_json, nullptr, false);
    if (c.is_discarded() || !c.is_object()) {
        return {};
    }
    std::string out;
    std::size_t lines = 0;
    std::size_t total = 0;
    auto line = [&](const std::string& text) {
        ++total;
        if (lines < k_max_lines) {
            out += text + "\n";
            ++lines;
        }
    };
    auto flows = [&](const char* kind, char mark) {
        if (!c.contains(kind) || !c[kind].is_array()) {
            return;
        }
        for (const auto& f : c[kind]) {
            line(fmt::format("{} {} {} — {} [{}]", mark, str(f, "id"), str(f, "version"),
                             str(f, "name"), str(f, "category")));
        }
    };
    flows("added", '+');
    flows("removed", '-');
    if (c.contains("changed") && c["changed"].is_array()) {
        for (const auto& f : c["changed"]) {
            std::string fields;
            if (f.contains("changes") && f["changes"].is_array()) {
                for (const auto& ch : f["changes"]) {
                    fields += fmt::format("{}{}: {} → {}", fields.empty() ? "" : "; ",
                                          str(ch, "field"), str(ch, "old"), str(ch, "new"));
                }
            }
            line(fmt::format("~ {}: {}", str(f, "id"), fields));
        }
    }
    if (total > lines) {
        out += fmt::format("… and {} more (see the JSON)\n", total - lines);
    }
    return out;
}

std::string rfc3339(std::int64_t ms) {
    return util::format_rfc3339(util::SysMillis(std::chrono::milliseconds(ms)));
}

} // namespace

std::string render_changes_atom(const ChangeHistory& history, const std::string& label,
                                const std::string& catalogue_url, const std::string& base_url,
                                std::size_t limit) {
    auto feed_id = "tag:dataflow,2026:changes:" + util::sha256_hex(catalogue_url).substr(0, 16);
    auto updated =
        history.changes.empty() ? rfc3339(0) : rfc3339(history.changes.back().detected_at_ms);
    std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                      "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n";
    out += fmt::format("  <id>{}</id>\n", xml_escape(feed_id));
    out += fmt::format("  <title>{}</title>\n", xml_escape(label + " catalogue changes"));
    out += fmt::format("  <subtitle>{}</subtitle>\n",
                       xml_escape("Dataflows added, removed and changed at " + catalogue_url));
    out += fmt::format("  <updated>{}</updated>\n", updated);
    out += fmt::format("  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
                       xml_escape(base_url + "/api/v1/changes.atom"));
    out += fmt::format("  <link rel=\"alternate\" type=\"application/json\" href=\"{}\"/>\n",
                       xml_escape(base_url + "/api/v1/changes"));
    out += "  <author><name>dataflow</name></author>\n";
    out += "  <generator>dataflow</generator>\n";
    std::size_t n = 0;
    for (auto it = history.changes.rbegin(); it != history.changes.rend() && n < limit; ++it, ++n) {
        const auto& c = *it;
        auto when = rfc3339(c.detected_at_ms);
        out += "  <entry>\n";
        // The detection time too: ids stay unique if a reset history numbers from 1 again.
        out += fmt::format("    <id>{}:{}:{}</id>\n", xml_escape(feed_id), c.seq, c.detected_at_ms);
        out += fmt::format("    <title>{}</title>\n", xml_escape(c.title));
        out += fmt::format("    <updated>{}</updated>\n", when);
        out += fmt::format("    <published>{}</published>\n", when);
        out += fmt::format(
            "    <link rel=\"alternate\" type=\"application/json\" href=\"{}\"/>\n",
            xml_escape(fmt::format("{}/api/v1/changes?since={}&limit=1", base_url, c.seq - 1)));
        out += fmt::format("    <summary type=\"text\">{}</summary>\n", xml_escape(c.title));
        out += fmt::format("    <content type=\"text\">{}</content>\n",
                           xml_escape(content_of(c.json)));
        out += "  </entry>\n";
    }
    out += "</feed>\n";
    return out;
}

} // namespace dataflow::live

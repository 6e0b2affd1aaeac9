#include "cache/cache.hpp"

#include "util/hash.hpp"
#include "util/json_writer.hpp"

#include <nlohmann/json.hpp>

namespace dataflow::cache {

std::string make_key(std::string_view kind, const std::vector<std::string_view>& parts) {
    std::string canonical;
    for (auto p : parts) {
        canonical += std::to_string(p.size());
        canonical += ':';
        canonical += p;
    }
    return std::string(kind) + ":" + util::sha256_hex(canonical);
}

std::string encode(const Entry& e) {
    std::string out;
    util::JsonWriter w(out);
    w.begin_object();
    w.field("v", 1);
    w.field("ct", e.content_type);
    w.field("stored", e.stored_at_ms);
    w.field("fresh", e.fresh_until_ms);
    w.field("stale", e.stale_until_ms);
    w.field("neg", e.negative);
    w.key("tags").begin_array();
    for (const auto& t : e.tags) {
        w.value(t);
    }
    w.end_array();
    w.end_object();
    out += '\n';
    out += e.value;
    return out;
}

std::optional<Entry> decode(std::string_view bytes) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos || nl > 64 * 1024) {
        return std::nullopt;
    }
    auto header = nlohmann::json::parse(bytes.substr(0, nl), nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("v") ||
        !header["v"].is_number_integer() || header["v"].get<int>() != 1) {
        return std::nullopt;
    }
    try {
        Entry e;
        e.content_type = header.at("ct").get<std::string>();
        e.stored_at_ms = header.at("stored").get<std::int64_t>();
        e.fresh_until_ms = header.at("fresh").get<std::int64_t>();
        e.stale_until_ms = header.at("stale").get<std::int64_t>();
        e.negative = header.at("neg").get<bool>();
        e.tags = header.at("tags").get<std::vector<std::string>>();
        e.value.assign(bytes.substr(nl + 1));
        return e;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

State state_at(const Entry& entry, std::int64_t now_ms) {
    if (now_ms < entry.fresh_until_ms) {
        return State::fresh;
    }
    if (now_ms < entry.stale_until_ms) {
        return State::stale;
    }
    return State::miss;
}

} // namespace dataflow::cache

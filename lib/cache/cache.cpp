#include "cache/cache.hpp"

#include "util/hash.hpp"
#include "util/json_writer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

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

namespace {

std::int64_t clamp_time(std::int64_t ms) {
    constexpr std::int64_t k_max = 9'999'999'999'999'999; // 16 digits: the year 318857
    return std::clamp<std::int64_t>(ms, 0, k_max);
}

} // namespace

std::string fixed_region(std::int64_t stored_at_ms, std::int64_t fresh_until_ms,
                         std::int64_t stale_until_ms) {
    return fmt::format(R"({:>{}},"fresh":{:>{}},"stale":{:>{}})", clamp_time(stored_at_ms),
                       k_time_width, clamp_time(fresh_until_ms), k_time_width,
                       clamp_time(stale_until_ms), k_time_width);
}

std::string encode(const Entry& e) {
    // The variable part, written as an object of its own and spliced in after the fixed one.
    std::string rest;
    util::JsonWriter w(rest);
    w.begin_object();
    w.field("ct", e.content_type);
    w.field("neg", e.negative);
    w.key("tags").begin_array();
    for (const auto& t : e.tags) {
        w.value(t);
    }
    w.end_array();
    w.field("etag", e.etag);
    w.field("lm", e.last_modified);
    w.field("born", clamp_time(e.born_ms));
    w.end_object();
    std::string out;
    out.reserve(k_fixed_offset + k_fixed_length + rest.size() + 1 + e.value.size());
    out += k_header_prefix;
    out += fixed_region(e.stored_at_ms, e.fresh_until_ms, e.stale_until_ms);
    out += ',';
    out.append(rest, 1); // without its '{'
    out += '\n';
    out += e.value;
    return out;
}

std::optional<Entry> decode_header(std::string_view bytes) {
    auto nl = bytes.find('\n');
    if (nl == std::string_view::npos || nl > k_max_header_bytes) {
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
        // Written since the conditional refresh; absent from older entries.
        e.etag = header.value("etag", std::string());
        e.last_modified = header.value("lm", std::string());
        e.born_ms = header.value("born", std::int64_t{0});
        return e;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

std::optional<Entry> decode(std::string_view bytes) {
    auto e = decode_header(bytes);
    if (e) {
        e->value.assign(bytes.substr(bytes.find('\n') + 1));
    }
    return e;
}

Entry header_of(const Entry& entry) {
    Entry e;
    e.content_type = entry.content_type;
    e.stored_at_ms = entry.stored_at_ms;
    e.fresh_until_ms = entry.fresh_until_ms;
    e.stale_until_ms = entry.stale_until_ms;
    e.negative = entry.negative;
    e.tags = entry.tags;
    e.etag = entry.etag;
    e.last_modified = entry.last_modified;
    e.born_ms = entry.born_ms;
    return e;
}

Lookup Cache::head(const std::string& key) {
    auto l = get(key);
    l.entry.value = std::string();
    return l;
}

bool Cache::touch(const std::string& key, std::int64_t stored_at_ms, std::int64_t fresh_until_ms,
                  std::int64_t stale_until_ms) {
    auto l = get(key);
    if (!l.hit()) {
        return false;
    }
    l.entry.stored_at_ms = stored_at_ms;
    l.entry.fresh_until_ms = fresh_until_ms;
    l.entry.stale_until_ms = stale_until_ms;
    set(key, l.entry);
    return true;
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

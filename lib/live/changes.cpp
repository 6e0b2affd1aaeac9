#include "live/changes.hpp"

#include "util/hash.hpp"
#include "util/json_writer.hpp"
#include "util/time.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace dataflow::live {

namespace {

using Json = nlohmann::json;

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

/// "ISTAT: 3 new dataflows — A, B, C; 1 removed; 12 new versions; 2 changed".
std::string title_of(const analysis::CatalogDiff& diff, const std::string& label) {
    std::vector<std::string> parts;
    if (!diff.added.empty()) {
        std::string names;
        for (std::size_t i = 0; i < diff.added.size() && i < 3; ++i) {
            names += (i == 0 ? "" : ", ") +
                     (diff.added[i].name.empty() ? diff.added[i].id : diff.added[i].name);
        }
        if (diff.added.size() > 3) {
            names += ", …";
        }
        parts.push_back(plural(diff.added.size(), "new dataflow", "new dataflows") + " — " + names);
    }
    if (!diff.removed.empty()) {
        parts.push_back(fmt::format("{} removed", diff.removed.size()));
    }
    std::size_t versions = 0;
    for (const auto& c : diff.changed) {
        versions += std::any_of(c.changes.begin(), c.changes.end(),
                                [](const auto& f) { return f.field == "version"; })
                        ? 1
                        : 0;
    }
    if (versions > 0) {
        parts.push_back(plural(versions, "new version", "new versions"));
    }
    if (diff.changed.size() > versions) {
        parts.push_back(fmt::format("{} changed", diff.changed.size() - versions));
    }
    std::string out = label + ": ";
    for (std::size_t i = 0; i < parts.size(); ++i) {
        out += (i == 0 ? "" : "; ") + parts[i];
    }
    return out;
}

/// The stored change set object (also the API's entry).
std::string change_json(const analysis::CatalogDiff& diff, std::int64_t seq, std::int64_t now_ms,
                        const std::string& title, const std::string& digest) {
    std::string out;
    util::JsonWriter w(out);
    w.begin_object();
    w.field("seq", seq);
    w.field("detected_at",
            util::format_rfc3339(util::SysMillis(std::chrono::milliseconds(now_ms))));
    w.field("detected_at_ms", now_ms);
    w.field("title", title);
    auto side = [&](std::string_view name, const analysis::DiffSide& s) {
        w.key(name).begin_object();
        w.field("source", s.source);
        w.field("prepared", s.prepared);
        w.field("total", s.total);
        w.end_object();
    };
    side("old", diff.old_side);
    side("new", diff.new_side);
    w.key("summary").begin_object();
    w.field("added", diff.added.size());
    w.field("removed", diff.removed.size());
    w.field("changed", diff.changed.size());
    w.end_object();
    analysis::write_diff_entries(w, diff);
    w.field("digest", digest);
    w.end_object();
    return out;
}

/// What identifies a change: its entries and both stamps (not when or by whom it was seen).
std::string digest_of(const analysis::CatalogDiff& diff) {
    std::string out;
    util::JsonWriter w(out);
    w.begin_object();
    w.field("old", diff.old_side.prepared);
    w.field("new", diff.new_side.prepared);
    analysis::write_diff_entries(w, diff);
    w.end_object();
    return util::sha256_hex(out).substr(0, 32);
}

std::shared_ptr<ChangeHistory> parse_history_or_throw(std::string_view bytes,
                                                      std::int64_t version) {
    auto h = std::make_shared<ChangeHistory>();
    h->version = version;
    auto doc = Json::parse(bytes, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("changes") ||
        !doc["changes"].is_array()) {
        spdlog::warn("the stored change history is unreadable; starting a new one");
        return h;
    }
    h->next_seq = doc.value("next_seq", std::int64_t{1});
    for (const auto& c : doc["changes"]) {
        if (!c.is_object()) {
            continue;
        }
        ChangeSet cs;
        cs.seq = c.value("seq", std::int64_t{0});
        cs.detected_at_ms = c.value("detected_at_ms", std::int64_t{0});
        cs.title = c.value("title", std::string());
        if (c.contains("summary") && c["summary"].is_object()) {
            cs.added = c["summary"].value("added", std::size_t{0});
            cs.removed = c["summary"].value("removed", std::size_t{0});
            cs.changed = c["summary"].value("changed", std::size_t{0});
        }
        cs.json = c.dump(-1, ' ', false, Json::error_handler_t::replace);
        h->changes.push_back(std::move(cs));
    }
    h->next_seq = std::max(h->next_seq, h->changes.empty() ? 1 : h->changes.back().seq + 1);
    return h;
}

/// The stored history; an empty one (logged) when it is not what this version writes.
std::shared_ptr<ChangeHistory> parse_history(std::string_view bytes, std::int64_t version) {
    try {
        return parse_history_or_throw(bytes, version);
    } catch (const nlohmann::json::exception& e) {
        spdlog::warn("the stored change history is unreadable ({}); starting a new one", e.what());
        auto h = std::make_shared<ChangeHistory>();
        h->version = version;
        return h;
    }
}

std::string history_json(const ChangeHistory& h) {
    std::string out;
    util::JsonWriter w(out);
    w.begin_object();
    w.field("v", 1);
    w.field("next_seq", h.next_seq);
    w.key("changes").begin_array();
    for (const auto& c : h.changes) {
        w.rendered_value(c.json);
    }
    w.end_array();
    w.end_object();
    return out;
}

void prune(ChangeHistory& h, const ChangeLimits& limits, std::int64_t now_ms) {
    auto& c = h.changes;
    auto too_old = [&](const ChangeSet& s) {
        return s.detected_at_ms < now_ms - limits.max_age.count();
    };
    c.erase(std::remove_if(c.begin(), c.end(), too_old), c.end());
    if (c.size() > limits.max_count) {
        c.erase(c.begin(), c.end() - static_cast<std::ptrdiff_t>(limits.max_count));
    }
    std::size_t bytes = 0;
    for (const auto& s : c) {
        bytes += s.json.size();
    }
    // The newest change set is kept even when it alone is over the cap.
    while (c.size() > 1 && bytes > limits.max_bytes) {
        bytes -= c.front().json.size();
        c.erase(c.begin());
    }
}

} // namespace

ChangeFeed::ChangeFeed(cache::Cache* cache, const util::Clock& clock)
    : m_cache(cache), m_clock(clock), m_local(std::make_shared<ChangeHistory>()) {}

void ChangeFeed::configure(const std::string& catalogue_url, const std::string& label,
                           const ChangeLimits& limits) {
    std::lock_guard lock(m_mutex);
    if (catalogue_url != m_url) {
        m_local = std::make_shared<ChangeHistory>();
        m_read_at = {};
    }
    m_url = catalogue_url;
    m_label = label;
    m_limits = limits;
}

std::string ChangeFeed::key_locked() const {
    return cache::make_key("changes", {m_url});
}

std::shared_ptr<const ChangeHistory> ChangeFeed::load_locked() {
    if (m_cache == nullptr) {
        return m_local;
    }
    auto key = key_locked();
    auto head = m_cache->head(key);
    if (!head.hit()) {
        // Nothing shared (a flushed or unreachable cache): what this process knows.
        return m_local;
    }
    if (head.entry.stored_at_ms == m_local->version) {
        return m_local;
    }
    auto full = m_cache->get(key);
    if (!full.hit()) {
        return m_local;
    }
    m_local = parse_history(full.entry.value, full.entry.stored_at_ms);
    return m_local;
}

std::shared_ptr<const ChangeHistory> ChangeFeed::history() {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    if (m_cache != nullptr && now - m_read_at >= std::chrono::seconds(1)) {
        m_read_at = now;
        return load_locked();
    }
    return m_local;
}

std::int64_t ChangeFeed::record(const analysis::CatalogDiff& diff) {
    std::lock_guard writer(m_write_mutex);
    std::string key;
    {
        std::lock_guard lock(m_mutex);
        key = key_locked();
    }
    std::optional<std::string> token;
    if (m_cache != nullptr) {
        // Writers are rare (one refresher at a time); wait briefly for another's write.
        for (int i = 0; i < 40 && !token; ++i) {
            token = m_cache->try_lock(key, std::chrono::seconds(5));
            if (!token) {
                m_clock.sleep_until(m_clock.steady() + std::chrono::milliseconds(50));
            }
        }
    }
    std::lock_guard lock(m_mutex);
    auto current = load_locked();
    auto digest = digest_of(diff);
    if (!current->changes.empty() &&
        current->changes.back().json.find("\"digest\":\"" + digest + "\"") != std::string::npos) {
        if (token) {
            m_cache->unlock(key, *token);
        }
        return 0; // already recorded (two replicas saw the same change)
    }
    auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.system().time_since_epoch())
            .count();
    auto next = std::make_shared<ChangeHistory>(*current);
    ChangeSet cs;
    cs.seq = next->next_seq++;
    cs.detected_at_ms = now_ms;
    cs.added = diff.added.size();
    cs.removed = diff.removed.size();
    cs.changed = diff.changed.size();
    cs.title = title_of(diff, m_label);
    cs.json = change_json(diff, cs.seq, now_ms, cs.title, digest);
    next->changes.push_back(std::move(cs));
    prune(*next, m_limits, now_ms);
    next->version = now_ms;
    if (m_cache != nullptr) {
        cache::Entry e;
        e.value = history_json(*next);
        e.content_type = "application/json";
        e.tags = {"changes"};
        e.stored_at_ms = now_ms;
        e.born_ms = now_ms;
        e.fresh_until_ms = now_ms + m_limits.max_age.count();
        e.stale_until_ms = e.fresh_until_ms;
        m_cache->set(key, e);
        if (token) {
            m_cache->unlock(key, *token);
        }
    }
    m_local = next;
    m_read_at = m_clock.steady();
    return m_local->changes.back().seq;
}

std::string render_changes_json(const ChangeHistory& history, const ChangeQuery& query) {
    std::string out;
    util::JsonWriter w(out, 2);
    w.begin_object();
    w.key("changes").begin_array();
    std::size_t n = 0;
    bool more = false;
    std::int64_t last = query.since_seq.value_or(0);
    for (const auto& c : history.changes) {
        if ((query.since_seq && c.seq <= *query.since_seq) ||
            (query.since_ms && c.detected_at_ms <= *query.since_ms)) {
            continue;
        }
        if (n++ >= query.limit) {
            more = true;
            break;
        }
        w.rendered_value(c.json);
        last = c.seq;
    }
    w.end_array();
    // What to ask `since=` next: the last one returned when `limit` cut the answer short.
    w.field("latest_seq",
            more ? last : (history.changes.empty() ? std::int64_t{0} : history.changes.back().seq));
    w.field("more", more);
    w.end_object();
    out += '\n';
    return out;
}

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x80) {
            switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') {
                    out += static_cast<char>(c);
                }
            }
            ++i;
            continue;
        }
        // A UTF-8 sequence: kept when well-formed and allowed in XML 1.0.
        std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (len == 0 || c > 0xF4 || i + len > text.size()) {
            ++i;
            continue;
        }
        std::uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
        bool ok = true;
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(text[i + k]);
            ok = ok && (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3F);
        }
        bool shortest = (len == 2 && cp >= 0x80) || (len == 3 && cp >= 0x800) ||
                        (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
        bool allowed = !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE && cp != 0xFFFF;
        if (ok && shortest && allowed) {
            out.append(text.substr(i, len));
            i += len;
        } else {
            ++i;
        }
    }
    return out;
}

} // namespace dataflow::live

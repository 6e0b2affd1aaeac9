#pragma once
/// The change feed: every background refresh whose catalogue differs from the one before it
/// records a change set (sequence number, detection time, both `prepared` stamps, summary and
/// entries) in a bounded history kept in the shared cache, so every replica serves the same
/// feed and only the replica that refreshed writes it. Rendered as JSON (GET /api/v1/changes)
/// and as an Atom 1.0 feed (RFC 4287, GET /api/v1/changes.atom).

#include "analysis/diff.hpp"
#include "cache/cache.hpp"
#include "util/clock.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dataflow::live {

/// One recorded change set.
struct ChangeSet {
    std::int64_t seq = 0;
    std::int64_t detected_at_ms = 0;
    std::size_t added = 0;
    std::size_t removed = 0;
    std::size_t changed = 0;
    std::string title; ///< "ISTAT: 3 new dataflows — A, B, C; 1 removed; 12 new versions"
    std::string text;  ///< a plain-text list of what changed, for the Atom entry's content
    std::string json;  ///< the change set as one compact JSON object (the feed's entry)
};

/// The history as read: change sets oldest first.
struct ChangeHistory {
    std::int64_t next_seq = 1;
    std::vector<ChangeSet> changes;
    std::int64_t version = 0; ///< when the history was last written (Unix ms): a cheap identity
};

struct ChangeLimits {
    std::size_t max_count = 100;                          ///< catalog.history_size
    std::chrono::milliseconds max_age{90LL * 86'400'000}; ///< catalog.history_max_age
    std::size_t max_bytes = 16ULL * 1024 * 1024; ///< the stored history, oldest dropped first
};

class ChangeFeed {
public:
    /// `cache` must outlive the feed; nullptr keeps the history in this process only.
    ChangeFeed(cache::Cache* cache, const util::Clock& clock);

    /// The catalogue the feed is about (its cache key) and its label in titles ("ISTAT").
    void configure(const std::string& catalogue_url, const std::string& label,
                   const ChangeLimits& limits);

    /// Records `diff` (unfiltered, not empty) as the next change set; returns its seq, or 0
    /// when the latest change set already is this very change (another replica recorded it).
    /// Never throws for a cache failure (logged; the change set is then only in this process).
    std::int64_t record(const analysis::CatalogDiff& diff);

    /// The history now (read through the cache at most once a second; in-process without one).
    std::shared_ptr<const ChangeHistory> history();

private:
    std::shared_ptr<const ChangeHistory> load_locked();
    std::string key_locked() const;

    cache::Cache* m_cache;
    const util::Clock& m_clock;
    std::mutex m_write_mutex; ///< one record() at a time; held while waiting for the cache's lock
    std::mutex m_mutex;       ///< the fields below; never held while waiting
    std::string m_url;
    std::string m_label = "catalogue";
    ChangeLimits m_limits;
    std::shared_ptr<const ChangeHistory> m_local; ///< the last history read or written
    std::chrono::steady_clock::time_point m_read_at{};
};

/// GET /api/v1/changes: {"changes": [...], "latest_seq": N} with the change sets after `since`
/// (a seq, or a time: those detected after it), oldest first, at most `limit`.
struct ChangeQuery {
    std::optional<std::int64_t> since_seq;
    std::optional<std::int64_t> since_ms;
    std::size_t limit = 100;
};
std::string render_changes_json(const ChangeHistory& history, const ChangeQuery& query);

/// GET /api/v1/changes.atom: one entry per change set (newest first, at most `limit`), links to
/// the JSON at `base_url` (scheme://host of the request). Well-formed XML whatever the names
/// hold (characters XML cannot carry are dropped).
std::string render_changes_atom(const ChangeHistory& history, const std::string& label,
                                const std::string& catalogue_url, const std::string& base_url,
                                std::size_t limit);

/// Text fit for XML character data or attribute values: & < > " ' escaped, characters XML 1.0
/// does not allow (most C0 controls, U+FFFE/U+FFFF, ill-formed UTF-8) dropped.
std::string xml_escape(std::string_view text);

} // namespace dataflow::live

#pragma once
/// Rendered answers kept as bytes. The served catalogue's answers (GET /api/v1/dataflows,
/// /api/v1/dataflows/{id}, /api/v1/categories) and the change feed are pure functions of their
/// inputs (the catalogue version, the configuration, the feed's history) and the normalised
/// query: each is rendered once, compressed once, and served from memory with a strong ETag
/// (a hash of its bytes), 304 on a matching If-None-Match, and gzip when the client accepts it.
/// Per replica, bounded in bytes, emptied when its inputs change.

#include "service/router.hpp"

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dataflow::service {

/// One answer's bytes.
struct Rendered {
    std::shared_ptr<const std::string> body; ///< identity
    std::shared_ptr<const std::string> gzip; ///< null when gzip would not be smaller
    std::string etag;                        ///< strong, quoted: a hash of `body`
    std::string gzip_etag;                   ///< the gzip representation's own strong ETag
    std::string content_type;
    std::int64_t rendered_ms = 0; ///< Unix ms
    std::size_t bytes() const;
};

/// Renders `body` as a Rendered: hashes it and compresses it (gzip) once.
std::shared_ptr<const Rendered> make_rendered(std::string body, std::string content_type,
                                              std::int64_t now_ms);

class RenderCache {
public:
    /// What the answers were rendered from: compared by identity. The cache holds them while
    /// it holds answers made from them, so an address is never reused for other inputs.
    using Inputs = std::vector<std::shared_ptr<const void>>;

    explicit RenderCache(std::size_t max_bytes = 0) : m_max_bytes(max_bytes) {}

    /// The answer for `key` rendered from `inputs`: from memory, or made by `render` (outside
    /// the lock) and kept when it fits in `max_bytes` with the others (least recently used
    /// answers go first). Other inputs than the cache's empty it first.
    std::shared_ptr<const Rendered> get(const Inputs& inputs, const std::string& key,
                                        const std::function<std::string()>& render,
                                        const std::string& content_type, std::int64_t now_ms,
                                        std::size_t max_bytes);
    void clear();

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t entries = 0;
        std::size_t bytes = 0;
    };
    Stats stats() const;

private:
    struct Entry {
        std::string key;
        std::shared_ptr<const Rendered> rendered;
    };
    void evict_locked();
    mutable std::mutex m_mutex;
    std::size_t m_max_bytes;
    std::size_t m_bytes = 0;
    Inputs m_inputs;
    std::list<Entry> m_lru; ///< most recently used first
    std::unordered_map<std::string, std::list<Entry>::iterator> m_index;
    std::uint64_t m_hits = 0;
    std::uint64_t m_misses = 0;
};

/// Cache keys of analyses by a digest of the request body that asked for them, for one
/// configuration at a time (another empties it): a repeated request finds its cached answer
/// without parsing its body again. At most `k_max_entries` (then emptied).
class KeyMemo {
public:
    static constexpr std::size_t k_max_entries = 4096;
    std::optional<std::string> find(const std::shared_ptr<const void>& config,
                                    const std::string& digest) const;
    void put(const std::shared_ptr<const void>& config, const std::string& digest,
             const std::string& key);

private:
    mutable std::mutex m_mutex;
    std::shared_ptr<const void> m_config;
    std::unordered_map<std::string, std::string> m_keys;
};

/// True when the request's Accept-Encoding accepts gzip (q > 0, named or by '*').
bool accepts_gzip(std::string_view accept_encoding);
/// True when If-None-Match (a list of entity tags, weak comparison, or '*') names `etag`.
bool etag_matches(std::string_view if_none_match, std::string_view etag);

/// `r` as the answer to `req`: 304 without a body when the client holds it, else the gzip or
/// identity bytes (not copied), with ETag, Vary and `cache_control`; Range is ignored.
Reply reply_rendered(const Request& req, const Rendered& r, const std::string& cache_control);

} // namespace dataflow::service

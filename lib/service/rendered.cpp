#include "service/rendered.hpp"

#include "util/hash.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <httplib.h>
#include <zlib.h>

namespace dataflow::service {

namespace {

/// gzip of `data` (level 6, as nginx and Apache default to); empty on failure.
std::string gzip(const std::string& data) {
    z_stream z{};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return {};
    }
    std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return rc == Z_STREAM_END ? out : std::string();
}

/// The items of a comma-separated header, trimmed, each split at its first ';'.
template <typename F>
void for_each_item(std::string_view header, F&& f) {
    while (!header.empty()) {
        auto comma = header.find(',');
        auto item = util::trim(header.substr(0, comma));
        header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
        if (!item.empty()) {
            f(item);
        }
    }
}

/// The q parameter of an Accept-Encoding item ("gzip;q=0.5"): 1 when absent.
double quality(std::string_view params) {
    double q = 1;
    while (!params.empty()) {
        auto semi = params.find(';');
        auto p = util::trim(params.substr(0, semi));
        params = semi == std::string_view::npos ? std::string_view() : params.substr(semi + 1);
        if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            std::string v(p.substr(2));
            char* end = nullptr;
            q = std::strtod(v.c_str(), &end);
            if (end == v.c_str()) {
                q = 0;
            }
        }
    }
    return q;
}

/// What an entry holds: its bytes and its key, twice (the list and the index).
std::size_t entry_bytes(const std::string& key, const Rendered& r) {
    return r.bytes() + 2 * key.size() + 128;
}

} // namespace

std::size_t Rendered::bytes() const {
    return (body ? body->size() : 0) + (gzip ? gzip->size() : 0) + 256;
}

std::shared_ptr<const Rendered> make_rendered(std::string body, std::string content_type,
                                              std::int64_t now_ms) {
    auto r = std::make_shared<Rendered>();
    auto hash = util::sha256_hex(body).substr(0, 32);
    r->etag = fmt::format("\"{}\"", hash);
    r->gzip_etag = fmt::format("\"{}-gzip\"", hash);
    auto compressed = gzip(body);
    if (!compressed.empty() && compressed.size() < body.size()) {
        r->gzip = std::make_shared<const std::string>(std::move(compressed));
    }
    r->body = std::make_shared<const std::string>(std::move(body));
    r->content_type = std::move(content_type);
    r->rendered_ms = now_ms;
    return r;
}

std::shared_ptr<const Rendered> RenderCache::get(const Inputs& inputs, const std::string& key,
                                                 const std::function<std::string()>& render,
                                                 const std::string& content_type,
                                                 std::int64_t now_ms, std::size_t max_bytes) {
    {
        std::lock_guard lock(m_mutex);
        if (max_bytes != m_max_bytes) {
            m_max_bytes = max_bytes;
            evict_locked();
        }
        if (inputs != m_inputs) {
            m_lru.clear();
            m_index.clear();
            m_bytes = 0;
            m_inputs = inputs;
        }
        auto it = m_index.find(key);
        if (it != m_index.end()) {
            ++m_hits;
            m_lru.splice(m_lru.begin(), m_lru, it->second);
            return it->second->rendered;
        }
        ++m_misses;
    }
    auto rendered = make_rendered(render(), content_type, now_ms);
    std::lock_guard lock(m_mutex);
    if (inputs != m_inputs || entry_bytes(key, *rendered) > m_max_bytes) {
        return rendered; // made from other inputs than the cache's now, or too large to keep
    }
    auto it = m_index.find(key);
    if (it != m_index.end()) { // rendered meanwhile by another request: keep one
        return it->second->rendered;
    }
    m_lru.push_front({key, rendered});
    m_index.emplace(key, m_lru.begin());
    m_bytes += entry_bytes(key, *rendered);
    evict_locked();
    return rendered;
}

void RenderCache::evict_locked() {
    while (m_bytes > m_max_bytes && !m_lru.empty()) {
        m_bytes -= entry_bytes(m_lru.back().key, *m_lru.back().rendered);
        m_index.erase(m_lru.back().key);
        m_lru.pop_back();
    }
}

void RenderCache::clear() {
    std::lock_guard lock(m_mutex);
    m_lru.clear();
    m_index.clear();
    m_bytes = 0;
    m_inputs.clear();
}

RenderCache::Stats RenderCache::stats() const {
    std::lock_guard lock(m_mutex);
    return {m_hits, m_misses, m_lru.size(), m_bytes};
}

std::optional<std::string> KeyMemo::find(const std::shared_ptr<const void>& config,
                                         const std::string& digest) const {
    std::lock_guard lock(m_mutex);
    if (config != m_config) {
        return std::nullopt;
    }
    auto it = m_keys.find(digest);
    return it == m_keys.end() ? std::nullopt : std::optional<std::string>(it->second);
}

void KeyMemo::put(const std::shared_ptr<const void>& config, const std::string& digest,
                  const std::string& key) {
    std::lock_guard lock(m_mutex);
    if (config != m_config || m_keys.size() >= k_max_entries) {
        m_keys.clear();
        m_config = config;
    }
    m_keys[digest] = key;
}

bool accepts_gzip(std::string_view accept_encoding) {
    double gzip_q = -1;
    double any_q = -1;
    for_each_item(accept_encoding, [&](std::string_view item) {
        auto semi = item.find(';');
        auto coding = util::ascii_lower(util::trim(item.substr(0, semi)));
        auto q = semi == std::string_view::npos ? 1.0 : quality(item.substr(semi + 1));
        if (coding == "gzip" || coding == "x-gzip") {
            gzip_q = std::max(gzip_q, q);
        } else if (coding == "*") {
            any_q = std::max(any_q, q);
        }
    });
    return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
    bool match = false;
    for_each_item(if_none_match, [&](std::string_view tag) {
        if (tag.substr(0, 2) == "W/") {
            tag.remove_prefix(2);
        }
        match = match || tag == "*" || tag == etag;
    });
    return match;
}

Reply reply_rendered(const Request& req, const Rendered& r, const std::string& cache_control) {
    bool gz = r.gzip && accepts_gzip(req.http.get_header_value("Accept-Encoding"));
    Reply reply;
    reply.headers.emplace_back("Cache-Control", cache_control);
    reply.headers.emplace_back("Vary", "Accept-Encoding");
    auto inm = req.http.get_header_value("If-None-Match");
    bool identity_held = !inm.empty() && etag_matches(inm, r.etag);
    bool gzip_held = !inm.empty() && r.gzip && etag_matches(inm, r.gzip_etag);
    if (identity_held || gzip_held) {
        // The tag of the representation the client holds, so that its cache can update it.
        reply.headers.emplace_back("ETag",
                                   (gz && gzip_held) || !identity_held ? r.gzip_etag : r.etag);
        reply.status = 304;
        reply.content_type.clear();
        return reply;
    }
    reply.headers.emplace_back("ETag", gz ? r.gzip_etag : r.etag);
    reply.content_type = r.content_type;
    if (gz) {
        reply.headers.emplace_back("Content-Encoding", "gzip");
        reply.shared_body = r.gzip;
    } else {
        reply.shared_body = r.body;
    }
    return reply;
}

} // namespace dataflow::service

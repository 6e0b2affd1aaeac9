#pragma once
/// Fetching a live catalogue, for the CLI (`analyze` without a file) and the service's
/// background refresher alike: the GET with its errors mapped to Error kinds and hints, and
/// the same fetch through the shared cache (single-flight, one refresher across replicas,
/// stale copies served when the upstream fails).

#include "cache/single_flight.hpp"
#include "config/config.hpp"
#include "upstream/client.hpp"
#include "util/clock.hpp"
#include "util/url.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace dataflow::live {

/// GETs a dataflow catalogue; throws an Error of the outcome's kind (InputError when larger
/// than `max_bytes`) naming the URL, with when to retry for rate limits and open breakers.
/// nullopt when the client was cancelled (Ctrl-C, shutdown).
std::optional<std::string> fetch_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes);

/// What one GET of a catalogue brought: the body, or a 304 (with validators sent).
struct Download {
    std::string body;
    bool not_modified = false;
    std::string etag; ///< the response's validators, for the next conditional GET
    std::string last_modified;
};
/// fetch_catalogue with validators: `conditional` non-empty sends If-None-Match /
/// If-Modified-Since, and a 304 comes back as not_modified (no body).
std::optional<Download> download_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes,
                                           const upstream::Conditional& conditional);

/// The configured source's catalogue: its base URL (upstream.base_url when set) + /dataflow/ +
/// its agency (upstream.agency when set).
util::Url configured_catalogue_url(const config::Config& config);
/// Whether the configured source answers conditional requests (its registry entry).
bool configured_conditional(const config::Config& config);

/// The service root of a catalogue URL (".../rest/dataflow/IT1" -> ".../rest"), or nullopt.
std::optional<util::Url> service_root(const util::Url& catalogue);

/// How long a catalogue fetched for one run is kept: cache.fresh_ttl, then stale until
/// cache.stale_ttl.
cache::Policy catalog_policy(const config::Config& config);
/// How long the service's refreshed catalogue is kept: fresh for one catalog.refresh_interval
/// (the refresher fetches it again then), stale until the longer of cache.stale_ttl and that.
cache::Policy refreshed_catalog_policy(const config::Config& config);

/// What fetching a catalogue found.
struct FetchedCatalogue {
    std::string body;
    bool cache_hit = false;
    bool stale = false;
    std::optional<double> age_seconds; ///< when served from the cache
    std::int64_t stored_at_ms = 0;     ///< when the upstream answered (Unix ms)
    std::string stale_reason;          ///< why a stale copy was served
    /// false: the cached copy is the version the caller holds (`held_born_ms`): body is empty.
    bool body_loaded = true;
    bool not_modified = false; ///< the upstream confirmed the cached copy just now (a 304)
    std::int64_t born_ms = 0;  ///< when this version was downloaded: identifies it
};

/// Catalogues through the cache (or straight from the upstream without one).
class CatalogFetcher {
public:
    /// `cache` nullptr: every fetch goes to the upstream, nothing is stored.
    CatalogFetcher(upstream::Client& client, cache::Cache* cache, const util::Clock& clock);

    /// The catalogue at `url`: a fresh cached copy, else fetched (once per key at a time, one
    /// replica at a time) and stored; a stale copy when the fetch fails, else the fetch's
    /// Error. `policy.refresh`: fetch even when a fresh copy is cached (and store it).
    /// nullopt when the client was cancelled.
    /// `conditional`: the source answers conditional requests, so a refresh of a cached copy
    /// sends its validators and a 304 extends the copy's freshness in place (nothing parsed,
    /// copied or stored again). `held_born_ms`: the version the caller already holds (0: none);
    /// when the cache still has it, the body is not read (body_loaded false).
    std::optional<FetchedCatalogue> fetch(const util::Url& url, std::uint64_t max_bytes,
                                          const cache::Policy& policy, bool conditional = false,
                                          std::int64_t held_born_ms = 0);

private:
    upstream::Client& m_client;
    const util::Clock& m_clock;
    std::unique_ptr<cache::CachedComputer> m_computer; ///< nullptr without a cache
};

} // namespace dataflow::live

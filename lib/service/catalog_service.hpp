#pragma once
/// The analysed upstream catalogue behind /api/v1/dataflows and bulk analysis: loaded from a
/// local file (catalog.mode = file), or fetched from the upstream in the background
/// (catalog.mode = upstream; never on the startup path), refreshed every
/// catalog.refresh_interval through the shared cache (one replica refreshes at a time, the
/// others reuse its result), and served stale when the upstream fails.

#include "analysis/categorizer.hpp"
#include "config/config.hpp"
#include "live/catalog.hpp"
#include "live/changes.hpp"
#include "sdmx/catalog.hpp"
#include "sdmx/categories.hpp"
#include "upstream/setup.hpp"
#include "util/background.hpp"
#include "util/clock.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace dataflow::service {

struct CatalogState {
    std::shared_ptr<const sdmx::Catalog> catalog;
    std::string source; ///< file path or URL
    /// When the upstream last answered for this copy (Unix ms): the download, or the latest
    /// 304 that confirmed it.
    std::int64_t fetched_at_ms = 0;
    std::int64_t born_ms = 0; ///< when this version was downloaded (0: a file)
    std::string digest;       ///< SHA-256 of the downloaded bytes (empty: a file)
    /// With catalog.agency_categories: the agency's categorisations of `catalog` (which then
    /// also holds its category schemes), resolved; nullptr otherwise or when not fetched.
    std::shared_ptr<const sdmx::ResolvedCategories> categories;
    bool stale = false;     ///< the last refresh failed; this is an older copy
    std::string last_error; ///< of the last failed refresh
};

/// How refreshes ended, for metrics (dataflow_catalog_refreshes_total{result}).
struct CatalogRefreshStats {
    std::uint64_t downloaded = 0;   ///< a new copy fetched and parsed
    std::uint64_t not_modified = 0; ///< the upstream answered 304: kept, nothing parsed
    std::uint64_t reused = 0;       ///< another replica's fresh copy (parsed only if new to us)
    std::uint64_t failed = 0;
    /// Change sets this replica recorded, by kind (dataflow_catalog_changes_total{kind}).
    std::uint64_t added = 0;
    std::uint64_t removed = 0;
    std::uint64_t changed = 0;
    std::int64_t last_change_ms = 0; ///< when this replica last recorded one (0: never)
};

class CatalogService {
public:
    CatalogService(cache::Cache& cache, upstream::Upstream& upstream, const util::Clock& clock);
    ~CatalogService();

    void configure(const config::Config& config);
    /// file mode: loads the file now (local I/O only); upstream mode: starts the background
    /// refresher. Never touches the network on the caller's thread.
    void start();
    void stop();
    /// Asks the refresher to fetch the catalogue now, even if the cached copy is fresh.
    void refresh_soon();

    std::shared_ptr<const CatalogState> current() const;
    config::CatalogMode mode() const;
    /// Age of the catalogue in seconds (0 when none): since the upstream last sent or confirmed it.
    double age_seconds() const;
    CatalogRefreshStats refresh_stats() const;
    /// The change feed of the configured catalogue (shared through the cache).
    live::ChangeFeed& changes() { return m_changes; }
    /// The configured source's id, for titles ("ISTAT").
    std::string label() const;
    std::string catalogue_url() const;

private:
    void run();
    void refresh_once(bool force);
    void load_file(const std::string& path);
    /// Records what changed between the catalogue served and a newly downloaded one.
    void record_changes(const CatalogState& before, const sdmx::Catalog& after,
                        const std::string& source);
    /// With catalog.agency_categories: fetches the source's category schemes and
    /// categorisations, merges them into `state`'s catalogue and resolves them; keeps the
    /// previous state's when that fails (logged).
    void attach_categories(CatalogState& state, const CatalogState* previous,
                           const cache::Policy& policy, std::uint64_t max_bytes);

    const util::Clock& m_clock;
    live::CatalogFetcher m_fetcher;
    mutable std::mutex m_mutex;
    std::shared_ptr<const CatalogState> m_state;
    config::CatalogMode m_mode = config::CatalogMode::upstream;
    std::string m_file;
    util::Url m_url;
    bool m_conditional = false;
    std::string m_label;
    bool m_agency_categories = false;
    config::Source m_source;
    std::shared_ptr<const analysis::Categorizer> m_categorizer;
    live::ChangeFeed m_changes;
    CatalogRefreshStats m_stats;
    std::uint64_t m_max_bytes = 256ULL << 20;
    cache::Policy m_policy;
    std::chrono::milliseconds m_interval{6 * 3600 * 1000};
    bool m_refresh_requested = false;
    util::BackgroundThread m_refresher; ///< last: stopped before the state it reads goes
};

} // namespace dataflow::service

#pragma once
/// The analysed upstream catalogue behind /api/v1/dataflows and bulk analysis: loaded from a
/// local file (catalog.mode = file), or fetched from the upstream in the background
/// (catalog.mode = upstream; never on the startup path), refreshed every
/// catalog.refresh_interval through the shared cache (one replica refreshes at a time, the
/// others reuse its result), and served stale when the upstream fails.

#include "config/config.hpp"
#include "live/catalog.hpp"
#include "sdmx/catalog.hpp"
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
    std::string source;             ///< file path or URL
    std::int64_t fetched_at_ms = 0; ///< when the upstream answered (Unix ms)
    bool stale = false;             ///< the last refresh failed; this is an older copy
    std::string last_error;         ///< of the last failed refresh
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
    /// Age of the catalogue in seconds (0 when none).
    double age_seconds() const;

private:
    void run();
    void refresh_once(bool force);
    void load_file(const std::string& path);

    const util::Clock& m_clock;
    live::CatalogFetcher m_fetcher;
    mutable std::mutex m_mutex;
    std::shared_ptr<const CatalogState> m_state;
    config::CatalogMode m_mode = config::CatalogMode::upstream;
    std::string m_file;
    util::Url m_url;
    std::uint64_t m_max_bytes = 256ULL << 20;
    cache::Policy m_policy;
    std::chrono::milliseconds m_interval{6 * 3600 * 1000};
    bool m_refresh_requested = false;
    util::BackgroundThread m_refresher; ///< last: stopped before the state it reads goes
};

} // namespace dataflow::service

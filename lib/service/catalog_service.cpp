#include "service/catalog_service.hpp"

#include "live/categories.hpp"
#include "live/pipeline.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace dataflow::service {

CatalogService::CatalogService(cache::Cache& cache, upstream::Upstream& upstream,
                               const util::Clock& clock)
    : m_clock(clock), m_fetcher(upstream.client(), &cache, clock), m_changes(&cache, clock) {}

CatalogService::~CatalogService() {
    stop();
}

void CatalogService::configure(const config::Config& c) {
    const auto& s = c.settings();
    live::ChangeLimits limits;
    limits.max_count = static_cast<std::size_t>(s.catalog.history_size);
    limits.max_age = s.catalog.history_max_age;
    // The feed has its own lock (a record may hold it a while): not under ours.
    m_changes.configure(live::configured_catalogue_url(c).str(), upstream::configured_source(s).id,
                        limits);
    std::lock_guard lock(m_mutex);
    m_mode = s.catalog.mode;
    m_file = s.catalog.file;
    m_interval = s.catalog.refresh_interval;
    m_max_bytes = s.analysis.max_input_size;
    m_policy = live::refreshed_catalog_policy(c);
    m_url = live::configured_catalogue_url(c);
    m_conditional = live::configured_conditional(c);
    m_source = upstream::configured_source(s);
    m_label = m_source.id;
    m_agency_categories = s.catalog.agency_categories;
    m_categorizer = live::categorizer_for(c);
}

config::CatalogMode CatalogService::mode() const {
    std::lock_guard lock(m_mutex);
    return m_mode;
}

std::shared_ptr<const CatalogState> CatalogService::current() const {
    std::lock_guard lock(m_mutex);
    return m_state;
}

double CatalogService::age_seconds() const {
    auto s = current();
    if (!s) {
        return 0;
    }
    auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.system().time_since_epoch())
            .count();
    return static_cast<double>(now - s->fetched_at_ms) / 1000.0;
}

std::string CatalogService::label() const {
    std::lock_guard lock(m_mutex);
    return m_label;
}

std::string CatalogService::catalogue_url() const {
    std::lock_guard lock(m_mutex);
    return m_url.str();
}

void CatalogService::record_changes(const CatalogState& before, const sdmx::Catalog& after,
                                    const std::string& source) {
    std::shared_ptr<const analysis::Categorizer> categorizer;
    {
        std::lock_guard lock(m_mutex);
        categorizer = m_categorizer;
    }
    auto diff = analysis::diff_catalogs(*before.catalog, after, *categorizer, {});
    if (diff.empty()) {
        return;
    }
    diff.old_side.source = before.source;
    diff.new_side.source = source;
    auto seq = m_changes.record(diff);
    if (seq == 0) {
        return;
    }
    spdlog::info("catalogue changed: {} added, {} removed, {} changed (change set {})",
                 diff.added.size(), diff.removed.size(), diff.changed.size(), seq);
    std::lock_guard lock(m_mutex);
    m_stats.added += diff.added.size();
    m_stats.removed += diff.removed.size();
    m_stats.changed += diff.changed.size();
    m_stats.last_change_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.system().time_since_epoch())
            .count();
}

void CatalogService::attach_categories(CatalogState& state, const CatalogState* previous,
                                       const cache::Policy& policy, std::uint64_t max_bytes) {
    config::Source source;
    {
        std::lock_guard lock(m_mutex);
        if (!m_agency_categories) {
            return;
        }
        source = m_source;
    }
    try {
        auto fetched = live::fetch_agency_categories(m_fetcher, source, max_bytes, policy);
        if (!fetched || !fetched->served) {
            return;
        }
        std::vector<sdmx::Catalog> parts;
        parts.push_back(*state.catalog);
        std::vector<std::string> names{state.source};
        for (std::size_t i = 0; i < fetched->parts.size(); ++i) {
            parts.push_back(std::move(fetched->parts[i]));
            names.push_back(fetched->names[i]);
        }
        auto merged =
            std::make_shared<sdmx::Catalog>(sdmx::merge_catalogs(std::move(parts), names));
        auto resolved =
            std::make_shared<sdmx::ResolvedCategories>(sdmx::resolve_categorisations(*merged));
        spdlog::info("agency categories: {} schemes, {} categorisations resolved, {} not",
                     merged->category_schemes.size(), resolved->resolved, resolved->unresolved);
        state.catalog = std::move(merged);
        state.categories = std::move(resolved);
    } catch (const std::exception& e) {
        spdlog::warn("agency categories not refreshed: {}", e.what());
        if (previous != nullptr && previous->categories && previous->born_ms == state.born_ms) {
            state.catalog = previous->catalog;
            state.categories = previous->categories;
        }
    }
}

CatalogRefreshStats CatalogService::refresh_stats() const {
    std::lock_guard lock(m_mutex);
    return m_stats;
}

void CatalogService::load_file(const std::string& path) {
    sdmx::FileSource source(path);
    auto payload = source.fetch(sdmx::ReadLimits{static_cast<std::size_t>(m_max_bytes)});
    auto catalog = std::make_shared<sdmx::Catalog>(sdmx::read_catalog(payload.bytes, path));
    sdmx::require_dataflows(*catalog, path);
    sdmx::derive_annotation_facts(*catalog);
    auto state = std::make_shared<CatalogState>();
    state->catalog = std::move(catalog);
    state->source = path;
    state->fetched_at_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(m_clock.system().time_since_epoch())
            .count();
    std::lock_guard lock(m_mutex);
    m_state = std::move(state);
}

void CatalogService::start() {
    auto mode = this->mode();
    if (mode == config::CatalogMode::off) {
        return;
    }
    if (mode == config::CatalogMode::file) {
        std::string file;
        {
            std::lock_guard lock(m_mutex);
            file = m_file;
        }
        load_file(file);
        spdlog::info("catalogue: {} dataflows from {}", current()->catalog->dataflows.size(), file);
        return;
    }
    m_refresher.start([this] { run(); });
}

void CatalogService::stop() {
    m_refresher.stop();
}

void CatalogService::refresh_soon() {
    {
        std::lock_guard lock(m_mutex);
        m_refresh_requested = true;
    }
    m_refresher.wake();
}

void CatalogService::refresh_once(bool force) {
    util::Url url;
    std::uint64_t max_bytes = 0;
    cache::Policy policy;
    bool conditional = false;
    bool agency_categories = false;
    std::shared_ptr<const CatalogState> held;
    {
        std::lock_guard lock(m_mutex);
        url = m_url;
        max_bytes = m_max_bytes;
        policy = m_policy;
        conditional = m_conditional;
        agency_categories = m_agency_categories;
        held = m_state;
    }
    policy.refresh = force; // asked for: fetch even if the cached copy is fresh
    auto source = url.str();
    // The version we serve, if it came from this URL: a cache that still holds it is not read.
    std::int64_t held_born = held && held->source == source ? held->born_ms : 0;
    try {
        auto fetched = m_fetcher.fetch(url, max_bytes, policy, conditional, held_born);
        if (!fetched) {
            spdlog::debug("catalogue refresh cancelled (shutting down)");
            return;
        }
        if (!fetched->body_loaded) {
            // The copy we serve is still current: confirmed by a 304, or another replica's.
            auto copy = std::make_shared<CatalogState>(*held);
            copy->fetched_at_ms = fetched->stored_at_ms;
            copy->stale = fetched->stale;
            copy->last_error = fetched->stale_reason;
            if (!copy->categories) {
                attach_categories(*copy, nullptr, policy, max_bytes); // an earlier fetch failed
            }
            spdlog::debug("catalogue unchanged ({})",
                          fetched->not_modified ? "the upstream answered 304" : "cached");
            std::lock_guard lock(m_mutex);
            ++(fetched->not_modified ? m_stats.not_modified : m_stats.reused);
            m_state = std::move(copy);
            return;
        }
        auto digest = util::sha256_hex(fetched->body);
        // (With agency categories the full path runs: a download fetches them again.)
        if (held && held->catalog && held->source == source && held->digest == digest &&
            !agency_categories) {
            // Downloaded again byte for byte: the parsed catalogue (and every answer rendered
            // from it, with its ETag) stays; only the times change.
            auto copy = std::make_shared<CatalogState>(*held);
            copy->fetched_at_ms = fetched->stored_at_ms;
            copy->born_ms = fetched->born_ms;
            copy->stale = fetched->stale;
            copy->last_error = fetched->stale_reason;
            spdlog::debug("catalogue downloaded again, unchanged");
            std::lock_guard lock(m_mutex);
            ++(fetched->cache_hit ? m_stats.reused : m_stats.downloaded);
            m_state = std::move(copy);
            return;
        }
        auto catalog = std::make_shared<sdmx::Catalog>(sdmx::read_catalog(fetched->body, source));
        sdmx::require_dataflows(*catalog, source);
        // A download by this replica (the one refresher) of a catalogue after another: what
        // changed goes to the shared feed. The first catalogue after start is the baseline.
        if (!fetched->cache_hit && held && held->catalog && held->born_ms != 0 &&
            held->source == source) {
            try {
                record_changes(*held, *catalog, source);
            } catch (const std::exception& e) {
                // The feed never costs the catalogue: it is served whatever the feed's state.
                spdlog::warn("change feed: the change was not recorded: {}", e.what());
            }
        }
        auto state = std::make_shared<CatalogState>();
        state->catalog = std::move(catalog);
        state->source = source;
        state->fetched_at_ms = fetched->stored_at_ms;
        state->born_ms = fetched->born_ms;
        state->digest = std::move(digest);
        state->stale = fetched->stale;
        state->last_error = fetched->stale_reason;
        attach_categories(*state, held.get(), policy, max_bytes);
        spdlog::info("catalogue: {} dataflows from {}{}", state->catalog->dataflows.size(), source,
                     fetched->cache_hit
                         ? fmt::format(" (cached {:.0f} s ago{})", fetched->age_seconds.value_or(0),
                                       fetched->stale ? ", stale" : "")
                         : "");
        std::lock_guard lock(m_mutex);
        ++(fetched->not_modified ? m_stats.not_modified
           : fetched->cache_hit  ? m_stats.reused
                                 : m_stats.downloaded);
        m_state = std::move(state);
    } catch (const std::exception& e) {
        spdlog::warn("catalogue refresh failed: {}", e.what());
        std::lock_guard lock(m_mutex);
        ++m_stats.failed;
        if (m_state) {
            auto copy = std::make_shared<CatalogState>(*m_state);
            copy->stale = true;
            copy->last_error = e.what();
            m_state = std::move(copy);
        }
    }
}

void CatalogService::run() {
    bool force = false;
    while (true) {
        refresh_once(force);
        std::unique_lock lock(m_mutex);
        // Retry sooner while we have nothing to serve.
        auto wait = m_state ? m_interval : std::min(m_interval, std::chrono::milliseconds(60'000));
        if (!m_refresher.wait_for(lock, wait, [this] { return m_refresh_requested; })) {
            return;
        }
        force = m_refresh_requested;
        m_refresh_requested = false;
    }
}

} // namespace dataflow::service

#include "live/catalog.hpp"

#include "cache/setup.hpp"
#include "live/keys.hpp"
#include "sdmx/source.hpp"
#include "upstream/sdmx_rest.hpp"
#include "upstream/setup.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace dataflow::live {

std::optional<std::string> fetch_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes) {
    auto d = download_catalogue(client, url, max_bytes, {});
    if (!d) {
        return std::nullopt;
    }
    return std::move(d->body);
}

std::optional<Download> download_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes,
                                           const upstream::Conditional& conditional) {
    upstream::StringSink sink;
    spdlog::debug("GET {}", url.str());
    auto r = client.get(url, upstream::OpClass::structure, sink, upstream::k_structure_accept,
                        max_bytes, conditional);
    switch (r.outcome) {
    case upstream::Outcome::success:
        spdlog::debug("GET {}: {} in {} ms ({} on the wire)", r.url,
                      sdmx::format_bytes(r.body_bytes), r.duration.count(),
                      sdmx::format_bytes(r.wire_bytes));
        return Download{std::move(sink.body), false, std::move(r.etag), std::move(r.last_modified)};
    case upstream::Outcome::not_modified:
        spdlog::debug("GET {}: not modified ({} ms)", r.url, r.duration.count());
        return Download{{}, true, std::move(r.etag), std::move(r.last_modified)};
    case upstream::Outcome::too_large:
        throw InputError(fmt::format("{}: the catalogue is larger than the limit of {}; raise "
                                     "--max-input-bytes if it is expected",
                                     url.str(), sdmx::format_bytes(max_bytes)));
    case upstream::Outcome::cancelled:
        return std::nullopt;
    default:
        break;
    }
    std::string hint;
    if (r.retry_at) {
        hint = "; try again after " + util::format_rfc3339(*r.retry_at);
    } else if (r.outcome == upstream::Outcome::no_data) {
        hint = "; check upstream.agency and the URL";
    } else if (upstream::error_kind(r.outcome) == ErrorKind::unavailable) {
        hint = "; the upstream may be down, try again later";
    }
    throw Error(upstream::error_kind(r.outcome),
                fmt::format("GET {}: {}{}", r.url, r.message, hint));
}

util::Url configured_catalogue_url(const config::Config& config) {
    return upstream::catalogue_url(upstream::configured_source(config.settings()));
}

bool configured_conditional(const config::Config& config) {
    return upstream::configured_source(config.settings()).conditional_requests;
}

std::optional<util::Url> service_root(const util::Url& catalogue) {
    auto path = catalogue.target.substr(0, catalogue.target.find('?'));
    auto at = path.rfind("/dataflow");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    util::Url root = catalogue;
    root.target = path.substr(0, at);
    if (root.target.empty()) {
        root.target = "/";
    }
    return root;
}

cache::Policy catalog_policy(const config::Config& config) {
    return cache::policy(config);
}

cache::Policy refreshed_catalog_policy(const config::Config& config) {
    auto p = cache::policy(config);
    auto interval = config.settings().catalog.refresh_interval;
    p.fresh_ttl = interval;
    p.stale_ttl = std::max(config.settings().cache.stale_ttl, interval);
    return p;
}

CatalogFetcher::CatalogFetcher(upstream::Client& client, cache::Cache* cache,
                               const util::Clock& clock)
    : m_client(client), m_clock(clock),
      m_computer(cache != nullptr ? std::make_unique<cache::CachedComputer>(*cache, clock)
                                  : nullptr) {}

std::optional<FetchedCatalogue> CatalogFetcher::fetch(const util::Url& url, std::uint64_t max_bytes,
                                                      const cache::Policy& policy, bool conditional,
                                                      std::int64_t held_born_ms) {
    if (!m_computer) {
        auto body = fetch_catalogue(m_client, url, max_bytes);
        if (!body) {
            return std::nullopt;
        }
        FetchedCatalogue out;
        out.body = std::move(*body);
        out.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               m_clock.system().time_since_epoch())
                               .count();
        return out;
    }
    bool cancelled = false;
    auto compute = [&](const cache::Entry* previous) -> cache::Computed {
        upstream::Conditional validators;
        if (conditional && previous != nullptr && !previous->negative) {
            validators.etag = previous->etag;
            validators.last_modified = previous->last_modified;
        }
        auto d = download_catalogue(m_client, url, max_bytes, validators);
        cache::Computed c;
        if (!d) {
            cancelled = true;
            c.store = false;
            return c;
        }
        if (d->not_modified) {
            c.unchanged = true;
            return c;
        }
        c.value = std::move(d->body);
        c.content_type = "application/xml";
        c.tags = {"catalog"};
        c.etag = std::move(d->etag);
        c.last_modified = std::move(d->last_modified);
        return c;
    };
    auto needs_value = [held_born_ms](const cache::Entry& e) {
        return held_born_ms == 0 || e.born_ms != held_born_ms;
    };
    auto fetched = m_computer->revalidate(catalog_key(url), policy, compute, needs_value);
    if (cancelled) {
        return std::nullopt;
    }
    if (fetched.stale) {
        spdlog::warn("serving the catalogue cached {:.0f} s ago: {}", fetched.age_seconds,
                     fetched.stale_reason.empty() ? "it is stale" : fetched.stale_reason);
    } else if (fetched.cache_hit) {
        spdlog::debug("catalogue from the cache ({:.0f} s old)", fetched.age_seconds);
    }
    FetchedCatalogue out;
    out.body = std::move(fetched.entry.value);
    out.body_loaded = fetched.value_loaded;
    out.not_modified = fetched.confirmed;
    out.born_ms = fetched.entry.born_ms;
    out.cache_hit = fetched.cache_hit;
    out.stale = fetched.stale;
    if (fetched.cache_hit) {
        out.age_seconds = fetched.age_seconds;
    }
    out.stored_at_ms = fetched.entry.stored_at_ms;
    out.stale_reason = std::move(fetched.stale_reason);
    return out;
}

} // namespace dataflow::live

#pragma once
/// An agency's own classification fetched live: the source's category schemes and
/// categorisations (upstream::category_queries: two queries, or one with references where the
/// source serves that), each through the cache like a catalogue, parsed and merged with the
/// catalogue they classify.

#include "config/sources.hpp"
#include "live/catalog.hpp"
#include "sdmx/catalog.hpp"

#include <optional>
#include <string>
#include <vector>

namespace dataflow::live {

struct FetchedCategories {
    std::vector<sdmx::Catalog> parts; ///< one per query, parsed
    std::vector<std::string> names;   ///< the URLs
    bool served = true;               ///< false: the source serves no category schemes
};

/// Fetches `source`'s category schemes and categorisations through `fetcher` (cached with
/// `policy`, conditional where the source answers 304). nullopt when cancelled. Throws the
/// fetch's Error (naming the URL) or the parser's InputError.
std::optional<FetchedCategories> fetch_agency_categories(CatalogFetcher& fetcher,
                                                         const config::Source& source,
                                                         std::uint64_t max_bytes,
                                                         const cache::Policy& policy);

} // namespace dataflow::live

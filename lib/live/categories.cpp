#include "live/categories.hpp"

#include "sdmx/reader.hpp"
#include "upstream/sdmx_rest.hpp"

#include <spdlog/spdlog.h>

namespace dataflow::live {

std::optional<FetchedCategories> fetch_agency_categories(CatalogFetcher& fetcher,
                                                         const config::Source& source,
                                                         std::uint64_t max_bytes,
                                                         const cache::Policy& policy) {
    FetchedCategories out;
    auto queries = upstream::category_queries(source);
    if (queries.empty()) {
        out.served = false;
        spdlog::warn("{} serves no category schemes (categories = none in its source entry); "
                     "the keyword rules classify every dataflow",
                     source.id);
        return out;
    }
    for (const auto& url : queries) {
        auto fetched = fetcher.fetch(url, max_bytes, policy, source.conditional_requests);
        if (!fetched) {
            return std::nullopt;
        }
        auto name = url.str();
        out.parts.push_back(sdmx::read_catalog(fetched->body, name));
        out.names.push_back(std::move(name));
    }
    return out;
}

} // namespace dataflow::live

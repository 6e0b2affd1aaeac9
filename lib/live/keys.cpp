#include "live/keys.hpp"

#include "cache/cache.hpp"

#include <fmt/format.h>

namespace dataflow::live {

std::string catalog_key(const util::Url& url) {
    return cache::make_key("catalog", {url.str()});
}

std::string probe_key(std::string_view data_url) {
    return cache::make_key("probe", {data_url});
}

std::string analysis_key(std::string_view bytes, std::string_view source_name,
                         std::string_view rules_fingerprint,
                         const analysis::AnalysisOptions& options, std::string_view match,
                         const std::vector<std::string>& languages) {
    std::string categories;
    for (const auto& c : options.categories) {
        categories += c + ",";
    }
    std::string langs;
    for (const auto& l : languages) {
        langs += l + ",";
    }
    // The text the service's analysis route has always hashed: keep it byte for byte.
    auto options_text = fmt::format("{}|{}|{}|{}|{}|{}", categories, options.min_score,
                                    options.limit, options.only_ready, match, langs);
    std::vector<std::string> extra;
    // Options the route does not set yet: parts of their own only when set, so the keys
    // without them stay as they were (parts are length-prefixed: no part runs into another).
    if (options.sort != analysis::SortKey::score) {
        extra.push_back(fmt::format("sort:{}", static_cast<int>(options.sort)));
    }
    if (!options.query.empty()) {
        extra.push_back("q:" + options.query);
    }
    for (const auto& id : options.ids) {
        extra.push_back("id:" + id);
    }
    std::vector<std::string_view> parts = {bytes, source_name, rules_fingerprint, options_text};
    for (const auto& e : extra) {
        parts.emplace_back(e);
    }
    return cache::make_key("analysis", parts);
}

} // namespace dataflow::live

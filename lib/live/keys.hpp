#pragma once
/// The cache keys of the live pipeline, in one place: the CLI and the service share one Redis,
/// so a key built differently on one side would silently split the shared cache. Every key is
/// cache::make_key of the same inputs as before this layer existed, so entries already stored
/// keep hitting.

#include "analysis/report.hpp"
#include "util/url.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dataflow::live {

/// The key of the catalogue fetched from `url` ("catalog:<sha256>").
std::string catalog_key(const util::Url& url);

/// The key of a probe result, by the data URL the probe fetches (upstream::Prober::url_for):
/// the URL carries the dataflow, the service root and the probe settings.
std::string probe_key(std::string_view data_url);

/// The key of an analysis without probes, by everything its result depends on: the document,
/// its name, the rules, the options (categories, min_score, limit, only_ready; sort, query and
/// ids too when set), the match mode and the display languages.
std::string analysis_key(std::string_view bytes, std::string_view source_name,
                         std::string_view rules_fingerprint,
                         const analysis::AnalysisOptions& options, std::string_view match,
                         const std::vector<std::string>& languages);

} // namespace dataflow::live

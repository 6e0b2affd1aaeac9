#pragma once
/// SDMX REST 2.1 query URLs. Identifiers and keys are checked against the SDMX grammar before
/// they reach a URL, so no path or query can be injected.

#include "config/sources.hpp"
#include "util/url.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace dataflow::upstream {

/// Accept headers: SDMX-ML first (what every agency serves), plain XML as fallback.
inline constexpr std::string_view k_structure_accept =
    "application/vnd.sdmx.structure+xml;version=2.1, application/xml;q=0.9, */*;q=0.5";
inline constexpr std::string_view k_data_accept =
    "application/vnd.sdmx.genericdata+xml;version=2.1, "
    "application/vnd.sdmx.structurespecificdata+xml;version=2.1;q=0.9, application/xml;q=0.8, "
    "application/vnd.sdmx.data+json;q=0.7, */*;q=0.5";

/// A dataflow reference: ID, or AGENCY,ID[,VERSION] (ID and AGENCY: util::is_sdmx_id).
bool is_flow_ref(std::string_view ref);
/// A series key: dimension values separated by '.', each empty or ids joined by '+'; or "all".
bool is_sdmx_key(std::string_view key);

/// {base}/dataflow/{agency}. Throws UsageError for an invalid agency.
util::Url catalogue_url(const util::Url& base, std::string_view agency);
/// A source's catalogue: {base}/dataflow/{agency}, with a trailing '/' where the source needs
/// one. Throws UsageError for an invalid base URL or agency.
util::Url catalogue_url(const config::Source& source);

/// A structure query for every artefact of a type: {base}/{resource}/{agency}/all/latest, with
/// `references` (when not empty or "none") only where the source takes references on `all`
/// queries; where it does not, `dropped` (when given) is set and the caller fetches the
/// referenced artefacts with queries of their own.
util::Url structure_all_url(const config::Source& source, std::string_view resource,
                            std::string_view references = {}, bool* dropped = nullptr);

/// The queries that fetch a source's category schemes and categorisations, per its
/// `categories` field: two separate queries, or one with references where the source serves
/// that (and takes references on `all`; else the two); none where the source serves neither.
std::vector<util::Url> category_queries(const config::Source& source);

/// The cheap query `dataflow sources check` measures a source with: its dataflows as stubs,
/// {base}/dataflow/{agency}/all/latest?detail=allstubs.
util::Url check_url(const config::Source& source);

/// {base}/dataflow/{agency}/{flow}/latest?references=all.
util::Url dataflow_url(const util::Url& base, std::string_view agency, std::string_view flow);

struct DataQuery {
    std::string key; ///< empty: all series
    int last_n_observations = 0;
    int first_n_observations = 0;
    std::string detail; ///< empty or "full": not sent
};
/// {base}/data/{flow}[/{key}][?lastNObservations=..&firstNObservations=..&detail=..].
util::Url data_url(const util::Url& base, std::string_view flow, const DataQuery& query);

} // namespace dataflow::upstream

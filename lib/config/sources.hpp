#pragma once
/// The registry of SDMX sources (agencies): each one's endpoint, agency id, versions and
/// formats, request budgets and the quirks the client acts on. The built-in registry is data
/// (lib/config/sources.toml, compiled in); upstream.sources_file overrides fields of built-in
/// entries and adds new ones. docs/SOURCES.md describes every field.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::config {

/// Where a source serves its category schemes and categorisations.
enum class CategoryServing {
    separate,   ///< categoryscheme/{agency} and categorisation/{agency}, two queries
    references, ///< categoryscheme/{agency}/all/latest?references=parentsandsiblings, one query
    none,       ///< not served (or broken)
};
std::string_view to_string(CategoryServing serving);

/// A request budget: a sustained rate and a burst.
struct SourceRate {
    double per_minute = 4;
    int burst = 1;
    bool operator==(const SourceRate&) const = default;
};

struct Source {
    std::string id;       ///< "ISTAT": what --source and upstream.source name (case-insensitive)
    std::string name;     ///< "Istituto Nazionale di Statistica (Italy)"
    std::string base_url; ///< the SDMX REST root queries are built on
    std::vector<std::string> other_urls;    ///< other endpoints (SDMX 3.0, legacy): never used
    std::string agency;                     ///< agency id of the catalogue query
    std::vector<std::string> sdmx_versions; ///< "2.1", "3.0"
    std::vector<std::string> formats;       ///< "sdmx-ml", "sdmx-json", "sdmx-csv"
    SourceRate structure_rate;              ///< catalogue and structure queries
    std::optional<SourceRate> data_rate;    ///< data queries; none: they share structure_rate
    bool conditional_requests = false;      ///< honours If-None-Match / If-Modified-Since
    bool references_on_all = true; ///< a query for `all` may carry references other than none
    CategoryServing categories = CategoryServing::separate;
    bool available_constraint = true; ///< availableconstraint answers in reasonable time
    bool updated_after = true;        ///< the updatedAfter data parameter is honoured
    bool last_n_observations = true;  ///< lastNObservations is accepted (else probes omit it)
    bool trailing_slash = false;      ///< query paths end with '/'
    std::optional<std::chrono::milliseconds> structure_read_timeout;
    std::optional<std::chrono::milliseconds> data_read_timeout;
    std::string docs;   ///< the agency's API documentation
    std::string origin; ///< "built-in", or FILE:LINE of the table that last changed it

    /// Whether data queries have a budget of their own.
    bool split_budget() const { return data_rate.has_value(); }
};

class SourceRegistry {
public:
    SourceRegistry(std::vector<Source> sources, std::string origin);

    /// The source with this id (case-insensitive), or nullptr.
    const Source* find(std::string_view id) const;
    /// Sorted by id.
    const std::vector<Source>& all() const { return m_sources; }
    /// "built-in" or "built-in + FILE".
    const std::string& origin() const { return m_origin; }
    /// A digest of every entry, for the configuration hash.
    const std::string& fingerprint() const { return m_fingerprint; }
    /// "ISTAT, ESTAT, ..." for messages.
    std::string ids() const;

private:
    std::vector<Source> m_sources;
    std::string m_origin;
    std::string m_fingerprint;
};

/// The built-in registry (parsed once).
std::shared_ptr<const SourceRegistry> builtin_sources();

/// The registry text compiled in (lib/config/sources.toml), for `dataflow sources --builtin`.
std::string_view builtin_sources_text();

/// `base` with the `[sources.ID]` tables of a TOML document applied: a table naming an
/// existing id replaces the fields it sets; a new id is added and must set at least base_url
/// and agency. Throws LocatedError (NAME:LINE:COL) for a malformed document, an unknown field,
/// a wrong type or an invalid value.
std::shared_ptr<const SourceRegistry>
sources_from_toml(std::string_view text, std::string_view name, const SourceRegistry& base);

/// The built-in registry extended by the file at `path` (read here). Throws LocatedError, or
/// InputError when the file cannot be read or is larger than 1 MiB.
std::shared_ptr<const SourceRegistry> load_sources_file(const std::string& path);

} // namespace dataflow::config

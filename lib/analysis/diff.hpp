#pragma once
/// What changed between two catalogues of an agency: dataflows added, removed, and changed
/// (version, names, descriptions, structure, finality, the annotations the analysis uses, and
/// the keyword category), matched by (agency, id) in time linear in the catalogues' size.
/// Used by `dataflow diff` and by the service's change feed.

#include "analysis/categorizer.hpp"
#include "sdmx/catalog.hpp"
#include "util/json_writer.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace dataflow::analysis {

/// One changed field: "version", "name.it", "description.en", "structure", "is_final",
/// "last_update", "non_production", "hidden", "file_only", "agency_categories" (when both sides
/// carry categorisations: "IT1:ISTAT_DW(1.0)/101/102; …"), "category". Values as text; an
/// absent value (a language added or removed, no LAST_UPDATE) is "".
struct FieldChange {
    std::string field;
    std::string old_value;
    std::string new_value;
};

/// A dataflow added or removed, as the side that has it says.
struct DiffFlow {
    std::string agency;
    std::string id;
    std::string version;
    std::string name; ///< display name (DiffOptions::languages)
    std::string category;
    int score = 0;
};

/// A dataflow on both sides whose fields differ (name and category: the new side's).
struct ChangedFlow {
    std::string agency;
    std::string id;
    std::string name;
    std::string category;
    int score = 0;
    std::vector<FieldChange> changes; ///< in the order of FieldChange's list above
};

struct DiffSide {
    std::string source;   ///< file, "-", URL
    std::string prepared; ///< the message header's Prepared, "" when absent
    std::size_t total = 0;
};

struct CatalogDiff {
    DiffSide old_side;
    DiffSide new_side;
    std::vector<DiffFlow> added;      ///< in the new catalogue's order
    std::vector<DiffFlow> removed;    ///< in the old catalogue's order
    std::vector<ChangedFlow> changed; ///< in the new catalogue's order
    std::size_t unchanged = 0;
    bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
};

struct DiffOptions {
    std::vector<std::string> languages{"it", "en"}; ///< for display names
    std::vector<std::string> categories; ///< report only these (empty: all); unchanged counts all
    int min_score = 0;                   ///< report only dataflows scoring at least this
};

/// Diffs `old_catalog` against `new_catalog` (both with derive_annotation_facts() applied).
/// Names and descriptions are compared after collapsing whitespace. A dataflow listed twice on
/// one side counts once (the first). Filters apply to what is reported, not to the matching.
CatalogDiff diff_catalogs(const sdmx::Catalog& old_catalog, const sdmx::Catalog& new_catalog,
                          const Categorizer& categorizer, const DiffOptions& options);

/// Writes the members "added", "removed", "changed" (arrays, the JSON shape of docs/OUTPUT.md)
/// into the object being written: the part the change feed's entries share with `diff -o json`.
void write_diff_entries(util::JsonWriter& w, const CatalogDiff& diff);

/// `dataflow diff -o json`: {"old", "new", "summary", "added", "removed", "changed"}.
std::string render_diff_json(const CatalogDiff& diff);
/// `-o csv`: one row per reported dataflow change (kind, agency, id, field, old, new), RFC 4180.
std::string render_diff_csv(const CatalogDiff& diff);
/// `-o summary`: the sides and the counts, a few lines.
std::string render_diff_summary(const CatalogDiff& diff);
struct DiffTableOptions {
    std::size_t width = 100;
    bool color = false;
};
/// `-o table` (default): grouped by kind (added, removed, changed), coloured like analyze's.
std::string render_diff_table(const CatalogDiff& diff, const DiffTableOptions& options);

} // namespace dataflow::analysis

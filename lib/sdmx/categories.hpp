#pragma once
/// An agency's own classification of its dataflows: category schemes (nested categories) and
/// categorisations (dataflow -> category), as SDMX structure messages carry them; resolved to
/// the full path of every categorised dataflow; and several messages merged into one catalogue.

#include "sdmx/catalog.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::sdmx {

/// A dataflow's resolved categorisation: the scheme and the path of category ids from the
/// top-level category down to the categorised one.
struct AgencyCategory {
    std::size_t scheme = 0;        ///< index into Catalog::category_schemes
    std::vector<std::string> path; ///< ids, top first
    /// The categories along the path (pointers into the scheme; valid while the catalogue is).
    std::vector<const Category*> nodes;
};

struct ResolvedCategories {
    /// Per dataflow (index into Catalog::dataflows): its categorisations, in document order,
    /// duplicates (same scheme and path) once.
    std::vector<std::vector<AgencyCategory>> by_flow;
    std::size_t resolved = 0;          ///< categorisations resolved to a dataflow and a category
    std::size_t unresolved = 0;        ///< whose dataflow or category is absent
    std::vector<std::string> warnings; ///< one per unresolved categorisation (capped at 100)
};

/// Resolves every categorisation of `catalog` against its dataflows (agency + id; version
/// ignored when the reference has none or "*") and its schemes (agency + id; the version
/// when given). Never throws for a dangling reference: counted and warned about.
ResolvedCategories resolve_categorisations(const Catalog& catalog);

/// Fills the flow_* fields of `out` from a Dataflow URN (`urn:sdmx:...Dataflow=AG:ID(VER)`, as
/// SDMX 3.0 and SDMX-JSON categorisations give their source); false when it does not parse.
bool parse_dataflow_urn(std::string_view urn, Categorisation& out);

/// Fills the scheme_* fields and `category` of `out` from a Category URN
/// (`urn:sdmx:...Category=AG:SCHEME(VER).PATH`, PATH a dotted path); false when it does not parse.
bool parse_category_urn(std::string_view urn, Categorisation& out);

/// Refuses a catalogue that holds no dataflows (a category scheme or categorisations read alone,
/// or merged without a dataflow list) with the readers' "holds no dataflows" message, naming
/// `name` and what the catalogue does hold. The readers accept such messages so that they can be
/// merged; call this on the catalogue to be analysed.
void require_dataflows(const Catalog& catalog, std::string_view name);

/// One catalogue from several messages (a dataflow list, a category scheme, categorisations,
/// or one message with all three, as INSEE's): dataflows, schemes and categorisations
/// concatenated in order; an artefact present twice (same agency, id and version) with the
/// same content counts once; with different content it is an InputError naming both sources
/// ("X in A differs from X in B"). `names[i]` names `parts[i]`.
/// Duplicates within one part are kept as they are (one message read alone is unchanged).
/// `format`: the parts' format when they all share it, else "mixed (F1, F2, ...)" in order of
/// first appearance; `prepared`: the first non-empty one; warnings concatenated, each prefixed
/// with its part's name when there are several parts.
Catalog merge_catalogs(std::vector<Catalog> parts, const std::vector<std::string>& names);

} // namespace dataflow::sdmx

#pragma once
/// The catalogue model: what an agency's `/dataflow` answer says about each dataflow, kept as
/// given (every language, text verbatim), plus the few facts derived from annotations.

#include "util/time.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::sdmx {

struct LocalizedText {
    std::string lang; ///< xml:lang as written; empty when the element had none
    std::string text; ///< verbatim (XML entities decoded, line ends normalised by the parser)
};

struct Annotation {
    std::string id;
    std::string title;
    std::string type;
    std::string url;
    std::vector<LocalizedText> texts;
};

/// The data structure (DSD) a dataflow uses: 2.1 `Ref` attributes, 2.0 `KeyFamilyRef`, or the
/// 3.0 / SDMX-JSON URN (from which id, agency and version are taken when it parses).
struct StructureRef {
    std::string id;
    std::string agency_id;
    std::string version;
    std::string urn;
    bool empty() const { return id.empty() && urn.empty(); }
};

struct Dataflow {
    std::string id;
    std::string agency_id;
    std::string version;
    std::string urn;
    std::optional<bool> is_final;
    std::vector<LocalizedText> names;
    std::vector<LocalizedText> descriptions;
    StructureRef structure;
    std::vector<Annotation> annotations;

    // Derived from annotations by derive_annotation_facts().
    std::optional<std::string> last_update;     ///< UTC RFC 3339 from LAST_UPDATE
    std::optional<std::int64_t> last_update_ms; ///< same instant, ms since the Unix epoch
    bool non_production = false;                ///< NonProductionDataflow
    bool file_only = false;                     ///< DATAFLOW_CATALOG_TYPE = ONLY_FILE
    bool hidden = false;                        ///< DATAFLOW_HIDDEN

    std::size_t source_line = 0; ///< where the dataflow starts in its document (0 = unknown)
};

// An agency's own classification (sdmx/categories.hpp resolves and merges them).
struct Category {
    std::string id;
    std::vector<LocalizedText> names;
    std::vector<Category> children; ///< nested categories, in document order
};

struct CategoryScheme {
    std::string id;
    std::string agency_id;
    std::string version;
    std::vector<LocalizedText> names;
    std::vector<Category> categories; ///< the top-level categories
    std::size_t source_line = 0;
    /// "IT1:ISTAT_DW(1.0)".
    std::string label() const;
};

/// A categorisation: its source (the dataflow) and its target (a category of a scheme),
/// as referenced. `category` is what the reference names: a dotted path from the top ("101.102",
/// as SDMX 2.1 nested categories are referenced and ISTAT does) or a leaf id (as INSEE does).
struct Categorisation {
    std::string id;
    std::string agency_id;
    std::string version;
    std::string flow_id;
    std::string flow_agency;
    std::string flow_version;
    std::string scheme_id;
    std::string scheme_agency;
    std::string scheme_version;
    std::string category;
    std::size_t source_line = 0;
};

struct Catalog {
    std::string format; ///< "SDMX-ML 2.1", "SDMX-ML 2.0", "SDMX-ML 3.0", "SDMX-JSON 2.0"
    /// When the message was prepared: the header's Prepared (SDMX-ML) or meta.prepared
    /// (SDMX-JSON), trimmed but otherwise verbatim; "" when absent.
    std::string prepared;
    std::vector<Dataflow> dataflows;
    std::vector<CategoryScheme> category_schemes;
    std::vector<Categorisation> categorisations;
    std::vector<std::string> warnings; ///< non-fatal oddities (unparsable LAST_UPDATE, ...)
};

/// The reference service's Italian name: the last `it` Name, else the first Name without a
/// language; nullptr when neither exists (or the text is empty).
const std::string* reference_name_it(const Dataflow& flow);
/// The last `en` Name, or nullptr.
const std::string* reference_name_en(const Dataflow& flow);

/// The name in the first language of `languages` that has one, else the first non-empty name in
/// any language, else the id.
std::string_view display_name(const Dataflow& flow, std::span<const std::string> languages);

/// The first Description (any language), or "".
std::string_view first_description(const Dataflow& flow);

/// Fills last_update / non_production / file_only / hidden of every dataflow from its
/// annotations (slash dates read in the order the whole catalogue uses); unparsable LAST_UPDATE
/// values become catalog warnings. With `threads` >= 2, a catalogue of k_parallel_facts flows or
/// more is done in two halves at once (the same facts and warnings).
void derive_annotation_facts(Catalog& catalog, unsigned threads = 1);
inline constexpr std::size_t k_parallel_facts = 1000;

/// derive_annotation_facts() in parts, for readers that each read part of a catalogue: what the
/// LAST_UPDATE values of `flows` say of the date order (DateEvidence::merge() the parts' for the
/// catalogue's), and the facts of `flows` in `order` (set afresh: a part derived in another
/// order is derived again), with their warnings in flow order.
using DateEvidence = util::DateEvidence;
DateEvidence date_evidence(std::span<const Dataflow> flows);
std::vector<std::string> derive_facts(std::span<Dataflow> flows, util::DateOrder order);

/// Whether an annotation with this id or type is one derive_annotation_facts() reads
/// (LAST_UPDATE, NonProductionDataflow, DATAFLOW_CATALOG_TYPE, DATAFLOW_HIDDEN).
bool is_fact_annotation(std::string_view id_or_type);

/// Splits `urn:sdmx:...=AGENCY:ID(VERSION)` into its parts; false when it does not parse.
bool parse_structure_urn(std::string_view urn, StructureRef& out);

} // namespace dataflow::sdmx

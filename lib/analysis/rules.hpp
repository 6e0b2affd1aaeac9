#pragma once
/// Keyword rule sets: which keywords put a dataflow in which category, with what weight.
/// Immutable once built; shared as std::shared_ptr<const RuleSet>.

#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {

/// The category of dataflows that no rule matches.
inline constexpr std::string_view k_fallback_category = "altri";

struct Rule {
    std::string id;
    std::string category;
    int priority = 0;
    std::vector<std::string> keywords; ///< lower-cased, trimmed, in the order given
};

/// An agency category mapped to a topic: a dataflow the agency put in `category` (or in one of
/// its descendants) of scheme `scheme_agency:scheme_id` (any version) has that topic.
struct AgencyCategoryMapping {
    std::string scheme_agency; ///< "IT1"
    std::string scheme_id;     ///< "ISTAT_DW"
    std::string category;      ///< a category id, at any depth of the scheme
    std::string topic;         ///< one of the rule set's categories (the fallback included)
};

class RuleSet {
public:
    /// `origin` names where the rules came from ("built-in" or a path), for messages. Throws
    /// InputError when a mapping's topic is not one of the categories (parse_rules_toml checks
    /// that first, with the location).
    RuleSet(std::vector<Rule> rules, std::string origin,
            std::vector<AgencyCategoryMapping> agency_mappings = {});

    const std::vector<Rule>& rules() const { return m_rules; }
    /// Distinct categories in rule order, then the fallback category last.
    const std::vector<std::string>& categories() const { return m_categories; }
    /// Index of a category in categories(), or npos.
    std::size_t category_index(std::string_view name) const;
    std::size_t fallback_index() const { return m_categories.size() - 1; }
    const std::string& origin() const { return m_origin; }
    /// Stable 64-bit content hash (hex) of the rules and the agency mappings, for cache keys
    /// (a set without mappings hashes as it did before mappings existed).
    const std::string& fingerprint() const { return m_fingerprint; }

    const std::vector<AgencyCategoryMapping>& agency_mappings() const { return m_mappings; }
    /// The topic (index into categories()) of a categorised path of scheme `agency:id`: the
    /// deepest category on `path` (ids, top first) that is mapped; npos when none is.
    std::size_t agency_topic(std::string_view scheme_agency, std::string_view scheme_id,
                             std::span<const std::string> path) const;

private:
    std::vector<Rule> m_rules;
    std::vector<std::string> m_categories;
    std::vector<AgencyCategoryMapping> m_mappings;
    /// "agency\x1Fscheme\x1Fcategory" -> topic index.
    std::map<std::string, std::size_t, std::less<>> m_mapping_index;
    std::string m_origin;
    std::string m_fingerprint;
};

/// The rule set of the reference service's production database (six categories), with the
/// mapping of ISTAT's ISTAT_DW themes to them (docs/RULES.md says why each).
std::shared_ptr<const RuleSet> default_rules();

/// Parses a TOML rule file: `[[rules]]` tables with `category`, `priority` (a positive integer)
/// and `keywords` (a non-empty list of strings); optional `id`, `description`, `active`; and
/// optional `[[agency_categories]]` tables with `scheme` ("AGENCY:ID"), `category` and `topic`
/// (a rule category or the fallback); optional `description`.
/// Errors throw InputError as `SOURCE:LINE:COL: message`.
std::shared_ptr<const RuleSet> parse_rules_toml(std::string_view text,
                                                std::string_view source_name);

/// Reads and parses a TOML rule file.
std::shared_ptr<const RuleSet> load_rules_file(const std::string& path);

/// Lower-cases (Unicode) and trims a keyword as the reference service did.
std::string normalize_keyword(std::string_view keyword);

} // namespace dataflow::analysis

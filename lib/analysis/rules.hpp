#pragma once
/// Keyword rule sets: which keywords put a dataflow in which category, with what weight.
/// Immutable once built; shared as std::shared_ptr<const RuleSet>.

#include <cstddef>
#include <memory>
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

class RuleSet {
public:
    /// `origin` names where the rules came from ("built-in" or a path), for messages.
    RuleSet(std::vector<Rule> rules, std::string origin);

    const std::vector<Rule>& rules() const { return m_rules; }
    /// Distinct categories in rule order, then the fallback category last.
    const std::vector<std::string>& categories() const { return m_categories; }
    /// Index of a category in categories(), or npos.
    std::size_t category_index(std::string_view name) const;
    std::size_t fallback_index() const { return m_categories.size() - 1; }
    const std::string& origin() const { return m_origin; }
    /// Stable 64-bit content hash (hex) of the rules, for cache keys.
    const std::string& fingerprint() const { return m_fingerprint; }

private:
    std::vector<Rule> m_rules;
    std::vector<std::string> m_categories;
    std::string m_origin;
    std::string m_fingerprint;
};

/// The rule set of the reference service's production database (six categories).
std::shared_ptr<const RuleSet> default_rules();

/// Parses a TOML rule file: `[[rules]]` tables with `category`, `priority` (a positive integer)
/// and `keywords` (a non-empty list of strings); optional `id`, `description`, `active`.
/// Errors throw InputError as `SOURCE:LINE:COL: message`.
std::shared_ptr<const RuleSet> parse_rules_toml(std::string_view text,
                                                std::string_view source_name);

/// Reads and parses a TOML rule file.
std::shared_ptr<const RuleSet> load_rules_file(const std::string& path);

/// Lower-cases (Unicode) and trims a keyword as the reference service did.
std::string normalize_keyword(std::string_view keyword);

} // namespace dataflow::analysis

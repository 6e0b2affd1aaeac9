#pragma once
/// Puts a dataflow in a category by keyword rules and scores its relevance, exactly as the
/// reference service did (substring mode), or with word-boundary matching (word mode).

#include "analysis/rules.hpp"
#include "sdmx/catalog.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::analysis {

enum class MatchMode {
    substring, ///< the reference behaviour: a keyword may occur anywhere ("pil" in "compilazione")
    word,      ///< a keyword must start at a word boundary
};

struct Categorization {
    std::size_t category = 0; ///< index into RuleSet::categories()
    int score = 0;
    std::vector<std::string_view> matched_keywords; ///< views into the RuleSet
    double confidence = 0.0;
};

/// 0 when score is 0, else (min(1, matched/3) + min(1, score/50)) / 2.
double confidence_of(std::size_t matched, int score);

class Categorizer {
public:
    Categorizer(std::shared_ptr<const RuleSet> rules, MatchMode mode,
                std::vector<std::string> languages = {"it", "en"});
    ~Categorizer();
    Categorizer(Categorizer&&) noexcept;
    Categorizer& operator=(Categorizer&&) noexcept;

    /// Categorises a dataflow: text = lower(name + " " + first description), where name is the
    /// reference name (Italian, else English, else id) in substring mode and the display name by
    /// the language list in word mode.
    Categorization categorize(const sdmx::Dataflow& flow) const;

    /// Categorises free text (name and description), lower-casing it first.
    Categorization categorize(std::string_view name, std::string_view description) const;

    const RuleSet& rules() const { return *m_rules; }
    const std::shared_ptr<const RuleSet>& rules_ptr() const { return m_rules; }
    MatchMode mode() const { return m_mode; }
    const std::vector<std::string>& languages() const { return m_languages; }

private:
    Categorization categorize_lowered(std::string_view text) const;

    struct Automaton;
    std::shared_ptr<const RuleSet> m_rules;
    MatchMode m_mode;
    std::vector<std::string> m_languages;
    std::unique_ptr<Automaton> m_automaton;
};

} // namespace dataflow::analysis

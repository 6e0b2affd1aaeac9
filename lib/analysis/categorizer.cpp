#include "analysis/categorizer.hpp"

#include "util/utf8.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <map>

namespace dataflow::analysis {

double confidence_of(std::size_t matched, int score) {
    if (score == 0) {
        return 0.0;
    }
    double by_count = std::min(1.0, static_cast<double>(matched) / 3.0);
    double by_score = std::min(1.0, static_cast<double>(score) / 50.0);
    return (by_count + by_score) / 2.0;
}

/// Aho-Corasick automaton over the UTF-8 bytes of every distinct keyword: one pass over a
/// dataflow's text finds every keyword occurrence, however many rules and keywords there are.
struct Categorizer::Automaton {
    struct Output {
        std::uint32_t keyword;
        std::uint32_t length;
    };
    std::vector<std::array<std::int32_t, 256>> next;
    std::vector<std::vector<Output>> outputs;
    std::vector<std::string_view> keywords;          // distinct keyword texts
    std::vector<std::vector<std::uint32_t>> rule_kw; // per rule: keyword ids in list order

    explicit Automaton(const RuleSet& rules) {
        std::map<std::string_view, std::uint32_t> ids;
        for (const auto& rule : rules.rules()) {
            auto& ks = rule_kw.emplace_back();
            for (const auto& k : rule.keywords) {
                auto [it, inserted] = ids.emplace(k, static_cast<std::uint32_t>(keywords.size()));
                if (inserted) {
                    keywords.push_back(k);
                }
                ks.push_back(it->second);
            }
        }
        std::array<std::int32_t, 256> empty;
        empty.fill(-1);
        next.push_back(empty);
        outputs.emplace_back();
        for (std::uint32_t id = 0; id < keywords.size(); ++id) {
            std::int32_t s = 0;
            for (unsigned char c : keywords[id]) {
                if (next[static_cast<std::size_t>(s)][c] < 0) {
                    next[static_cast<std::size_t>(s)][c] = static_cast<std::int32_t>(next.size());
                    next.push_back(empty);
                    outputs.emplace_back();
                }
                s = next[static_cast<std::size_t>(s)][c];
            }
            outputs[static_cast<std::size_t>(s)].push_back(
                {id, static_cast<std::uint32_t>(keywords[id].size())});
        }
        // Breadth-first: failure links folded into a full transition table.
        std::vector<std::int32_t> fail(next.size(), 0);
        std::deque<std::int32_t> queue;
        for (auto& t : next[0]) {
            if (t < 0) {
                t = 0;
            } else {
                fail[static_cast<std::size_t>(t)] = 0;
                queue.push_back(t);
            }
        }
        while (!queue.empty()) {
            auto s = static_cast<std::size_t>(queue.front());
            queue.pop_front();
            const auto& f_out = outputs[static_cast<std::size_t>(fail[s])];
            outputs[s].insert(outputs[s].end(), f_out.begin(), f_out.end());
            for (int c = 0; c < 256; ++c) {
                std::int32_t t = next[s][static_cast<std::size_t>(c)];
                if (t < 0) {
                    next[s][static_cast<std::size_t>(c)] =
                        next[static_cast<std::size_t>(fail[s])][static_cast<std::size_t>(c)];
                } else {
                    fail[static_cast<std::size_t>(t)] =
                        next[static_cast<std::size_t>(fail[s])][static_cast<std::size_t>(c)];
                    queue.push_back(t);
                }
            }
        }
    }
};

Categorizer::Categorizer(std::shared_ptr<const RuleSet> rules, MatchMode mode,
                         std::vector<std::string> languages)
    : m_rules(std::move(rules)), m_mode(mode), m_languages(std::move(languages)),
      m_automaton(std::make_unique<Automaton>(*m_rules)) {}

Categorizer::~Categorizer() = default;
Categorizer::Categorizer(Categorizer&&) noexcept = default;
Categorizer& Categorizer::operator=(Categorizer&&) noexcept = default;

Categorization Categorizer::categorize(const sdmx::Dataflow& flow) const {
    std::string_view name;
    if (m_mode == MatchMode::substring) {
        const std::string* n = sdmx::reference_name_it(flow);
        if (n == nullptr) {
            n = sdmx::reference_name_en(flow);
        }
        name = n != nullptr ? std::string_view(*n) : std::string_view(flow.id);
    } else {
        name = sdmx::display_name(flow, m_languages);
    }
    return categorize(name, sdmx::first_description(flow));
}

Categorization Categorizer::categorize(std::string_view name, std::string_view description) const {
    std::string text;
    text.reserve(name.size() + description.size() + 1);
    text.append(name);
    text += ' ';
    text.append(description);
    return categorize_lowered(util::to_lower(text));
}

Categorization Categorizer::categorize_lowered(std::string_view text) const {
    const Automaton& a = *m_automaton;
    std::vector<char> found(a.keywords.size(), 0);
    std::int32_t s = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        s = a.next[static_cast<std::size_t>(s)][static_cast<unsigned char>(text[i])];
        for (const auto& out : a.outputs[static_cast<std::size_t>(s)]) {
            if (found[out.keyword]) {
                continue;
            }
            std::size_t start = i + 1 - out.length;
            if (m_mode == MatchMode::word && util::alnum_before(text, start)) {
                continue;
            }
            found[out.keyword] = 1;
        }
    }
    Categorization best;
    best.category = m_rules->fallback_index();
    const auto& rules = m_rules->rules();
    for (std::size_t r = 0; r < rules.size(); ++r) {
        int score = 0;
        std::size_t matched = 0;
        for (auto id : a.rule_kw[r]) {
            if (found[id]) {
                score += rules[r].priority;
                ++matched;
            }
        }
        if (score > best.score) {
            best.score = score;
            best.category = m_rules->category_index(rules[r].category);
            best.matched_keywords.clear();
            for (std::size_t k = 0; k < a.rule_kw[r].size(); ++k) {
                if (found[a.rule_kw[r][k]]) {
                    best.matched_keywords.emplace_back(rules[r].keywords[k]);
                }
            }
        }
    }
    best.confidence = confidence_of(best.matched_keywords.size(), best.score);
    return best;
}

} // namespace dataflow::analysis

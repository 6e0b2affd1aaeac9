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
/// Bytes that occur in no keyword share one class (they lead back to the root from any state),
/// so a state's row has one entry per byte the keywords use, not 256.
struct Categorizer::Automaton {
    struct Output {
        std::uint32_t keyword;
        std::uint32_t length;
    };
    std::array<std::uint8_t, 256> byte_class{}; // 0: in no keyword
    std::size_t width = 1;                      // classes per state
    std::vector<std::int32_t> next;             // state * width + class
    std::vector<std::vector<Output>> outputs;
    std::vector<std::string_view> keywords;          // distinct keyword texts
    std::vector<std::vector<std::uint32_t>> rule_kw; // per rule: keyword ids in list order

    std::int32_t& at(std::int32_t state, std::size_t cls) {
        return next[static_cast<std::size_t>(state) * width + cls];
    }
    std::int32_t step(std::int32_t state, unsigned char c) const {
        return next[static_cast<std::size_t>(state) * width + byte_class[c]];
    }

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
        for (auto k : keywords) {
            for (unsigned char c : k) {
                if (byte_class[c] == 0) {
                    byte_class[c] = static_cast<std::uint8_t>(width++);
                }
            }
        }
        build_trie();
        link();
    }

    std::int32_t add_state() {
        next.insert(next.end(), width, -1);
        outputs.emplace_back();
        return static_cast<std::int32_t>(outputs.size() - 1);
    }

    void build_trie() {
        add_state();
        for (std::uint32_t id = 0; id < keywords.size(); ++id) {
            std::int32_t s = 0;
            for (unsigned char c : keywords[id]) {
                if (at(s, byte_class[c]) < 0) {
                    std::int32_t t = add_state();
                    at(s, byte_class[c]) = t;
                }
                s = at(s, byte_class[c]);
            }
            outputs[static_cast<std::size_t>(s)].push_back(
                {id, static_cast<std::uint32_t>(keywords[id].size())});
        }
    }

    /// Breadth-first: failure links folded into a full transition table.
    void link() {
        std::vector<std::int32_t> fail(outputs.size(), 0);
        std::deque<std::int32_t> queue;
        for (std::size_t c = 0; c < width; ++c) {
            std::int32_t& t = at(0, c);
            if (t < 0) {
                t = 0;
            } else {
                fail[static_cast<std::size_t>(t)] = 0;
                queue.push_back(t);
            }
        }
        while (!queue.empty()) {
            auto s = queue.front();
            queue.pop_front();
            auto f = fail[static_cast<std::size_t>(s)];
            const auto& f_out = outputs[static_cast<std::size_t>(f)];
            auto& out = outputs[static_cast<std::size_t>(s)];
            out.insert(out.end(), f_out.begin(), f_out.end());
            for (std::size_t c = 0; c < width; ++c) {
                std::int32_t t = at(s, c);
                if (t < 0) {
                    at(s, c) = at(f, c);
                } else {
                    fail[static_cast<std::size_t>(t)] = at(f, c);
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
        s = a.step(s, static_cast<unsigned char>(text[i]));
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

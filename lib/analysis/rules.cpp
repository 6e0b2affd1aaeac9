#include "analysis/rules.hpp"

#include "analysis/rules_toml.hpp"
#include "sdmx/source.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <initializer_list>
#include <set>
#include <utility>

namespace dataflow::analysis {

namespace {

std::string fnv1a_hex(const std::vector<Rule>& rules,
                      const std::vector<AgencyCategoryMapping>& mappings) {
    std::uint64_t h = 14695981039346656037ULL;
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s) {
            h ^= c;
            h *= 1099511628211ULL;
        }
        h ^= 0xFF; // field separator
        h *= 1099511628211ULL;
    };
    for (const auto& r : rules) {
        mix(r.category);
        mix(std::to_string(r.priority));
        for (const auto& k : r.keywords) {
            mix(k);
        }
        mix("\x1E");
    }
    // Only sets with mappings mix them in: the fingerprints of sets without (rule files written
    // before mappings existed) stay what they were, and so do the cache keys built on them.
    if (!mappings.empty()) {
        mix("\x1D"
            "agency_categories");
        for (const auto& m : mappings) {
            mix(m.scheme_agency);
            mix(m.scheme_id);
            mix(m.category);
            mix(m.topic);
            mix("\x1E");
        }
    }
    return fmt::format("{:016x}", h);
}

std::vector<std::string> categories_of(const std::vector<Rule>& rules) {
    std::vector<std::string> out;
    for (const auto& r : rules) {
        if (std::find(out.begin(), out.end(), r.category) == out.end()) {
            out.push_back(r.category);
        }
    }
    out.emplace_back(k_fallback_category);
    return out;
}

std::string mapping_key(std::string_view agency, std::string_view scheme,
                        std::string_view category) {
    return fmt::format("{}\x1F{}\x1F{}", agency, scheme, category);
}

} // namespace

RuleSet::RuleSet(std::vector<Rule> rules, std::string origin,
                 std::vector<AgencyCategoryMapping> agency_mappings)
    : m_rules(std::move(rules)), m_categories(categories_of(m_rules)),
      m_mappings(std::move(agency_mappings)), m_origin(std::move(origin)) {
    for (const auto& m : m_mappings) {
        auto topic = category_index(m.topic);
        if (topic == std::string_view::npos) {
            throw InputError(fmt::format("{}: agency category {}:{} {} is mapped to '{}', which is "
                                         "not a category of the rule set",
                                         m_origin, m.scheme_agency, m.scheme_id, m.category,
                                         m.topic));
        }
        if (!m_mapping_index.emplace(mapping_key(m.scheme_agency, m.scheme_id, m.category), topic)
                 .second) {
            throw InputError(fmt::format("{}: agency category {}:{} {} is mapped twice", m_origin,
                                         m.scheme_agency, m.scheme_id, m.category));
        }
    }
    m_fingerprint = fnv1a_hex(m_rules, m_mappings);
}

std::size_t RuleSet::agency_topic(std::string_view scheme_agency, std::string_view scheme_id,
                                  std::span<const std::string> path) const {
    if (m_mapping_index.empty()) {
        return std::string_view::npos;
    }
    for (auto it = path.rbegin(); it != path.rend(); ++it) {
        auto found = m_mapping_index.find(mapping_key(scheme_agency, scheme_id, *it));
        if (found != m_mapping_index.end()) {
            return found->second;
        }
    }
    return std::string_view::npos;
}

std::size_t RuleSet::category_index(std::string_view name) const {
    for (std::size_t i = 0; i < m_categories.size(); ++i) {
        if (m_categories[i] == name) {
            return i;
        }
    }
    return std::string_view::npos;
}

std::string normalize_keyword(std::string_view keyword) {
    return util::to_lower(util::trim(keyword));
}

std::shared_ptr<const RuleSet> default_rules() {
    static const auto rules = [] {
        std::vector<Rule> r{
            {"pop_rule",
             "popolazione",
             10,
             {"popolazione", "popul", "residente", "demografic", "demo", "nascite", "morti",
              "stranieri", "cittadini", "anagrafe", "matrimoni", "divorzi", "migrazioni",
              "natalità", "mortalità"}},
            {"econ_rule",
             "economia",
             9,
             {"pil", "gdp", "economia", "economic", "inflazione", "prezzi", "price", "reddito",
              "income", "consumi", "spesa", "export", "import", "commercio", "bilancia",
              "prodotto_interno"}},
            {"work_rule",
             "lavoro",
             8,
             {"lavoro", "occupazione", "disoccupazione", "employment", "unemploy", "forze_lavoro",
              "attività", "inattivi", "occupati", "cerca_lavoro", "tasso_occupazione"}},
            {"terr_rule",
             "territorio",
             7,
             {"regione", "provincia", "comune", "territorial", "geographic", "territorio",
              "amministrativo", "confini", "enti_locali", "municipalità", "circoscrizione"}},
            {"edu_rule",
             "istruzione",
             6,
             {"istruzione", "scuola", "università", "education", "student", "studenti", "alunni",
              "laureati", "diploma", "formazione", "educazione", "insegnanti", "docenti"}},
            {"health_rule",
             "salute",
             5,
             {"sanita", "salute", "ospedale", "health", "medical", "sanitario", "medico",
              "malattie", "ricoveri", "cure", "farmaci", "prevenzione", "mortalità",
              "cause_morte"}},
        };
        // ISTAT's own themes (categoryscheme IT1:ISTAT_DW, its 19 top-level categories): the
        // topic each maps to and why is in docs/RULES.md.
        std::vector<AgencyCategoryMapping> istat;
        for (auto [category, topic] :
             std::initializer_list<std::pair<const char*, const char*>>{{"6", "economia"},
                                                                        {"9", "territorio"},
                                                                        {"21", "popolazione"},
                                                                        {"30", "economia"},
                                                                        {"36", "salute"},
                                                                        {"45", "economia"},
                                                                        {"52", "istruzione"},
                                                                        {"60", "altri"},
                                                                        {"71", "altri"},
                                                                        {"80", "popolazione"},
                                                                        {"91", "economia"},
                                                                        {"101", "economia"},
                                                                        {"111", "economia"},
                                                                        {"117", "economia"},
                                                                        {"123", "economia"},
                                                                        {"138", "economia"},
                                                                        {"143", "economia"},
                                                                        {"149", "lavoro"},
                                                                        {"729", "territorio"}}) {
            istat.push_back({"IT1", "ISTAT_DW", category, topic});
        }
        return std::make_shared<const RuleSet>(std::move(r), "built-in", std::move(istat));
    }();
    return rules;
}

namespace {

class TomlRuleReader {
public:
    explicit TomlRuleReader(std::string_view source) : m_source(source) {}

    [[noreturn]] void fail(const toml::node* node, const std::string& message) const {
        if (node != nullptr && node->source().begin) {
            throw LocatedError(std::string(m_source), static_cast<int>(node->source().begin.line),
                               static_cast<int>(node->source().begin.column), message);
        }
        throw LocatedError(std::string(m_source), 0, 0, message);
    }

    Rule read_rule(const toml::table& t, std::size_t index) const {
        static constexpr std::string_view known[] = {"id",       "category",    "priority",
                                                     "keywords", "description", "active"};
        for (const auto& [key, value] : t) {
            if (std::find(std::begin(known), std::end(known), key.str()) == std::end(known)) {
                fail(&value, fmt::format("rules[{}]: unknown key '{}' (known keys: id, category, "
                                         "priority, keywords, description, active)",
                                         index, key.str()));
            }
        }
        Rule rule;
        const toml::node* category = t.get("category");
        if (category == nullptr) {
            fail(&t, fmt::format("rules[{}]: missing 'category'", index));
        }
        if (!category->is_string()) {
            fail(category, fmt::format("rules[{}]: 'category' must be a string", index));
        }
        rule.category = std::string(util::trim(category->as_string()->get()));
        if (rule.category.empty()) {
            fail(category, fmt::format("rules[{}]: 'category' is empty", index));
        }
        if (rule.category == k_fallback_category) {
            fail(category, fmt::format("rules[{}]: '{}' is the fallback category for dataflows no "
                                       "rule matches; a rule cannot target it",
                                       index, k_fallback_category));
        }
        if (rule.category.find(',') != std::string::npos) {
            fail(category, fmt::format("rules[{}]: a category name cannot contain ','", index));
        }
        const toml::node* priority = t.get("priority");
        if (priority == nullptr) {
            fail(&t, fmt::format("rules[{}]: missing 'priority'", index));
        }
        if (!priority->is_integer()) {
            fail(priority, fmt::format("rules[{}]: 'priority' must be an integer", index));
        }
        auto p = priority->as_integer()->get();
        if (p < 1 || p > 1'000'000) {
            fail(priority, fmt::format("rules[{}]: 'priority' is {}; it must be a positive integer "
                                       "(1 to 1000000): a rule scores its priority per keyword",
                                       index, p));
        }
        rule.priority = static_cast<int>(p);
        const toml::node* keywords = t.get("keywords");
        if (keywords == nullptr) {
            fail(&t, fmt::format("rules[{}] ('{}'): missing 'keywords'", index, rule.category));
        }
        if (!keywords->is_array()) {
            fail(keywords, fmt::format("rules[{}]: 'keywords' must be a list of strings", index));
        }
        for (const auto& k : *keywords->as_array()) {
            if (!k.is_string()) {
                fail(&k, fmt::format("rules[{}]: every keyword must be a string", index));
            }
            auto norm = normalize_keyword(k.as_string()->get());
            if (!norm.empty()) {
                rule.keywords.push_back(std::move(norm));
            }
        }
        if (rule.keywords.empty()) {
            fail(keywords, fmt::format("rules[{}] ('{}'): 'keywords' is empty; give at least one "
                                       "keyword",
                                       index, rule.category));
        }
        if (static_cast<long long>(rule.priority) * static_cast<long long>(rule.keywords.size()) >
            1'000'000'000LL) {
            fail(keywords, fmt::format("rules[{}]: priority x number of keywords exceeds "
                                       "1000000000; lower the priority",
                                       index));
        }
        if (const toml::node* id = t.get("id")) {
            if (!id->is_string()) {
                fail(id, fmt::format("rules[{}]: 'id' must be a string", index));
            }
            rule.id = id->as_string()->get();
        } else {
            rule.id = fmt::format("rule_{}", index + 1);
        }
        if (const toml::node* d = t.get("description"); d != nullptr && !d->is_string()) {
            fail(d, fmt::format("rules[{}]: 'description' must be a string", index));
        }
        if (const toml::node* a = t.get("active"); a != nullptr && !a->is_boolean()) {
            fail(a, fmt::format("rules[{}]: 'active' must be true or false", index));
        }
        return rule;
    }

    AgencyCategoryMapping read_mapping(const toml::table& t, std::string_view table,
                                       std::size_t index,
                                       const std::vector<std::string>& topics) const {
        static constexpr std::string_view known[] = {"scheme", "category", "topic", "description"};
        for (const auto& [key, value] : t) {
            if (std::find(std::begin(known), std::end(known), key.str()) == std::end(known)) {
                fail(&value, fmt::format("{}[{}]: unknown key '{}' (known keys: scheme, category, "
                                         "topic, description)",
                                         table, index, key.str()));
            }
        }
        if (const toml::node* d = t.get("description"); d != nullptr && !d->is_string()) {
            fail(d, fmt::format("{}[{}]: 'description' must be a string", table, index));
        }
        AgencyCategoryMapping m;
        auto scheme = required_string(t, table, index, "scheme");
        auto colon = scheme.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == scheme.size() ||
            scheme.find_first_of(":(), ", colon + 1) != std::string::npos) {
            fail(t.get("scheme"),
                 fmt::format("{}[{}]: 'scheme' is '{}'; give AGENCY:ID (\"IT1:ISTAT_DW\"), without "
                             "a version: a mapping applies to every version of the scheme",
                             table, index, scheme));
        }
        m.scheme_agency = scheme.substr(0, colon);
        m.scheme_id = scheme.substr(colon + 1);
        if (const toml::node* c = t.get("category"); c != nullptr && c->is_integer()) {
            m.category = std::to_string(c->as_integer()->get()); // category = 21 means "21"
        } else {
            m.category = required_string(t, table, index, "category");
        }
        m.topic = required_string(t, table, index, "topic");
        if (std::find(topics.begin(), topics.end(), m.topic) == topics.end()) {
            std::string valid;
            for (const auto& v : topics) {
                valid += (valid.empty() ? "" : ", ") + v;
            }
            fail(t.get("topic"), fmt::format("{}[{}]: unknown topic '{}'; a mapping's topic is one "
                                             "of the rule set's categories: {}",
                                             table, index, m.topic, valid));
        }
        return m;
    }

private:
    std::string required_string(const toml::table& t, std::string_view table, std::size_t index,
                                std::string_view key) const {
        const toml::node* node = t.get(key);
        if (node == nullptr) {
            fail(&t, fmt::format("{}[{}]: missing '{}'", table, index, key));
        }
        if (!node->is_string()) {
            fail(node, fmt::format("{}[{}]: '{}' must be a string", table, index, key));
        }
        std::string value(util::trim(node->as_string()->get()));
        if (value.empty()) {
            fail(node, fmt::format("{}[{}]: '{}' is empty", table, index, key));
        }
        return value;
    }

    std::string_view m_source;
};

std::vector<AgencyCategoryMapping> read_mappings(const TomlRuleReader& reader,
                                                 const toml::node* node, std::string_view table,
                                                 const std::vector<std::string>& topics) {
    std::vector<AgencyCategoryMapping> out;
    if (node == nullptr) {
        return out;
    }
    if (!node->is_array_of_tables() && !(node->is_array() && node->as_array()->empty())) {
        reader.fail(node, fmt::format("'{}' must be an array of tables ([[{}]])", table, table));
    }
    std::set<std::string, std::less<>> seen;
    std::size_t index = 0;
    for (const auto& item : *node->as_array()) {
        const auto& t = *item.as_table();
        auto m = reader.read_mapping(t, table, index, topics);
        if (!seen.insert(mapping_key(m.scheme_agency, m.scheme_id, m.category)).second) {
            reader.fail(t.get("category"),
                        fmt::format("{}[{}]: category '{}' of {}:{} is mapped twice", table, index,
                                    m.category, m.scheme_agency, m.scheme_id));
        }
        out.push_back(std::move(m));
        ++index;
    }
    return out;
}

} // namespace

std::shared_ptr<const RuleSet> rules_from_toml(const toml::node& rules,
                                               std::string_view source_name,
                                               std::string_view table_name) {
    return rules_from_toml(rules, nullptr, source_name, table_name, "agency_categories");
}

std::shared_ptr<const RuleSet> rules_from_toml(const toml::node& rules,
                                               const toml::node* agency_categories,
                                               std::string_view source_name,
                                               std::string_view table_name,
                                               std::string_view mapping_table_name) {
    TomlRuleReader reader(source_name);
    if (rules.is_array() && rules.as_array()->empty()) {
        reader.fail(&rules, "the rule set is empty; give at least one rule (category, priority, "
                            "keywords)");
    }
    if (!rules.is_array_of_tables()) {
        reader.fail(&rules, fmt::format("'{}' must be an array of tables ([[{}]])", table_name,
                                        table_name));
    }
    std::vector<Rule> out;
    std::size_t index = 0;
    for (const auto& node : *rules.as_array()) {
        const auto& t = *node.as_table();
        Rule r = reader.read_rule(t, index++);
        const toml::node* active = t.get("active");
        if (active == nullptr || active->as_boolean()->get()) {
            out.push_back(std::move(r));
        }
    }
    if (out.empty()) {
        reader.fail(&rules, index == 0 ? "the rule set is empty; give at least one rule "
                                         "(category, priority, keywords)"
                                       : "every rule is inactive; nothing could be categorised");
    }
    auto mappings =
        read_mappings(reader, agency_categories, mapping_table_name, categories_of(out));
    return std::make_shared<const RuleSet>(std::move(out), std::string(source_name),
                                           std::move(mappings));
}

std::shared_ptr<const RuleSet> parse_rules_toml(std::string_view text,
                                                std::string_view source_name) {
    if (auto bad = util::find_invalid_utf8(text)) {
        auto pos = util::position_of(text, *bad);
        throw LocatedError(std::string(source_name), static_cast<int>(pos.line),
                           static_cast<int>(pos.column),
                           fmt::format("invalid UTF-8 at byte offset {}", *bad));
    }
    toml::table doc;
    try {
        doc = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        throw LocatedError(std::string(source_name), static_cast<int>(e.source().begin.line),
                           static_cast<int>(e.source().begin.column), std::string(e.description()));
    }
    TomlRuleReader reader(source_name);
    for (const auto& [key, value] : doc) {
        if (key.str() != "rules" && key.str() != "agency_categories") {
            reader.fail(&value, fmt::format("unknown top-level key '{}'; a rule file holds "
                                            "[[rules]] and [[agency_categories]] tables only",
                                            key.str()));
        }
    }
    const toml::node* rules = doc.get("rules");
    if (rules == nullptr) {
        throw LocatedError(std::string(source_name), 0, 0,
                           "no [[rules]] tables; a rule file needs at least one rule (category, "
                           "priority, keywords)");
    }
    return rules_from_toml(*rules, doc.get("agency_categories"), source_name, "rules",
                           "agency_categories");
}

std::shared_ptr<const RuleSet> load_rules_file(const std::string& path) {
    sdmx::FileSource source(path);
    auto payload = source.fetch(sdmx::ReadLimits{16u * 1024u * 1024u});
    return parse_rules_toml(payload.bytes, path);
}

} // namespace dataflow::analysis

#include "config/sources.hpp"

#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/strings.hpp"
#include "util/units.hpp"
#include "util/url.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

namespace dataflow::config {

namespace {

constexpr std::string_view k_builtin_text =
#include "config/sources_text.inc"
    ;

constexpr std::size_t k_max_file_bytes = 1024 * 1024;
constexpr std::size_t k_max_sources = 1000;

constexpr std::array<std::string_view, 3> k_category_servings{"separate", "references", "none"};
constexpr std::array<std::string_view, 5> k_versions{"1.0", "2.0", "2.1", "3.0", "3.1"};
constexpr std::array<std::string_view, 3> k_formats{"sdmx-ml", "sdmx-json", "sdmx-csv"};
constexpr std::array<std::string_view, 21> k_fields{"name",
                                                    "base_url",
                                                    "other_urls",
                                                    "agency",
                                                    "sdmx_versions",
                                                    "formats",
                                                    "structure_per_minute",
                                                    "structure_burst",
                                                    "data_per_minute",
                                                    "data_burst",
                                                    "shared_budget",
                                                    "conditional_requests",
                                                    "references_on_all",
                                                    "categories",
                                                    "available_constraint",
                                                    "updated_after",
                                                    "last_n_observations",
                                                    "trailing_slash",
                                                    "structure_read_timeout",
                                                    "data_read_timeout",
                                                    "docs"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& names, std::string_view v) {
    return std::find(names.begin(), names.end(), v) != names.end();
}

template <std::size_t N>
std::string list_of(const std::array<std::string_view, N>& names) {
    std::string out;
    for (auto n : names) {
        out += (out.empty() ? "" : ", ") + std::string(n);
    }
    return out;
}

/// Reads one `[sources.ID]` table onto a Source (the base entry, or a new one).
class TableReader {
public:
    TableReader(std::string_view name, std::string id) : m_name(name), m_id(std::move(id)) {}

    [[noreturn]] void fail(const toml::node& node, const std::string& message) const {
        const auto& where = node.source().begin;
        throw LocatedError(std::string(m_name), static_cast<int>(where.line),
                           static_cast<int>(where.column),
                           fmt::format("sources.{}: {}", m_id, message));
    }

    void read(const toml::table& table, Source& s) const {
        for (const auto& [key, value] : table) {
            if (!one_of(k_fields, key.str())) {
                fail(value,
                     fmt::format("unknown field '{}' (known: {})", key.str(), list_of(k_fields)));
            }
        }
        // In the fields' own order, not the table's (toml++ sorts keys): a data budget seeded
        // from the structure budget sees the structure fields of the same table first.
        for (auto field : k_fields) {
            if (const toml::node* value = table.get(field)) {
                read_field(field, *value, s);
            }
        }
    }

private:
    std::string text(const toml::node& v, std::string_view field, std::size_t max = 1024) const {
        if (!v.is_string()) {
            fail(v, fmt::format("'{}' must be a string", field));
        }
        std::string s(util::trim(v.as_string()->get()));
        if (s.size() > max || s.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
            fail(v, fmt::format("'{}' must be one line of at most {} bytes", field, max));
        }
        return s;
    }

    std::string url(const toml::node& v, std::string_view field) const {
        auto s = text(v, field);
        auto parsed = util::parse_url(s, false);
        if (!parsed.url) {
            fail(v, fmt::format("'{}': \"{}\" {}", field, s, parsed.error));
        }
        return s;
    }

    bool boolean(const toml::node& v, std::string_view field) const {
        if (!v.is_boolean()) {
            fail(v, fmt::format("'{}' must be true or false", field));
        }
        return v.as_boolean()->get();
    }

    double number(const toml::node& v, std::string_view field, double min, double max) const {
        if (!v.is_number()) {
            fail(v, fmt::format("'{}' must be a number", field));
        }
        double d = v.is_integer() ? static_cast<double>(v.as_integer()->get())
                                  : v.as_floating_point()->get();
        if (!(d >= min && d <= max)) {
            fail(v, fmt::format("'{}' must be between {} and {}", field, min, max));
        }
        return d;
    }

    std::chrono::milliseconds duration(const toml::node& v, std::string_view field) const {
        auto s = text(v, field, 64);
        auto ms = util::parse_duration_ms(s);
        if (!ms || *ms < 100 || *ms > 6 * 3'600'000LL) {
            fail(v, fmt::format("'{}': \"{}\" is not a duration between 100ms and 6h (e.g. "
                                "\"90s\", \"5m\")",
                                field, s));
        }
        return std::chrono::milliseconds(*ms);
    }

    template <std::size_t N>
    std::vector<std::string> names(const toml::node& v, std::string_view field,
                                   const std::array<std::string_view, N>& allowed) const {
        std::vector<std::string> out;
        if (!v.is_array()) {
            fail(v, fmt::format("'{}' must be an array of strings", field));
        }
        for (const auto& item : *v.as_array()) {
            auto s = text(item, field, 64);
            if (!one_of(allowed, s)) {
                fail(item,
                     fmt::format("'{}': \"{}\" is not one of {}", field, s, list_of(allowed)));
            }
            out.push_back(std::move(s));
        }
        return out;
    }

    void read_field(std::string_view key, const toml::node& v, Source& s) const {
        if (key == "name") {
            s.name = text(v, key, 200);
        } else if (key == "base_url") {
            s.base_url = url(v, key);
        } else if (key == "other_urls") {
            if (!v.is_array()) {
                fail(v, "'other_urls' must be an array of URLs");
            }
            s.other_urls.clear();
            for (const auto& item : *v.as_array()) {
                s.other_urls.push_back(url(item, key));
            }
        } else if (key == "agency") {
            s.agency = text(v, key, 64);
            if (!util::is_sdmx_id(s.agency)) {
                fail(v, fmt::format("'agency': \"{}\" is not an SDMX identifier (letters, "
                                    "digits, _ @ $ -)",
                                    s.agency));
            }
        } else if (key == "sdmx_versions") {
            s.sdmx_versions = names(v, key, k_versions);
        } else if (key == "formats") {
            s.formats = names(v, key, k_formats);
        } else if (key == "structure_per_minute") {
            s.structure_rate.per_minute = number(v, key, 0.01, 6000);
        } else if (key == "structure_burst") {
            s.structure_rate.burst = static_cast<int>(integer(v, key, 1, 100));
        } else if (key == "data_per_minute") {
            data_rate(s).per_minute = number(v, key, 0.01, 6000);
        } else if (key == "data_burst") {
            data_rate(s).burst = static_cast<int>(integer(v, key, 1, 100));
        } else if (key == "shared_budget") {
            if (boolean(v, key)) {
                s.data_rate.reset();
            }
        } else if (key == "conditional_requests") {
            s.conditional_requests = boolean(v, key);
        } else if (key == "references_on_all") {
            s.references_on_all = boolean(v, key);
        } else if (key == "categories") {
            auto c = text(v, key, 64);
            auto at = std::find(k_category_servings.begin(), k_category_servings.end(), c);
            if (at == k_category_servings.end()) {
                fail(v, fmt::format("'categories': \"{}\" is not one of {}", c,
                                    list_of(k_category_servings)));
            }
            s.categories = static_cast<CategoryServing>(at - k_category_servings.begin());
        } else if (key == "available_constraint") {
            s.available_constraint = boolean(v, key);
        } else if (key == "updated_after") {
            s.updated_after = boolean(v, key);
        } else if (key == "last_n_observations") {
            s.last_n_observations = boolean(v, key);
        } else if (key == "trailing_slash") {
            s.trailing_slash = boolean(v, key);
        } else if (key == "structure_read_timeout") {
            s.structure_read_timeout = duration(v, key);
        } else if (key == "data_read_timeout") {
            s.data_read_timeout = duration(v, key);
        } else if (key == "docs") {
            s.docs = url(v, key);
        }
    }

    std::int64_t integer(const toml::node& v, std::string_view field, std::int64_t min,
                         std::int64_t max) const {
        if (!v.is_integer() || v.as_integer()->get() < min || v.as_integer()->get() > max) {
            fail(v, fmt::format("'{}' must be a whole number between {} and {}", field, min, max));
        }
        return v.as_integer()->get();
    }

    static SourceRate& data_rate(Source& s) {
        if (!s.data_rate) {
            s.data_rate = s.structure_rate;
        }
        return *s.data_rate;
    }

    std::string_view m_name;
    std::string m_id;
};

std::string fingerprint_of(const std::vector<Source>& sources) {
    std::string canonical;
    auto add = [&](std::string_view s) {
        canonical += std::to_string(s.size());
        canonical += ':';
        canonical += s;
    };
    for (const auto& s : sources) {
        add(s.id);
        add(s.name);
        add(s.base_url);
        for (const auto& u : s.other_urls) {
            add(u);
        }
        add(s.agency);
        for (const auto& v : s.sdmx_versions) {
            add(v);
        }
        for (const auto& f : s.formats) {
            add(f);
        }
        add(fmt::format("{}/{}", s.structure_rate.per_minute, s.structure_rate.burst));
        add(s.data_rate ? fmt::format("{}/{}", s.data_rate->per_minute, s.data_rate->burst) : "-");
        add(fmt::format("{}{}{}{}{}{}{}", s.conditional_requests, s.references_on_all,
                        to_string(s.categories), s.available_constraint, s.updated_after,
                        s.last_n_observations, s.trailing_slash));
        add(s.structure_read_timeout ? std::to_string(s.structure_read_timeout->count()) : "-");
        add(s.data_read_timeout ? std::to_string(s.data_read_timeout->count()) : "-");
        add(s.docs);
    }
    return util::sha256_hex(canonical);
}

} // namespace

std::string_view to_string(CategoryServing serving) {
    return k_category_servings.at(static_cast<std::size_t>(serving));
}

SourceRegistry::SourceRegistry(std::vector<Source> sources, std::string origin)
    : m_sources(std::move(sources)), m_origin(std::move(origin)),
      m_fingerprint(fingerprint_of(m_sources)) {}

const Source* SourceRegistry::find(std::string_view id) const {
    for (const auto& s : m_sources) {
        if (util::ascii_lower(s.id) == util::ascii_lower(id)) {
            return &s;
        }
    }
    return nullptr;
}

std::string SourceRegistry::ids() const {
    std::string out;
    for (const auto& s : m_sources) {
        out += (out.empty() ? "" : ", ") + s.id;
    }
    return out;
}

std::shared_ptr<const SourceRegistry>
sources_from_toml(std::string_view text, std::string_view name, const SourceRegistry& base) {
    toml::table doc;
    try {
        doc = toml::parse(text, name);
    } catch (const toml::parse_error& e) {
        throw LocatedError(std::string(name), static_cast<int>(e.source().begin.line),
                           static_cast<int>(e.source().begin.column), std::string(e.description()));
    }
    std::vector<Source> sources = base.all();
    for (const auto& [key, value] : doc) {
        if (key.str() != "sources" || !value.is_table()) {
            const auto& where = value.source().begin;
            throw LocatedError(std::string(name), static_cast<int>(where.line),
                               static_cast<int>(where.column),
                               fmt::format("unexpected '{}': a sources file holds [sources.ID] "
                                           "tables only",
                                           key.str()));
        }
    }
    const auto* tables = doc["sources"].as_table();
    if (tables == nullptr) {
        return std::make_shared<const SourceRegistry>(std::move(sources), base.origin());
    }
    for (const auto& [key, value] : *tables) {
        std::string id(key.str());
        TableReader reader(name, id);
        if (!util::is_sdmx_id(id) || id.size() > 32) {
            reader.fail(value, "a source id is 1 to 32 letters, digits, _ @ $ -");
        }
        if (!value.is_table()) {
            reader.fail(value, "must be a table ([sources." + id + "])");
        }
        auto at = std::find_if(sources.begin(), sources.end(), [&](const Source& s) {
            return util::ascii_lower(s.id) == util::ascii_lower(id);
        });
        bool added = at == sources.end();
        if (added) {
            if (sources.size() >= k_max_sources) {
                reader.fail(value, fmt::format("more than {} sources", k_max_sources));
            }
            Source fresh;
            fresh.id = id;
            sources.push_back(std::move(fresh));
            at = sources.end() - 1;
        }
        reader.read(*value.as_table(), *at);
        const auto& where = value.source().begin;
        at->origin = fmt::format("{}:{}", name, where.line);
        if (added && (at->base_url.empty() || at->agency.empty())) {
            reader.fail(value, "a new source needs at least base_url and agency");
        }
        if (at->name.empty()) {
            at->name = at->id;
        }
    }
    auto origin = base.origin() == "built-in" && name == "built-in"
                      ? std::string("built-in")
                      : fmt::format("{} + {}", base.origin(), name);
    return std::make_shared<const SourceRegistry>(std::move(sources), std::move(origin));
}

std::string_view builtin_sources_text() {
    return k_builtin_text;
}

std::shared_ptr<const SourceRegistry> builtin_sources() {
    static const auto registry = [] {
        SourceRegistry empty({}, "built-in");
        auto r = sources_from_toml(k_builtin_text, "built-in", empty);
        std::vector<Source> sources = r->all();
        for (auto& s : sources) {
            s.origin = "built-in";
        }
        return std::make_shared<const SourceRegistry>(std::move(sources), "built-in");
    }();
    return registry;
}

std::shared_ptr<const SourceRegistry> load_sources_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw InputError(path + ": cannot read the sources file; check the path in "
                                "upstream.sources_file");
    }
    std::string text;
    text.resize(k_max_file_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > k_max_file_bytes) {
        throw InputError(path + ": larger than 1 MiB; a sources file holds a few tables");
    }
    return sources_from_toml(text, path, *builtin_sources());
}

} // namespace dataflow::config

// The test oracle: the SDMX-JSON structure reader as it was before the SAX reader
// (lib/sdmx/json_reader.cpp) replaced it, kept verbatim but for its namespace and name. It reads
// through an ordered_json DOM; test_json_reader.cpp checks that both agree on every input.

#include "unit/json_dom_oracle.hpp"

#include "sdmx/categories.hpp"
#include "util/error.hpp"
#include "util/json_depth.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace dataflow::test {

using namespace dataflow::sdmx;

namespace {

using Json = nlohmann::ordered_json;

/// Depth check before parsing, so that a 100,000-deep document is refused with its position
/// instead of being built.
void check_depth(std::string_view text, std::string_view name, std::size_t max_depth) {
    if (auto at = util::json_depth_exceeded_at(text, max_depth)) {
        auto pos = util::position_of(text, *at);
        throw InputError(
            fmt::format("{}:{}:{}: JSON nested deeper than {} levels; SDMX-JSON structure messages "
                        "are shallow, so this document is refused",
                        name, pos.line, pos.column, max_depth));
    }
}

class JsonCatalogReader {
public:
    explicit JsonCatalogReader(std::string_view name) : m_name(name) {}

    Catalog read(const Json& doc);

private:
    [[noreturn]] void type_error(const std::string& path, std::string_view expected) const {
        throw InputError(fmt::format("{}: {}: expected {}; the document is not valid SDMX-JSON",
                                     m_name, path, expected));
    }

    std::string get_string(const Json& obj, const char* key, const std::string& path) const {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            return {};
        }
        if (!it->is_string()) {
            type_error(path + "." + key, "a string");
        }
        return it->get<std::string>();
    }

    void read_texts(const Json& obj, const char* single, const char* multi, const std::string& path,
                    std::vector<LocalizedText>& out) const {
        auto it = obj.find(multi);
        if (it != obj.end() && !it->is_null()) {
            if (!it->is_object()) {
                type_error(path + "." + multi, "an object of language -> text");
            }
            for (const auto& [lang, text] : it->items()) {
                if (!text.is_string()) {
                    type_error(path + "." + multi + "." + lang, "a string");
                }
                out.push_back({lang, text.get<std::string>()});
            }
            return;
        }
        auto s = get_string(obj, single, path);
        if (!s.empty()) {
            out.push_back({m_default_lang, std::move(s)});
        }
    }

    Dataflow read_dataflow(const Json& j, const std::string& path) const;
    void read_categories(const Json& j, const std::string& path, std::vector<Category>& out) const;
    void read_category_structures(const Json& data, Catalog& catalog) const;

    /// The array at data.`key`, or nullptr when absent; a type error when not an array.
    const Json* array_at(const Json& data, const char* key) const {
        auto it = data.find(key);
        if (it == data.end()) {
            return nullptr;
        }
        if (!it->is_array()) {
            type_error(fmt::format("data.{}", key), "an array");
        }
        return &*it;
    }

    std::string_view m_name;
    std::string m_default_lang;
};

/// Whether `data` holds any of the structures read here (an empty list counts: an agency with
/// no dataflows answers with one).
bool holds_structures(const Json& data) {
    return data.is_object() && (data.contains("dataflows") || data.contains("categorySchemes") ||
                                data.contains("categorisations"));
}

std::string list_keys(const Json& obj) {
    std::string out;
    for (const auto& [k, v] : obj.items()) {
        if (v.is_array()) {
            out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", k, v.size());
        }
    }
    return out;
}

Catalog JsonCatalogReader::read(const Json& doc) {
    if (!doc.is_object()) {
        throw InputError(fmt::format(
            "{}: JSON that is not SDMX: the top level is {}, not an object with data.dataflows",
            m_name, doc.type_name()));
    }
    auto data_it = doc.find("data");
    bool has_flows = data_it != doc.end() && holds_structures(*data_it);
    if (auto e = doc.find("errors"); e != doc.end() && e->is_array() && !e->empty() && !has_flows) {
        std::string detail;
        for (const auto& err : *e) {
            if (!err.is_object()) {
                continue;
            }
            std::string code = err.contains("code") ? err["code"].dump() : "?";
            std::string title;
            for (const char* key : {"title", "detail"}) {
                if (auto t = err.find(key); title.empty() && t != err.end() && t->is_string()) {
                    title = t->get<std::string>();
                }
            }
            detail += fmt::format("{}[code {}] {}", detail.empty() ? "" : "; ", code, title);
        }
        throw InputError(fmt::format(
            "{}: the server answered with an SDMX-JSON error message, not a dataflow list: {}",
            m_name, detail.empty() ? std::string("(no error text)") : detail));
    }
    auto data = doc.find("data");
    bool is_data_message = doc.contains("dataSets") ||
                           (data != doc.end() && data->is_object() && data->contains("dataSets"));
    if (is_data_message) {
        throw InputError(
            fmt::format("{}: this is an SDMX-JSON data message (dataSets), not a "
                        "dataflow list; analyze reads the answer to /dataflow/{{agency}}",
                        m_name));
    }
    if (data == doc.end() || !data->is_object()) {
        throw InputError(fmt::format(
            "{}: JSON that is not SDMX: no \"data\" object with \"dataflows\"; expected an "
            "SDMX-JSON structure message (the answer to /dataflow/{{agency}})",
            m_name));
    }
    std::string prepared;
    if (auto meta = doc.find("meta"); meta != doc.end() && meta->is_object()) {
        if (auto p = meta->find("prepared"); p != meta->end() && p->is_string()) {
            prepared = std::string(util::trim(p->get_ref<const std::string&>()));
        }
        if (auto langs = meta->find("contentLanguages"); langs != meta->end() &&
                                                         langs->is_array() && !langs->empty() &&
                                                         langs->front().is_string()) {
            m_default_lang = langs->front().get<std::string>();
        }
    }
    if (!holds_structures(*data)) {
        auto held = list_keys(*data);
        throw InputError(fmt::format(
            "{}: this SDMX-JSON structure message holds no dataflows ({}); expected the answer to "
            "/dataflow/{{agency}}",
            m_name, held.empty() ? "it is empty" : "it holds " + held));
    }
    Catalog catalog;
    catalog.format = "SDMX-JSON 2.0";
    catalog.prepared = std::move(prepared);
    if (const Json* flows = array_at(*data, "dataflows")) {
        catalog.dataflows.reserve(flows->size());
        std::size_t i = 0;
        for (const auto& j : *flows) {
            auto path = fmt::format("data.dataflows[{}]", i++);
            if (!j.is_object()) {
                type_error(path, "an object");
            }
            catalog.dataflows.push_back(read_dataflow(j, path));
        }
    }
    read_category_structures(*data, catalog);
    derive_annotation_facts(catalog);
    return catalog;
}

void JsonCatalogReader::read_category_structures(const Json& data, Catalog& catalog) const {
    if (const Json* schemes = array_at(data, "categorySchemes")) {
        std::size_t i = 0;
        for (const auto& j : *schemes) {
            auto path = fmt::format("data.categorySchemes[{}]", i++);
            if (!j.is_object()) {
                type_error(path, "an object");
            }
            CategoryScheme scheme;
            scheme.id = get_string(j, "id", path);
            scheme.agency_id = get_string(j, "agencyID", path);
            scheme.version = get_string(j, "version", path);
            read_texts(j, "name", "names", path, scheme.names);
            read_categories(j, path, scheme.categories);
            catalog.category_schemes.push_back(std::move(scheme));
        }
    }
    if (const Json* links = array_at(data, "categorisations")) {
        std::size_t i = 0;
        for (const auto& j : *links) {
            auto path = fmt::format("data.categorisations[{}]", i++);
            if (!j.is_object()) {
                type_error(path, "an object");
            }
            Categorisation c;
            c.id = get_string(j, "id", path);
            c.agency_id = get_string(j, "agencyID", path);
            c.version = get_string(j, "version", path);
            parse_dataflow_urn(get_string(j, "source", path), c);
            parse_category_urn(get_string(j, "target", path), c);
            catalog.categorisations.push_back(std::move(c));
        }
    }
}

/// The nested `categories[]` of a scheme or category; the depth was bounded before parsing.
void JsonCatalogReader::read_categories(const Json& j, const std::string& path,
                                        std::vector<Category>& out) const {
    auto it = j.find("categories");
    if (it == j.end() || it->is_null()) {
        return;
    }
    if (!it->is_array()) {
        type_error(path + ".categories", "an array");
    }
    std::size_t i = 0;
    for (const auto& c : *it) {
        auto cpath = fmt::format("{}.categories[{}]", path, i++);
        if (!c.is_object()) {
            type_error(cpath, "an object");
        }
        Category category;
        category.id = get_string(c, "id", cpath);
        read_texts(c, "name", "names", cpath, category.names);
        read_categories(c, cpath, category.children);
        out.push_back(std::move(category));
    }
}

Dataflow JsonCatalogReader::read_dataflow(const Json& j, const std::string& path) const {
    Dataflow flow;
    flow.id = get_string(j, "id", path);
    flow.agency_id = get_string(j, "agencyID", path);
    flow.version = get_string(j, "version", path);
    flow.urn = get_string(j, "urn", path);
    if (auto f = j.find("isFinal"); f != j.end() && f->is_boolean()) {
        flow.is_final = f->get<bool>();
    }
    read_texts(j, "name", "names", path, flow.names);
    read_texts(j, "description", "descriptions", path, flow.descriptions);
    if (auto s = j.find("structure"); s != j.end() && s->is_string()) {
        flow.structure.urn = s->get<std::string>();
        parse_structure_urn(flow.structure.urn, flow.structure);
    }
    if (auto links = j.find("links"); flow.urn.empty() && links != j.end() && links->is_array()) {
        for (const auto& l : *links) {
            auto rel = l.is_object() ? l.find("rel") : l.end();
            if (l.is_object() && rel != l.end() && rel->is_string() && *rel == "self" &&
                l.contains("urn") && l["urn"].is_string()) {
                flow.urn = l["urn"].get<std::string>();
            }
        }
    }
    if (auto anns = j.find("annotations"); anns != j.end() && !anns->is_null()) {
        if (!anns->is_array()) {
            type_error(path + ".annotations", "an array");
        }
        std::size_t k = 0;
        for (const auto& a : *anns) {
            auto apath = fmt::format("{}.annotations[{}]", path, k++);
            if (!a.is_object()) {
                type_error(apath, "an object");
            }
            Annotation ann;
            ann.id = get_string(a, "id", apath);
            ann.title = get_string(a, "title", apath);
            ann.type = get_string(a, "type", apath);
            if (auto v = a.find("value"); ann.title.empty() && v != a.end() && v->is_string()) {
                ann.title = v->get<std::string>();
            }
            read_texts(a, "text", "texts", apath, ann.texts);
            flow.annotations.push_back(std::move(ann));
        }
    }
    return flow;
}

} // namespace

Catalog read_catalog_json_dom(std::string_view bytes, std::string_view source_name,
                              const ReadOptions& options) {
    std::string_view text = bytes;
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3);
    }
    check_depth(text, source_name, options.max_depth);
    Json doc;
    try {
        doc = Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
        std::size_t off = e.byte > 0 ? e.byte - 1 : 0;
        auto pos = util::position_of(text, off);
        std::string what = e.what();
        auto col = what.find("column");
        auto colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
        std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
        throw InputError(
            fmt::format("{}:{}:{}: malformed JSON: {}", source_name, pos.line, pos.column, detail));
    } catch (const Json::out_of_range&) {
        // Found by fuzzing: a number beyond double's range ("1e999") is not a parse_error.
        throw InputError(fmt::format(
            "{}: malformed JSON: a number too large to represent; SDMX-JSON structure messages "
            "hold no such numbers",
            source_name));
    } catch (const Json::exception& e) {
        throw InputError(fmt::format("{}: malformed JSON: {}", source_name,
                                     std::string(e.what()).substr(0, 200)));
    }
    try {
        return JsonCatalogReader(source_name).read(doc);
    } catch (const Json::exception& e) {
        // A field of an unexpected type that the reader did not check by name.
        throw InputError(fmt::format("{}: not valid SDMX-JSON: {}", source_name, e.what()));
    }
}

} // namespace dataflow::test

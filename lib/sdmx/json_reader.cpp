// SDMX-JSON 2.0 structure reader (`data.dataflows[]`, `data.categorySchemes[]`,
// `data.categorisations[]`, `names{lang: text}`): nlohmann's SAX parser streams the document
// into the catalogue (sdmx/json_sax.hpp), then the message-level checks run in a fixed order.

#include "sdmx/json_sax.hpp"
#include "sdmx/reader.hpp"
#include "util/error.hpp"
#include "util/json_depth.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <limits>

namespace dataflow::sdmx {

namespace {

using json_sax::Json;
using json_sax::Kind;

/// The depth bound: the first `{` or `[` (outside strings) that opens level max_depth + 1, found
/// by a linear scan of the text, so that a 100,000-deep document is refused with its position
/// (however the rest of it is broken) and never built.
void check_depth(std::string_view text, std::string_view name, std::size_t max_depth) {
    if (auto at = util::json_depth_exceeded_at(text, max_depth)) {
        auto pos = util::position_of(text, *at);
        throw InputError(
            fmt::format("{}:{}:{}: JSON nested deeper than {} levels; SDMX-JSON structure messages "
                        "are shallow, so this document is refused",
                        name, pos.line, pos.column, max_depth));
    }
}

[[noreturn]] void parse_failed(const json_sax::ParseFailure& failure, std::string_view text,
                               std::string_view name) {
    using Type = json_sax::ParseFailure::Type;
    if (failure.type == Type::parse) {
        std::size_t off = failure.byte > 0 ? failure.byte - 1 : 0;
        auto pos = util::position_of(text, off);
        const std::string& what = failure.what;
        auto col = what.find("column");
        auto colon = col == std::string::npos ? std::string::npos : what.find(": ", col);
        std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
        throw InputError(
            fmt::format("{}:{}:{}: malformed JSON: {}", name, pos.line, pos.column, detail));
    }
    if (failure.type == Type::out_of_range) {
        // Found by fuzzing: a number beyond double's range ("1e999") is not a parse_error.
        throw InputError(fmt::format(
            "{}: malformed JSON: a number too large to represent; SDMX-JSON structure messages "
            "hold no such numbers",
            name));
    }
    throw InputError(fmt::format("{}: malformed JSON: {}", name, failure.what.substr(0, 200)));
}

[[noreturn]] void type_error(std::string_view name, const json_sax::TypeError& error) {
    throw InputError(fmt::format("{}: {}: expected {}; the document is not valid SDMX-JSON", name,
                                 error.path, error.expected));
}

std::string_view type_name(Kind kind) {
    switch (kind) {
    case Kind::null:
        return "null";
    case Kind::boolean:
        return "boolean";
    case Kind::number:
        return "number";
    case Kind::string:
        return "string";
    case Kind::array:
        return "array";
    default:
        return "object";
    }
}

/// Whether `data` holds any of the structures read here (an empty list counts: an agency with
/// no dataflows answers with one).
bool holds_structures(const json_sax::Parsed& p) {
    return p.flows_kind != Kind::absent || p.schemes_kind != Kind::absent ||
           p.links_kind != Kind::absent;
}

std::string list_keys(const json_sax::Parsed& p) {
    std::string out;
    for (const auto& k : p.data_keys) {
        if (k.array_size) {
            out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", k.name, *k.array_size);
        }
    }
    return out;
}

[[noreturn]] void error_message(const Json& errors, std::string_view name) {
    std::string detail;
    for (const auto& err : errors) {
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
        "{}: the server answered with an SDMX-JSON error message, not a dataflow list: {}", name,
        detail.empty() ? std::string("(no error text)") : detail));
}

/// data.`key` must be an array when present, and its records well-typed.
void check_array(Kind kind, const json_sax::MaybeError& first, const char* key,
                 std::string_view name) {
    if (kind != Kind::absent && kind != Kind::array) {
        type_error(name, {fmt::format("data.{}", key), "an array"});
    }
    if (first) {
        type_error(name, *first);
    }
}

void set_language(std::vector<LocalizedText>& texts, const std::string& lang) {
    for (auto& t : texts) {
        if (t.lang == json_sax::Parsed::k_stand_in_language) {
            t.lang = lang;
        }
    }
}

void set_language(std::vector<Category>& categories, const std::string& lang) {
    for (auto& c : categories) {
        set_language(c.names, lang);
        set_language(c.children, lang);
    }
}

/// Gives the texts read from single strings the message's first content language.
void set_default_language(Catalog& catalog, const std::string& lang) {
    for (auto& flow : catalog.dataflows) {
        set_language(flow.names, lang);
        set_language(flow.descriptions, lang);
        for (auto& a : flow.annotations) {
            set_language(a.texts, lang);
        }
    }
    for (auto& scheme : catalog.category_schemes) {
        set_language(scheme.names, lang);
        set_language(scheme.categories, lang);
    }
}

/// The message-level checks, in order, then the catalogue.
Catalog finish(json_sax::Parsed& p, std::string_view name) {
    if (p.root != Kind::object) {
        throw InputError(fmt::format(
            "{}: JSON that is not SDMX: the top level is {}, not an object with data.dataflows",
            name, type_name(p.root)));
    }
    bool data_object = p.data == Kind::object;
    if (p.errors.is_array() && !p.errors.empty() && !(data_object && holds_structures(p))) {
        error_message(p.errors, name);
    }
    if (p.root_has_datasets || (data_object && p.has_data_key("dataSets"))) {
        throw InputError(
            fmt::format("{}: this is an SDMX-JSON data message (dataSets), not a "
                        "dataflow list; analyze reads the answer to /dataflow/{{agency}}",
                        name));
    }
    if (!data_object) {
        throw InputError(fmt::format(
            "{}: JSON that is not SDMX: no \"data\" object with \"dataflows\"; expected an "
            "SDMX-JSON structure message (the answer to /dataflow/{{agency}})",
            name));
    }
    bool meta_object = p.meta == Kind::object;
    if (!holds_structures(p)) {
        auto held = list_keys(p);
        throw InputError(fmt::format(
            "{}: this SDMX-JSON structure message holds no dataflows ({}); expected the answer to "
            "/dataflow/{{agency}}",
            name, held.empty() ? std::string("it is empty") : fmt::format("it holds {}", held)));
    }
    check_array(p.flows_kind, p.flows_error, "dataflows", name);
    check_array(p.schemes_kind, p.schemes_error, "categorySchemes", name);
    check_array(p.links_kind, p.links_error, "categorisations", name);
    Catalog catalog;
    catalog.format = "SDMX-JSON 2.0";
    if (meta_object && p.prepared.kind == Kind::string) {
        catalog.prepared = std::string(util::trim(p.prepared.value));
    }
    catalog.dataflows = std::move(p.flows);
    catalog.category_schemes = std::move(p.schemes);
    catalog.categorisations = std::move(p.links);
    if (p.stand_ins > 0) {
        set_default_language(catalog, meta_object && p.first_language ? *p.first_language : "");
    }
    derive_annotation_facts(catalog);
    return catalog;
}

} // namespace

Catalog read_catalog_json(std::string_view bytes, std::string_view source_name,
                          const ReadOptions& options) {
    std::string_view text = bytes;
    if (text.starts_with("\xEF\xBB\xBF")) {
        text.remove_prefix(3);
    }
    for (std::size_t limit = options.max_depth;;) {
        json_sax::Parsed parsed;
        json_sax::Handler handler(parsed, limit);
        bool ok = json_sax::SaxJson::sax_parse(text.begin(), text.end(), &handler);
        if (!ok || handler.too_deep()) {
            // The depth bound goes first, wherever the document breaks: the scan runs when the
            // parse stopped, and names the first place that nests too deep.
            check_depth(text, source_name, options.max_depth);
        }
        if (handler.too_deep()) {
            // The parser went deeper than the bound where the scan saw no such depth: it cannot
            // (both count the same brackets of the text the parser accepted), but should it,
            // read again without the bound rather than guess.
            limit = std::numeric_limits<std::size_t>::max();
            continue;
        }
        if (!ok) {
            parse_failed(handler.failure(), text, source_name);
        }
        try {
            return finish(parsed, source_name);
        } catch (const Json::exception& e) {
            // Dumping an error code that the parser accepted cannot fail; kept as a last resort.
            throw InputError(fmt::format("{}: not valid SDMX-JSON: {}", source_name, e.what()));
        }
    }
}

} // namespace dataflow::sdmx

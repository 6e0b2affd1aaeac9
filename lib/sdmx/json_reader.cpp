// SDMX-JSON 2.0 structure reader (`data.dataflows[]`, `data.categorySchemes[]`,
// `data.categorisations[]`, `names{lang: text}`): RapidJSON's SAX reader streams the document
// into the catalogue (sdmx/json_sax.hpp), then the message-level checks run in a fixed order.
// It reads exactly what nlohmann-json 3.11 read before it (numbers as nlohmann converted them,
// lone surrogates refused; like nlohmann, it takes a NUL byte for the end of the input) and
// reports where it stopped.

#include "sdmx/json_sax.hpp"
#include "sdmx/reader.hpp"
#include "util/error.hpp"
#include "util/json_depth.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
// RapidJSON's SSE2 scanning of strings and whitespace, on a NUL-terminated text only (a
// rapidjson::StringStream, below). It reads whole aligned 16-byte blocks, which may run past the
// terminating NUL within its block: harmless (never across a page, nor past malloc's 16-byte
// chunk), but AddressSanitizer and ThreadSanitizer report it, so those builds go without.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DATAFLOW_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DATAFLOW_SANITIZED 1
#endif
#if defined(__SSE2__) && !defined(DATAFLOW_SANITIZED)
#define RAPIDJSON_SSE2
#endif
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stream.h>
#include <utility>
#include <vector>

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

/// What RapidJSON found wrong at `at`, in words (its own GetParseError_En() texts are terse).
std::string syntax_error(rapidjson::ParseErrorCode code, std::string_view text, std::size_t at) {
    using namespace rapidjson;
    switch (code) {
    case kParseErrorDocumentEmpty:
        return "the document is empty";
    case kParseErrorDocumentRootNotSingular:
        return "more text after the top-level value";
    case kParseErrorValueInvalid:
        return "expected a value (a string, number, object, array, true, false or null)";
    case kParseErrorObjectMissName:
        return "expected a member name (a string in double quotes)";
    case kParseErrorObjectMissColon:
        return "expected ':' after a member name";
    case kParseErrorObjectMissCommaOrCurlyBracket:
        return "expected ',' or '}' after an object member";
    case kParseErrorArrayMissCommaOrSquareBracket:
        return "expected ',' or ']' after an array element";
    case kParseErrorStringUnicodeEscapeInvalidHex:
        return "a \\u escape needs four hexadecimal digits";
    case kParseErrorStringUnicodeSurrogateInvalid:
        return "a \\uD800-\\uDBFF escape must be followed by a \\uDC00-\\uDFFF one";
    case kParseErrorStringEscapeInvalid: // (RapidJSON's word for a raw control character too)
        return at < text.size() && text[at] == '\\'
                   ? "invalid escape in a string"
                   : "a control character in a string (it must be written as a \\u escape)";
    case kParseErrorStringMissQuotationMark:
        return "a string without its closing quote";
    case kParseErrorStringInvalidEncoding:
        return "invalid UTF-8 in a string";
    case kParseErrorNumberMissFraction:
        return "a digit must follow a number's decimal point";
    case kParseErrorNumberMissExponent:
        return "a number's exponent has no digits";
    default:
        return GetParseError_En(code);
    }
}

[[noreturn]] void malformed(std::string_view text, std::size_t offset, std::string_view name,
                            std::string_view what) {
    auto pos = util::position_of(text, std::min(offset, text.size()));
    throw InputError(fmt::format("{}:{}:{}: malformed JSON: {}", name, pos.line, pos.column, what));
}

[[noreturn]] void number_too_big(std::string_view name) {
    // Found by fuzzing: a number beyond double's range ("1e999").
    throw InputError(fmt::format(
        "{}: malformed JSON: a number too large to represent; SDMX-JSON structure messages "
        "hold no such numbers",
        name));
}

/// The escape of the first lone low surrogate in the string that ends before `end` (RapidJSON
/// stops the parse after the string's closing quote).
std::size_t lone_surrogate_at(std::string_view text, std::size_t end) {
    std::size_t open = end > 0 ? end - 1 : 0; // the closing quote
    while (open > 0) {
        --open;
        std::size_t slashes = 0;
        while (open >= slashes + 1 && text[open - slashes - 1] == '\\') {
            ++slashes;
        }
        if (text[open] == '"' && slashes % 2 == 0) {
            break;
        }
    }
    auto hex = [&](std::size_t at) {
        return std::strtoul(std::string(text.substr(at, 4)).c_str(), nullptr, 16);
    };
    bool after_high = false;
    for (std::size_t at = open + 1; at + 5 < end; ++at) {
        if (text[at] != '\\') {
            after_high = false;
            continue;
        }
        if (text[at + 1] != 'u') {
            after_high = false;
            ++at;
            continue;
        }
        auto unit = hex(at + 2);
        if (unit >= 0xDC00 && unit <= 0xDFFF && !after_high) {
            return at;
        }
        after_high = unit >= 0xD800 && unit <= 0xDBFF;
        at += 5;
    }
    return end;
}

/// The JSON number that starts at `at` (RapidJSON's offset for kParseErrorNumberTooBig).
std::string_view number_at(std::string_view text, std::size_t at) {
    std::size_t end = at;
    auto digits = [&] {
        while (end < text.size() && text[end] >= '0' && text[end] <= '9') {
            ++end;
        }
    };
    if (end < text.size() && text[end] == '-') {
        ++end;
    }
    digits();
    if (end < text.size() && text[end] == '.') {
        ++end;
        digits();
    }
    if (end < text.size() && (text[end] == 'e' || text[end] == 'E')) {
        ++end;
        if (end < text.size() && (text[end] == '+' || text[end] == '-')) {
            ++end;
        }
        digits();
    }
    return text.substr(at, end - at);
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
Catalog finish(json_sax::Parsed& p, std::string_view name, unsigned threads) {
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
    derive_annotation_facts(catalog, threads);
    return catalog;
}

/// How many finite numbers RapidJSON refuses (0e999) a document may hold: see below.
constexpr std::size_t k_refused_numbers = 16;

/// One parse of `text` into `parsed`; the error and its offset when it stopped.
struct Attempt {
    rapidjson::ParseResult result;
    json_sax::Stop stopped = json_sax::Stop::none;
    std::size_t number = 0; ///< the numbers met before it stopped
};

/// Whether `text` may hold a \uDC00-\uDFFF escape: a backslash, 'u', then D and C-F (either
/// case). When it cannot, no decoded string needs the check for a lone surrogate.
bool escapes_low_surrogate(std::string_view text) {
    for (auto at = text.find('\\'); at != std::string_view::npos; at = text.find('\\', at + 1)) {
        if (at + 3 < text.size() && text[at + 1] == 'u' && (text[at + 2] | 0x20) == 'd' &&
            (text[at + 3] | 0x20) >= 'c' && (text[at + 3] | 0x20) <= 'f') {
            return true;
        }
    }
    return false;
}

// Iterative: no recursion however deep (the handler bounds the depth). Numbers as text, so that
// they are converted as nlohmann-json did.
constexpr unsigned k_flags = rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;

/// One RapidJSON parse; UTF-8 is checked in strings unless the caller checked the whole input
/// (read_catalog() does; a direct caller may not have).
template <unsigned Extra, class Stream>
rapidjson::ParseResult run(rapidjson::Reader& reader, Stream& stream, json_sax::Handler& handler,
                           const ReadOptions& options) {
    return options.utf8_checked
               ? reader.Parse<k_flags | Extra>(stream, handler)
               : reader.Parse<k_flags | Extra | rapidjson::kParseValidateEncodingFlag>(stream,
                                                                                       handler);
}

bool json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// ---- two readers of one document ---------------------------------------------------------------
//
// A large SDMX-JSON message on two threads (ReadOptions::threads), as the SDMX-ML reader does
// (xml_stream_split.cpp): the second reader reads the elements of `data.dataflows` from one past
// halfway to the end of the array, one RapidJSON parse per element; the first reads the whole
// document, and when the element just before that one ends, with the stream at its `}` and no
// type error among the flows so far, it takes the second's flows and moves its stream to the
// `]` that ends the array. Elements are read the same wherever the reading starts
// (each is one object; only error paths hold its index, and the second reader's result is used
// only when it met no error, no number RapidJSON refuses and no lone surrogate), so the result
// is the one-reader result. Anywhere else, or when the second reader gave up, the first reads on.

/// Where the second reader starts: `start` at the `{` of an element, `after` just after the
/// `}` that ends the element before it.
struct JsonSplit {
    std::size_t after = 0;
    std::size_t start = 0;
};

/// Whether the object at `text[at]` has a top-level key that only a dataflow has (agencyID,
/// isFinal, structure): an annotation, a link or a name object has none. A guess that the first
/// reader checks; false when unsure (a string or object too long to look at).
bool looks_like_flow(std::string_view text, std::size_t at) {
    const std::size_t end = std::min(text.size(), at + (std::size_t{256} << 10));
    int depth = 0;
    for (std::size_t i = at; i < end; ++i) {
        const char c = text[i];
        if (c == '"') {
            const std::size_t from = ++i;
            while (i < end && text[i] != '"') {
                i += text[i] == '\\' ? 2 : 1;
            }
            if (i >= end) {
                return false;
            }
            std::size_t j = i + 1;
            while (j < end && json_space(text[j])) {
                ++j;
            }
            const auto key = text.substr(from, i - from);
            if (depth == 1 && j < end && text[j] == ':' &&
                (key == "agencyID" || key == "isFinal" || key == "structure")) {
                return true;
            }
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return false;
        }
    }
    return false;
}

/// A `}`, `,` and `{` (whitespace between) a little past halfway, where the object looks like a
/// dataflow; nullopt when none is found among the first candidates.
std::optional<JsonSplit> find_split(std::string_view text) {
    std::size_t from = text.size() * 54 / 100; // see xml_stream_split.cpp
    for (int candidate = 0; candidate < 256; ++candidate) {
        const std::size_t close = text.find('}', from);
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        from = close + 1;
        std::size_t i = close + 1;
        while (i < text.size() && json_space(text[i])) {
            ++i;
        }
        if (i >= text.size() || text[i] != ',') {
            continue;
        }
        ++i;
        while (i < text.size() && json_space(text[i])) {
            ++i;
        }
        if (i < text.size() && text[i] == '{' && looks_like_flow(text, i)) {
            return JsonSplit{close + 1, i};
        }
    }
    return std::nullopt;
}

/// What the second reader read: its flows, how many elements and numbers, where the array ends.
struct Rest {
    json_sax::Parsed parsed;
    std::size_t elements = 0;
    std::size_t numbers = 0;
    std::size_t end = 0; ///< the offset of the `]`
};

/// The second reader: the elements of `data.dataflows` from `start` (NUL-terminated text) to the
/// end of the array; nullopt at anything the first reader would not read the same.
std::optional<Rest> read_rest(std::string_view text, std::size_t start, std::size_t max_depth,
                              bool surrogates, const ReadOptions& options,
                              const util::Handoff<Rest>& handoff) {
    std::optional<Rest> out(std::in_place);
    json_sax::Handler handler(out->parsed, max_depth, options.all_annotations);
    handler.check_surrogates(surrogates);
    handler.begin_flows_fragment();
    rapidjson::StringStream stream(text.data() + start);
    rapidjson::Reader reader;
    const char* end = text.data() + text.size();
    for (;;) {
        if (handoff.cancelled()) {
            return std::nullopt;
        }
        auto result = run<rapidjson::kParseStopWhenDoneFlag>(reader, stream, handler, options);
        if (result.IsError() || handler.stopped() != json_sax::Stop::none ||
            out->parsed.flows_error) {
            return std::nullopt;
        }
        const char* p = stream.src_;
        while (p < end && json_space(*p)) {
            ++p;
        }
        if (p < end && *p == ',') {
            stream.src_ = p + 1;
            continue;
        }
        if (p < end && *p == ']') {
            out->end = static_cast<std::size_t>(p - text.data());
            break;
        }
        return std::nullopt;
    }
    out->elements = handler.fragment_elements();
    out->numbers = handler.numbers();
    return out;
}

std::atomic<std::size_t> g_json_splits{0};

Attempt parse(std::string_view text, bool terminated, json_sax::Parsed& parsed,
              std::size_t max_depth,
              const std::vector<std::pair<std::size_t, std::string>>& numbers,
              const ReadOptions& options) {
    json_sax::Handler handler(parsed, max_depth, options.all_annotations);
    for (const auto& [index, original] : numbers) {
        handler.set_number_text(index, original);
    }
    const bool surrogates = escapes_low_surrogate(text);
    handler.check_surrogates(surrogates);
    rapidjson::Reader reader;
    Attempt out;
    // A NUL byte ends the text for both streams (a MemoryStream reads one at its end). A
    // StringStream only without kParseValidateEncodingFlag: RapidJSON's UTF-8 validation takes
    // a sequence's continuation bytes without looking, past the NUL of a text that ends inside
    // one (fuzz_catalog_json found it), where a MemoryStream gives NULs at its end.
    if (!terminated || !options.utf8_checked) {
        rapidjson::MemoryStream stream(text.data(), text.size());
        out.result = run<0>(reader, stream, handler, options);
    } else {
        rapidjson::StringStream stream(text.data());
        std::optional<JsonSplit> split;
        if (options.threads >= 2 && numbers.empty() && text.size() >= options.split_min_bytes) {
            split = find_split(text);
        }
        if (!split) {
            out.result = run<0>(reader, stream, handler, options);
        } else {
            util::Handoff<Rest> handoff;
            util::run_in_parallel(
                [&](bool together) {
                    handoff.set_together(together);
                    struct Done { // the second reader must not read for nobody
                        util::Handoff<Rest>& handoff;
                        ~Done() { handoff.cancel(); }
                    } done{handoff};
                    handler.on_flow_end([&](json_sax::Handler& h) {
                        // RapidJSON calls EndObject with the stream at the `}`, then takes it.
                        if (stream.src_ + 1 != text.data() + split->after) {
                            return;
                        }
                        auto rest = handoff.take();
                        if (!rest) {
                            return; // it gave up: this reader reads on
                        }
                        h.absorb(rest->parsed, rest->elements, rest->numbers);
                        stream.src_ = text.data() + rest->end - 1; // taken as the `}`
                        g_json_splits.fetch_add(1, std::memory_order_relaxed);
                    });
                    out.result = run<0>(reader, stream, handler, options);
                },
                [&] {
                    if (handoff.claim()) {
                        handoff.finish(
                            read_rest(text, split->start, max_depth, surrogates, options, handoff));
                    }
                });
        }
    }
    out.stopped = handler.stopped();
    out.number = handler.numbers();
    return out;
}

} // namespace

Catalog read_catalog_json(std::string_view bytes, std::string_view source_name,
                          const ReadOptions& options) {
    std::string_view shown = bytes; // what positions count in
    if (shown.starts_with("\xEF\xBB\xBF")) {
        shown.remove_prefix(3);
    }
    // nlohmann-json skipped a second byte order mark itself.
    const std::size_t base = shown.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    std::string_view text = shown.substr(base);
    std::string copy; // `text` with the numbers RapidJSON refuses but nlohmann-json read
    std::vector<std::pair<std::size_t, std::string>> numbers;
    for (std::size_t limit = options.max_depth;;) {
        json_sax::Parsed parsed;
        std::string_view input = copy.empty() ? text : std::string_view(copy);
        Attempt a =
            parse(input, !copy.empty() || options.nul_terminated, parsed, limit, numbers, options);
        using rapidjson::kParseErrorNumberTooBig;
        bool ok = !a.result.IsError();
        if (!ok) {
            // The depth bound goes first, wherever the document breaks: the scan runs when the
            // parse stopped, and names the first place that nests too deep.
            check_depth(shown, source_name, options.max_depth);
        }
        if (a.stopped == json_sax::Stop::too_deep) {
            // The scan saw no such depth: it cannot be (both count the brackets of the text the
            // reader accepted), but should it be, read again without the bound rather than guess.
            limit = std::numeric_limits<std::size_t>::max();
            continue;
        }
        if (a.result.Code() == kParseErrorNumberTooBig) {
            std::size_t at = a.result.Offset();
            auto token = number_at(input, at);
            std::string original(token);
            for (const auto& [index, text_of] : numbers) {
                if (index == a.number) {
                    original = text_of;
                }
            }
            double v = std::strtod(original.c_str(), nullptr);
            if (!std::isfinite(v)) {
                number_too_big(source_name);
            }
            // RapidJSON refuses some finite numbers (0e999, 1 followed by 400 zeros e-300):
            // read again with a small number of the same length in its place. Each costs a
            // read, so a document gets a few.
            if (numbers.size() == k_refused_numbers) {
                throw InputError(fmt::format(
                    "{}: malformed JSON: more than {} numbers with exponents beyond double's "
                    "range (such as 0e999); SDMX-JSON structure messages hold no such numbers",
                    source_name, k_refused_numbers));
            }
            if (copy.empty()) {
                copy = std::string(text);
            }
            copy.replace(at, token.size(), std::string(token.size(), '0'));
            if (token.size() > 2) {
                copy[at + 1] = '.';
            }
            numbers.emplace_back(a.number, std::move(original));
            continue;
        }
        if (a.stopped == json_sax::Stop::number_too_big) {
            number_too_big(source_name);
        }
        std::size_t offset = base + a.result.Offset();
        if (a.stopped == json_sax::Stop::lone_surrogate) {
            malformed(shown, base + lone_surrogate_at(text, a.result.Offset()), source_name,
                      "a \\uDC00-\\uDFFF escape that does not follow a \\uD800-\\uDBFF one (a "
                      "lone surrogate)");
        }
        if (a.result.IsError()) {
            auto what = syntax_error(a.result.Code(), text, a.result.Offset());
            if (a.result.Offset() >= text.size() &&
                a.result.Code() != rapidjson::kParseErrorDocumentEmpty) {
                what = fmt::format("unexpected end of input ({})", what);
            }
            malformed(shown, offset, source_name, what);
        }
        try {
            return finish(parsed, source_name, options.threads);
        } catch (const Json::exception& e) {
            // Dumping an error code that the parser accepted cannot fail; kept as a last resort.
            throw InputError(fmt::format("{}: not valid SDMX-JSON: {}", source_name, e.what()));
        }
    }
}

std::size_t json_splits() {
    return g_json_splits.load(std::memory_order_relaxed);
}

} // namespace dataflow::sdmx

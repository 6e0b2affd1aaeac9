// The SAX SDMX-JSON reader (lib/sdmx/json_reader.cpp, RapidJSON) against the DOM reader it
// replaced (unit/json_dom_oracle.cpp, nlohmann-json): the same catalogue, field by field, or the
// same error (class and message) for every fixture and for inputs made to break it. Syntax errors
// alone are worded by each parser its own way: there both must say malformed JSON, and ours must
// point at the DOM reader's place or before it within the same token (same_syntax_error()).

#include "sdmx/reader.hpp"
#include "support/support.hpp"
#include "unit/json_dom_oracle.hpp"
#include "util/error.hpp"
#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <sched.h>
#include <string>
#include <typeinfo>
#include <vector>

using namespace dataflow;
using namespace dataflow::sdmx;
using Json = nlohmann::ordered_json;

namespace {

// ---- a canonical text of a whole catalogue -------------------------------------------------
// Each struct is taken apart with a structured binding, so a field added to the model breaks
// the build here until it is compared too.

std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
            out += fmt::format("\\x{:02X}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

template <class T>
std::string opt(const std::optional<T>& v) {
    if (!v) {
        return "none";
    }
    if constexpr (std::is_same_v<T, std::string>) {
        return quote(*v);
    } else {
        return fmt::format("{}", *v);
    }
}

void put_texts(std::string& out, std::string_view what, const std::vector<LocalizedText>& texts) {
    for (const auto& t : texts) {
        const auto& [lang, text] = t;
        out += fmt::format("  {} {}={}\n", what, quote(lang), quote(text));
    }
}

void put_categories(std::string& out, const std::vector<Category>& cats, const std::string& at) {
    for (std::size_t i = 0; i < cats.size(); ++i) {
        const auto& [id, names, children] = cats[i];
        auto here = fmt::format("{}/{}", at, i);
        out += fmt::format("  category {} id={}\n", here, quote(id));
        put_texts(out, "   name", names);
        put_categories(out, children, here);
    }
}

void put_flow(std::string& out, const Dataflow& f) {
    const auto& [id, agency_id, version, urn, is_final, names, descriptions, structure, annotations,
                 last_update, last_update_ms, non_production, file_only, hidden, source_line] = f;
    out += fmt::format("flow id={} agency={} version={} urn={} final={} line={}\n", quote(id),
                       quote(agency_id), quote(version), quote(urn), opt(is_final), source_line);
    put_texts(out, "name", names);
    put_texts(out, "description", descriptions);
    const auto& [s_id, s_agency, s_version, s_urn] = structure;
    out += fmt::format("  structure {} {} {} {}\n", quote(s_id), quote(s_agency), quote(s_version),
                       quote(s_urn));
    for (const auto& a : annotations) {
        const auto& [a_id, title, type, url, texts] = a;
        out += fmt::format("  annotation id={} title={} type={} url={}\n", quote(a_id),
                           quote(title), quote(type), quote(url));
        put_texts(out, " text", texts);
    }
    out += fmt::format("  facts update={} ms={} nonprod={} file_only={} hidden={}\n",
                       opt(last_update), opt(last_update_ms), non_production, file_only, hidden);
}

std::string describe(const Catalog& c) {
    const auto& [format, prepared, dataflows, category_schemes, categorisations, warnings] = c;
    std::string out = fmt::format("format={} prepared={}\n", quote(format), quote(prepared));
    for (const auto& f : dataflows) {
        put_flow(out, f);
    }
    for (const auto& s : category_schemes) {
        const auto& [id, agency_id, version, names, categories, source_line] = s;
        out += fmt::format("scheme id={} agency={} version={} line={}\n", quote(id),
                           quote(agency_id), quote(version), source_line);
        put_texts(out, "name", names);
        put_categories(out, categories, "");
    }
    for (const auto& k : categorisations) {
        const auto& [id, agency_id, version, flow_id, flow_agency, flow_version, scheme_id,
                     scheme_agency, scheme_version, category, source_line] = k;
        out +=
            fmt::format("categorisation {} {} {} flow={} {} {} scheme={} {} {} category={} "
                        "line={}\n",
                        quote(id), quote(agency_id), quote(version), quote(flow_id),
                        quote(flow_agency), quote(flow_version), quote(scheme_id),
                        quote(scheme_agency), quote(scheme_version), quote(category), source_line);
    }
    for (const auto& w : warnings) {
        out += fmt::format("warning {}\n", quote(w));
    }
    return out;
}

// ---- running both readers ----------------------------------------------------------------------

using Reader = std::function<Catalog(std::string_view, std::string_view, const ReadOptions&)>;

/// "ok" and the catalogue, or "error", the exception's class and its message.
std::string outcome(const Reader& read, std::string_view bytes, const ReadOptions& options) {
    try {
        return "ok\n" + describe(read(bytes, "doc.json", options));
    } catch (const std::exception& e) {
        return fmt::format("error {}: {}", typeid(e).name(), e.what());
    }
}

/// Whether this thread may run on more than one CPU: else the two readers run one after the
/// other and the first reads the whole (ReadOptions::threads).
bool several_cpus() {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
}

struct Tally {
    std::size_t ok = 0, errors = 0, split = 0;
};

/// A malformed-JSON error: its exception class and the byte offset its LINE:COL names (in the
/// text after a byte order mark, columns counted in code points).
struct SyntaxError {
    std::string type;
    std::size_t offset = 0;
};

std::optional<SyntaxError> syntax_error(const std::string& outcome, std::string_view bytes) {
    // "error CLASS: doc.json:LINE:COL: malformed JSON: WHAT"
    auto head = outcome.find(": doc.json:");
    auto what = outcome.find(": malformed JSON: ");
    if (!outcome.starts_with("error ") || head == std::string::npos || what == std::string::npos) {
        return std::nullopt;
    }
    std::size_t line = 0;
    std::size_t column = 0;
    if (std::sscanf(outcome.c_str() + head, ": doc.json:%zu:%zu: malformed JSON: ", &line,
                    &column) != 2) {
        return std::nullopt;
    }
    if (bytes.starts_with("\xEF\xBB\xBF")) {
        bytes.remove_prefix(3);
    }
    std::size_t at = 0;
    for (std::size_t l = 1; l < line && at < bytes.size(); ++at) {
        l += bytes[at] == '\n' ? 1 : 0;
    }
    for (std::size_t c = 1; c < column && at < bytes.size(); ++c) {
        do {
            ++at;
        } while (at < bytes.size() && (static_cast<unsigned char>(bytes[at]) & 0xC0) == 0x80);
    }
    return SyntaxError{outcome.substr(6, head - 6), at};
}

/// The SAX reader (RapidJSON) words syntax errors its own way and may name the start of the
/// token the DOM reader (nlohmann-json) names the end of: both must call the input malformed
/// JSON, with the same exception class, ours at the DOM's place or before it within the token
/// (a string or a run of other characters without whitespace or structure between them).
bool same_syntax_error(const std::string& sax, const std::string& dom, std::string_view bytes) {
    auto ours = syntax_error(sax, bytes);
    auto theirs = syntax_error(dom, bytes);
    if (!ours || !theirs || ours->type != theirs->type || ours->offset > theirs->offset) {
        return false;
    }
    if (bytes.starts_with("\xEF\xBB\xBF")) {
        bytes.remove_prefix(3);
    }
    auto between = bytes.substr(ours->offset, theirs->offset - ours->offset);
    if (between.size() <= 1) {
        return true;
    }
    if (between.front() == '"') { // one string: no unescaped quote before the DOM's place
        for (std::size_t i = 1; i < between.size(); ++i) {
            if (between[i] == '\\') {
                ++i;
            } else if (between[i] == '"') {
                return false;
            }
        }
        return true;
    }
    return between.find_first_of(" \t\r\n{}[],:\"") == std::string_view::npos;
}

/// Both readers agree on `bytes`; `label` says which input it was when they do not.
void agree(std::string_view bytes, const std::string& label, Tally* tally = nullptr,
           const ReadOptions& options = {}) {
    auto sax = outcome(read_catalog_json, bytes, options);
    auto dom = outcome(test::read_catalog_json_dom, bytes, options);
    if (sax != dom && !same_syntax_error(sax, dom, bytes)) {
        std::size_t at = 0;
        while (at < sax.size() && at < dom.size() && sax[at] == dom[at]) {
            ++at;
        }
        std::size_t from = sax.rfind('\n', at) == std::string::npos ? 0 : sax.rfind('\n', at) + 1;
        FAIL_CHECK(fmt::format(
            "the SAX and DOM readers disagree on {}\ninput: {}\nSAX: {}\nDOM: {}", label,
            quote(bytes.substr(0, 300)), sax.substr(from, 300), dom.substr(from, 300)));
    }
    // The same parse from a NUL-terminated copy (a RapidJSON StringStream, SSE2 scanning),
    // facts derived on two threads: the same outcome, error offsets included.
    const std::string terminated(bytes);
    ReadOptions fast = options;
    fast.nul_terminated = true;
    // The StringStream is for text whose UTF-8 was checked (read_catalog() checks it).
    fast.utf8_checked = !util::find_invalid_utf8(bytes);
    fast.threads = 2;
    fast.split_min_bytes = 0; // and split between two readers, however small
    const std::size_t splits = json_splits();
    auto sax_fast = outcome(read_catalog_json, terminated, fast);
    if (tally != nullptr) {
        tally->split += json_splits() != splits ? 1 : 0;
    }
    if (sax_fast != sax) {
        FAIL_CHECK(fmt::format("the SAX reader reads {} differently from a NUL-terminated "
                               "copy\ninput: {}\nMemoryStream: {}\nStringStream: {}",
                               label, quote(bytes.substr(0, 300)), sax.substr(0, 300),
                               sax_fast.substr(0, 300)));
    }
    if (tally != nullptr) {
        (sax.starts_with("ok") ? tally->ok : tally->errors)++;
    }
}

std::vector<std::filesystem::path> json_files_under(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (e.is_regular_file() && e.path().extension() == ".json") {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

/// Every SDMX-JSON test input of the repository: the fixtures, the bad inputs of the CLI tests
/// and the fuzzing corpus.
std::vector<std::filesystem::path> all_json_inputs() {
    std::filesystem::path src = DATAFLOW_SOURCE_DIR;
    auto out = json_files_under(DATAFLOW_FIXTURES_DIR);
    for (const char* dir : {"tests/bad-inputs/files/sdmx", "tests/fuzz/corpus/fuzz_catalog_json"}) {
        auto more = json_files_under(src / dir);
        out.insert(out.end(), more.begin(), more.end());
    }
    return out;
}

// ---- a message with every field, and ways to break it ------------------------------------------

const char* const k_full = R"json({
 "meta": {"id": "M", "prepared": " 2025-03-01T10:00:00Z ", "contentLanguages": ["it", "en"]},
 "data": {
  "dataflows": [
   {"id": "F1", "agencyID": "IT1", "version": "1.0", "isFinal": true,
    "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:F1(1.0)",
    "name": "Single", "names": {"it": "Nome", "en": "Name"},
    "description": "Desc", "descriptions": {"en": "Description"},
    "structure": "urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=IT1:DSD_F1(1.0)",
    "links": [{"rel": "self", "urn": "urn:x:link=IT1:F1(1.0)"}, {"rel": "other", "urn": "u"}],
    "annotations": [
     {"id": "A1", "title": "LAST_UPDATE", "type": "LAST_UPDATE", "value": "v",
      "text": "t", "texts": {"it": "testo"}},
     {"id": "A2", "title": "", "type": "NonProductionDataflow", "value": "true", "text": "t2"},
     {"type": "LAST_UPDATE", "title": "2015-09-04T01:15:51.591Z"},
     {"type": "DATAFLOW_HIDDEN", "title": "true"}]},
   {"id": "F2", "agencyID": "IT1", "name": "Second", "isFinal": "yes",
    "links": [{"rel": "self", "urn": "urn:x:link=IT1:F2(2.0)"}, "x", {"rel": "self"}],
    "annotations": [{"id": "B", "type": "DATAFLOW_CATALOG_TYPE", "title": "ONLY_FILE"}]}
  ],
  "categorySchemes": [
   {"id": "CS", "agencyID": "IT1", "version": "1.0", "names": {"en": "Scheme"},
    "categories": [
     {"id": "C1", "name": "Top", "categories": [{"id": "C11", "names": {"en": "Leaf"}}]},
     {"id": "C2", "names": {"it": "Due"}}]}
  ],
  "categorisations": [
   {"id": "K1", "agencyID": "IT1", "version": "1.0",
    "source": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=IT1:F1(1.0)",
    "target": "urn:sdmx:org.sdmx.infomodel.categoryscheme.Category=IT1:CS(1.0).C1.C11"}
  ],
  "codelists": [{"id": "CL"}, {"id": "CL2"}]
 }
})json";

/// Values put in place of each value of the message, and of each member added to it.
const char* const k_replacements[] = {"null", "true",  "false",          "0",  "-1.5",
                                      "\"\"", "\"x\"", "\"self\"",       "[]", "[\"x\"]",
                                      "[{}]", "{}",    "{\"en\": \"x\"}"};

/// Every place in `j` (a list of JSON pointers), containers included.
void places(const Json& j, const Json::json_pointer& at, std::vector<Json::json_pointer>& out) {
    out.push_back(at);
    if (j.is_object()) {
        for (const auto& [k, v] : j.items()) {
            places(v, at / k, out);
        }
    } else if (j.is_array()) {
        for (std::size_t i = 0; i < j.size(); ++i) {
            places(j[i], at / i, out);
        }
    }
}

/// A key written twice in one object: `extra` before (or after) the original member.
struct Duplicate {
    std::string object; ///< the object's pointer
    std::string key;
    std::string extra; ///< JSON text of the other value
    bool extra_first = true;
};

/// `j` as JSON text, with `dup` written into it (ordered_json cannot hold a repeated key).
void write(std::string& out, const Json& j, const std::string& at, const Duplicate& dup) {
    if (j.is_object()) {
        out += '{';
        bool first = true;
        auto member = [&](const std::string& k, const std::string& text) {
            out += fmt::format("{}{}:{}", first ? "" : ",", Json(k).dump(), text);
            first = false;
        };
        for (const auto& [k, v] : j.items()) {
            bool here = at == dup.object && k == dup.key;
            if (here && dup.extra_first) {
                member(k, dup.extra);
            }
            std::string inner;
            write(inner, v, at + "/" + k, dup);
            member(k, inner);
            if (here && !dup.extra_first) {
                member(k, dup.extra);
            }
        }
        out += '}';
    } else if (j.is_array()) {
        out += '[';
        for (std::size_t i = 0; i < j.size(); ++i) {
            out += i == 0 ? "" : ",";
            write(out, j[i], fmt::format("{}/{}", at, i), dup);
        }
        out += ']';
    } else {
        out += j.dump();
    }
}

/// `j` with the members of every object in reverse order.
Json reversed(const Json& j) {
    if (j.is_array()) {
        Json out = Json::array();
        for (const auto& v : j) {
            out.push_back(reversed(v));
        }
        return out;
    }
    if (!j.is_object()) {
        return j;
    }
    Json out = Json::object();
    std::vector<std::string> keys;
    for (const auto& [k, v] : j.items()) {
        keys.push_back(k);
    }
    for (auto k = keys.rbegin(); k != keys.rend(); ++k) {
        out[*k] = reversed(j.at(*k));
    }
    return out;
}

/// Variants of the full message that take other paths through the readers.
std::vector<std::string> base_messages() {
    std::vector<std::string> out{k_full};
    Json full = Json::parse(k_full);
    out.push_back(reversed(full).dump()); // fields in another order than the readers check them
    Json meta_last = Json::object();      // meta after data: the default language comes late
    meta_last["data"] = full["data"];
    meta_last["meta"] = full["meta"];
    out.push_back(meta_last.dump());
    Json no_meta = full;
    no_meta.erase("meta");
    out.push_back(no_meta.dump());
    Json with_errors = full; // errors beside a dataflow list are ignored; without one they are not
    with_errors["errors"] = Json::parse(R"([{"code": 500, "title": "T"}, 7, {"detail": "D"}])");
    out.push_back(with_errors.dump());
    with_errors.erase("data");
    out.push_back(with_errors.dump());
    return out;
}

} // namespace

TEST_SUITE("sdmx json") {
    TEST_CASE("SAX and DOM readers agree on every JSON fixture, bad input and fuzzing seed") {
        auto files = all_json_inputs();
        REQUIRE(json_files_under(DATAFLOW_FIXTURES_DIR).size() >= 3);
        REQUIRE(files.size() >= 10);
        Tally tally;
        for (const auto& path : files) {
            agree(test::read_file(path.string()), path.string(), &tally);
        }
        CHECK(tally.ok >= 3);     // the real dataflow lists are read ...
        CHECK(tally.errors >= 5); // ... and the bad inputs refused alike
    }

    TEST_CASE("SAX reader returns the real fixtures' dataflows, names and annotations") {
        auto bytes = test::read_file(
            test::sample("andrerecio__IstatApi.jl/test/fixtures/dataflows_IT1_slice.json"));
        auto sax = read_catalog_json(bytes, "slice.json", {});
        auto dom = test::read_catalog_json_dom(bytes, "slice.json", {});
        REQUIRE(!sax.dataflows.empty());
        CHECK(sax.dataflows.size() == dom.dataflows.size());
        CHECK(!sax.dataflows.front().names.empty());
        CHECK(describe(sax) == describe(dom));
    }

    TEST_CASE("both readers agree on every fixture truncated at many points") {
        Tally tally;
        for (const auto& path : all_json_inputs()) {
            auto bytes = test::read_file(path.string());
            for (std::size_t cut = 0; cut < 40; ++cut) {
                std::size_t at = bytes.size() * cut / 40 + cut % 7;
                if (at < bytes.size()) {
                    agree(std::string_view(bytes).substr(0, at),
                          fmt::format("{} cut at {}", path.string(), at), &tally);
                }
            }
        }
        for (const auto& base : base_messages()) {
            for (std::size_t at = 0; at < base.size(); ++at) {
                agree(std::string_view(base).substr(0, at), fmt::format("full cut at {}", at),
                      &tally);
            }
        }
        CHECK(tally.errors > 1000);
    }

    TEST_CASE("both readers agree when any value of a full message has another type") {
        Tally tally;
        for (const auto& base_text : base_messages()) {
            Json base = Json::parse(base_text);
            std::vector<Json::json_pointer> all;
            places(base, Json::json_pointer(), all);
            for (const auto& at : all) {
                for (const char* r : k_replacements) {
                    Json doc = base;
                    doc[at] = Json::parse(r);
                    agree(doc.dump(), fmt::format("{} = {}", at.to_string(), r), &tally);
                }
                if (!at.empty() && base[at.parent_pointer()].is_object()) {
                    Json doc = base;
                    doc[at.parent_pointer()].erase(at.back());
                    agree(doc.dump(), fmt::format("{} removed", at.to_string()), &tally);
                }
            }
        }
        CHECK(tally.ok > 500);
        CHECK(tally.errors > 500);
    }

    TEST_CASE("both readers report the same one of two wrong values anywhere in a message") {
        Tally tally;
        for (const auto& base_text : {base_messages()[0], base_messages()[1]}) {
            Json base = Json::parse(base_text);
            std::vector<Json::json_pointer> all;
            places(base, Json::json_pointer(), all);
            std::erase_if(all, [&](const auto& at) { return base[at].is_structured(); });
            for (std::size_t i = 0; i < all.size(); ++i) {
                for (std::size_t j = i + 1; j < all.size(); ++j) {
                    Json doc = base;
                    doc[all[i]] = 5;
                    doc[all[j]] = Json::array();
                    agree(doc.dump(),
                          fmt::format("{} and {} wrong", all[i].to_string(), all[j].to_string()),
                          &tally);
                }
            }
        }
        CHECK(tally.errors > 1000);
    }

    TEST_CASE("both readers agree on repeated keys: first place, last value") {
        Tally tally;
        for (const auto& base_text : base_messages()) {
            Json base = Json::parse(base_text);
            std::vector<Json::json_pointer> all;
            places(base, Json::json_pointer(), all);
            for (const auto& at : all) {
                if (!base[at].is_object()) {
                    continue;
                }
                for (const auto& [k, v] : base[at].items()) {
                    for (const char* extra :
                         {"null", "5", "\"dup\"", "[]", "{}", "[{\"id\": 1}]"}) {
                        for (bool first : {true, false}) {
                            Duplicate dup{at.to_string(), k, extra, first};
                            std::string text;
                            write(text, base, "", dup);
                            agree(text,
                                  fmt::format("{}/{} twice, {} {}", dup.object, k, extra,
                                              first ? "first" : "last"),
                                  &tally);
                        }
                    }
                }
            }
        }
        CHECK(tally.ok > 500);
        CHECK(tally.errors > 500);
    }

    TEST_CASE("both readers agree on randomly damaged messages") {
        std::mt19937 rng(20240519);
        const std::string alphabet = "{}[]\",:0-9eE.\\ tfnxu\n";
        std::vector<std::string> inputs = base_messages();
        for (const auto& path : all_json_inputs()) {
            inputs.push_back(test::read_file(path.string()));
        }
        Tally tally;
        for (std::size_t n = 0; n < inputs.size(); ++n) {
            for (int round = 0; round < 150; ++round) {
                std::string doc = inputs[n];
                if (doc.empty()) {
                    break;
                }
                for (int edits = 1 + round % 3; edits > 0 && !doc.empty(); --edits) {
                    std::size_t at = rng() % doc.size();
                    char c = alphabet[rng() % alphabet.size()];
                    switch (rng() % 3) {
                    case 0:
                        doc[at] = c;
                        break;
                    case 1:
                        doc.insert(doc.begin() + static_cast<std::ptrdiff_t>(at), c);
                        break;
                    default:
                        doc.erase(at, 1 + rng() % 4);
                        break;
                    }
                }
                agree(doc, fmt::format("input {} damaged, round {}", n, round), &tally);
            }
        }
        CHECK(tally.errors > 100);
    }

    TEST_CASE("both readers refuse nesting one level beyond the bound at the same place") {
        for (std::size_t max_depth : {std::size_t{8}, std::size_t{16}, std::size_t{256}}) {
            ReadOptions options;
            options.max_depth = max_depth;
            Tally tally;
            // Nested where nobody reads (4 levels hold it), accepted up to the bound.
            for (std::size_t depth : {max_depth - 1, max_depth, max_depth + 1, max_depth * 50}) {
                std::string doc = R"({"data": {"dataflows": [{"id": "A", "extra": )" +
                                  std::string(depth - 4, '[') + std::string(depth - 4, ']') +
                                  "}]}}";
                agree(doc, fmt::format("extra nested to {} of {}", depth, max_depth), &tally,
                      options);
            }
            CHECK(tally.ok == 2);
            CHECK(tally.errors == 2);
            // Nested categories (5 + 2n levels for n categories), read all the way down.
            for (std::size_t n = (max_depth - 5) / 2 - 1; n <= (max_depth - 5) / 2 + 1; ++n) {
                std::string cats;
                for (std::size_t i = n; i-- > 0;) {
                    cats = fmt::format(
                        R"({{"id": "C{}", "names": {{"en": "c"}}, "categories": [{}]}})", i, cats);
                }
                std::string doc =
                    R"({"data": {"categorySchemes": [{"id": "S", "categories": [)" + cats + "]}]}}";
                agree(doc, fmt::format("{} categories nested, bound {}", n, max_depth), &tally,
                      options);
            }
            CHECK(tally.ok == 4);
            CHECK(tally.errors == 3);
        }
        // The bound goes first wherever the document breaks, and counts no bracket in a string.
        std::string deep(300, '[');
        for (const std::string& doc :
             {R"({"a": tru)" + deep, deep + "x", R"({"a": 1})" + deep, "]]]]" + deep,
              R"({"data": {"dataflows": [{"id": ")" + deep + R"("}]}})",
              R"({"data": {"dataflows": [{"id": "\")" + deep + R"("}]}})",
              R"({"data": {"dataflows": [], "x": )" + deep + std::string(300, ']') + "}}",
              deep.substr(0, 250) + R"({"a": "\u005b", "b": 1e999})" + std::string(250, ']')}) {
            agree(doc, quote(doc.substr(0, 60)));
        }
        std::string bomb(100000, '[');
        bomb += std::string(100000, ']');
        std::string msg;
        try {
            read_catalog_json(bomb, "deep.json", {});
        } catch (const InputError& e) {
            msg = e.what();
        }
        CHECK(msg.starts_with("deep.json:1:257: JSON nested deeper than 256 levels"));
        agree(bomb, "100,000 nested arrays");
    }

    TEST_CASE("both readers agree on huge strings and on objects with many keys") {
        std::string big(4 << 20, 'x');
        agree(fmt::format(R"({{"data": {{"dataflows": [{{"id": "A", "name": "{}"}}]}}}})", big),
              "4 MiB name");
        agree(fmt::format(R"({{"data": {{"dataflows": [{{"id": "A", "{}": 1}}]}}}})", big),
              "4 MiB key");
        std::string names;
        std::string keys;
        for (int i = 0; i < 3000; ++i) {
            names += fmt::format(R"("l{}": "t{}", )", i % 2500, i);
            keys += fmt::format(R"("k{}": {}, )", i % 2000, i % 3 == 0 ? "[1, 2]" : "7");
        }
        Tally tally;
        agree(R"({"data": {"dataflows": [{"id": "A", "names": {)" + names + R"("x": "y"}}]}})",
              "3000 languages, 500 repeated", &tally);
        agree(R"({"data": {"dataflows": [{"id": "A", "names": {)" + names + R"("x": 5}}]}})",
              "3000 languages and a number", &tally);
        agree(R"({"data": {)" + keys + R"("last": []}})", "3000 data keys, 1000 repeated", &tally);
        CHECK(tally.ok == 1);
        CHECK(tally.errors == 2);
    }

    TEST_CASE("both readers agree on top-level values, numbers, errors and byte order marks") {
        for (
            const char* doc : {
                "",
                " ",
                "5",
                "\"s\"",
                "true",
                "null",
                "[]",
                "{}",
                "{} x",
                "{}{}",
                "[1e999]",
                R"({"a": 1e999})",
                R"({"a": -1e999})",
                R"({"a": 1e308})",
                "\xEF\xBB\xBF{}",
                R"({"data": {"dataflows": []}} )",
                R"({"data": {"dataflows": []}}/*c*/)",
                R"({"errors": []})",
                R"({"errors": {}})",
                R"({"errors": [1, "x"]})",
                R"({"errors": [{"code": {"a": [1.5, null]}, "title": 5, "detail": "D"}]})",
                R"({"errors": [{"code": 1.0e2}], "data": {"dataflows": []}})",
                // Numbers after long strings, and longer than the parser's token blocks.
                R"({"errors": [{"title": "0123456789012345678901234567890123456789012345678901234567890123456789", "code": 7},)"
                R"( {"code": 123456789012345678901234567890123456789012345678901234567890123456789.5},)"
                R"( {"code": -0.000123e-5}, {"code": 18446744073709551615}, {"code": -9223372036854775808},)"
                R"( {"code": 18446744073709551616}, {"code": [0.1, 2.5e-308, 1e-400, -0]}]})",
                R"({"errors": [{"code": "404"}], "data": {"dataSets": []}})",
                R"({"dataSets": [], "data": {"dataflows": []}})",
                R"({"data": {"dataflows": [], "dataSets": null}})",
                R"({"data": []})",
                R"({"data": {"codelists": [[], {}, 1], "x": {"y": [1]}}})",
                R"({"data": {"dataflows": null}})",
                R"({"data": {"categorisations": 5}})",
                R"({"data": {"dataflows": [{"name": "N"}]}, "meta": {"contentLanguages": ["fr"]}})",
                R"({"meta": {"contentLanguages": [["fr"], "de"]}, "data": {"dataflows": [{"name": "N"}]}})",
                R"({"meta": [], "data": {"dataflows": [{"description": "D"}]}})",
                R"({"data": {"dataflows": [{"names": {"\u00ff": "x", "\u0000": "y"}}]}})",
                R"({"data": {"dataflows": [{"id": "\ud800"}]}})",
                // Lone low surrogates (RapidJSON would encode them), in values and keys.
                R"({"data": {"dataflows": [{"id": "\udc00"}]}})",
                R"({"data": {"dataflows": [{"id": "a\\udc00\ud83d\ude00\n\uDFFF"}]}})",
                R"({"data": {"dataflows": [{"\\\udfff": 1}]}})",
                R"({"x": "\ud800\udc00", "errors": [{"title": "\udbff\udfff"}]})",
                // Numbers RapidJSON refuses as too big that nlohmann-json read (finite).
                R"({"errors": [{"code": 0e999}, {"code": -0.0E+400}, {"code": 1e309}]})",
                R"({"errors": [{"code": 0e999}, {"code": [0.00001e310, 7]}, {"title": "T"}]})",
                "\xEF\xBB\xBF\xEF\xBB\xBF{}",
                "\xEF\xBB\xBF\xEF\xBB\xBF{\"a\" 1}",
                "\xEF\xBB\xBF\n {\"a\": tru}",
                "\xEF\xBB{}",
                "{\"a\": \"\xC3\xA9\xC3\xA9\" 1}",
                "[\"\x01\"]",
                "[1.]",
                "[1e+]",
                "[\"\\x\"]",
                "[\"\\u12G4\"]",
            }) {
            agree(doc, quote(doc));
        }
        std::string big = "1" + std::string(400, '0');
        agree(R"({"errors": [{"code": )" + big + "e-395}]}", "400 digits, then e-395");
        agree(R"({"errors": [{"code": )" + big + "}]}", "400 digits");
        agree(R"({"errors": [{"code": 0e999}, {"code": 1)" + big + "e-397}]}", "two of them");
        // Ill-formed UTF-8 in a string (read_catalog() refuses it first; a direct call may not).
        for (const char* bad : {"\xC0\xAF", "\xE0\x80\x80", "\xED\xA0\x80", "\xED\xBF\xBF",
                                "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\x80", "\xC3", "\xC3(",
                                "\xE2\x82", "\xFF", "\xEF\xBF\xBF\xF0\x9F\x98\x80"}) {
            for (const auto& doc :
                 {fmt::format(R"({{"data": {{"dataflows": [{{"id": "a{}b"}}]}}}})", bad),
                  fmt::format(R"({{"data": {{"dataflows": [{{"id": "A", "{}": 1}}]}}}})", bad),
                  fmt::format("[{}]", bad)}) {
                agree(doc, quote(doc));
            }
        }
        std::string many = "[";
        for (int i = 0; i < 17; ++i) {
            many += "0e999, ";
        }
        std::string msg;
        try {
            read_catalog_json(many + "1]", "many.json", {});
        } catch (const InputError& e) {
            msg = e.what();
        }
        CHECK(msg == "many.json: malformed JSON: more than 16 numbers with exponents beyond "
                     "double's range (such as 0e999); SDMX-JSON structure messages hold no such "
                     "numbers");
        agree(many.substr(0, many.size() - 7 * 2) + "1]", "15 of them"); // (not an object)
        // A NUL byte ends the input for both parsers.
        for (std::string_view doc :
             {std::string_view("{}\0", 3), std::string_view("{} \0 x", 6),
              std::string_view("{\"a\": \"\0\"}", 9), std::string_view("[1,\0 2]", 7)}) {
            agree(doc, quote(doc));
        }
    }

    TEST_CASE("syntax errors name what is wrong and where, at the token the DOM reader names") {
        for (const auto& [doc, expected] : std::vector<std::pair<std::string, std::string>>{
                 {"{\"a\": 1", "d.json:1:8: malformed JSON: unexpected end of input (expected "
                               "',' or '}' after an object member)"},
                 {"{\"a\" \"b\"}", "d.json:1:6: malformed JSON: expected ':' after a member name"},
                 {"\n\n  [tru]", "d.json:3:7: malformed JSON: expected a value (a string, number, "
                                 "object, array, true, false or null)"},
                 {"[\"\\udc00\"]", "d.json:1:3: malformed JSON: a \\uDC00-\\uDFFF escape "
                                   "that does not follow a \\uD800-\\uDBFF one (a lone "
                                   "surrogate)"},
                 {"[1e999]", "d.json: malformed JSON: a number too large to represent; SDMX-JSON "
                             "structure messages hold no such numbers"},
             }) {
            std::string msg;
            try {
                read_catalog_json(doc, "d.json", {});
            } catch (const InputError& e) {
                msg = e.what();
            }
            CHECK(msg == expected);
        }
    }

    TEST_CASE("a NUL-terminated text ending inside a UTF-8 sequence is read within its bounds") {
        // Unchecked UTF-8 is validated by RapidJSON, which takes continuation bytes without
        // looking: from a StringStream it would read past the NUL (AddressSanitizer: a
        // heap-buffer-overflow). Such text is read from a MemoryStream.
        for (std::string tail : {"\xC3", "\xE2", "\xE2\x82", "\xF0", "\xF0\x9F\x98"}) {
            for (std::string doc : {"[\"" + tail, R"({"data":{"dataflows":[{"id":")" + tail}) {
                ReadOptions options;
                options.nul_terminated = true;
                options.threads = 2;
                options.split_min_bytes = 0;
                CHECK_THROWS_AS(read_catalog_json(doc, "tail.json", options), InputError);
            }
        }
    }

    TEST_CASE("two readers: the same catalogue or error whatever lies where the second starts") {
        // 40 dataflows with annotations, links and names; around the 54% mark where the second
        // reader looks for its first element, things that make its guess wrong or its part
        // differ: an element boundary inside a string or between annotations, a type error, a
        // non-object element, a number RapidJSON refuses, a lone surrogate, nesting beyond the
        // bound, a second `dataflows` key, the array ending early.
        auto flow = [](int i, const std::string& extra) {
            return fmt::format(
                R"({{"id":"F{}","agencyID":"IT1","version":"1.0","isFinal":true,)"
                R"("names":{{"it":"Nome {}","en":"Name"}},"description":"d {}",)"
                R"("links":[{{"rel":"self","urn":"urn:x"}}],"annotations":[{{"id":"a","title":"t"}},)"
                R"({{"type":"LAST_UPDATE","title":"04/03/2020"}},{{"id":"b","texts":{{"it":"x"}}}}]{}}})",
                i, i, i, extra);
        };
        std::vector<std::string> extras = {
            "",
            R"(,"note":"},{\"agencyID\":1")",
            R"(,"version":7)",
            R"(,"names":{"it":5})",
            R"(,"x":0e999)",
            R"(,"x":"\udc00")",
            fmt::format(",\"x\":{}1{}", std::string(300, '['), std::string(300, ']')),
            R"(,"annotations":7)",
            R"(,"annotations":[{"id":5}])",
        };
        Tally tally;
        for (std::size_t e = 0; e < extras.size(); ++e) {
            for (int at : {19, 21, 23, 36}) {
                std::string flows;
                for (int i = 0; i < 40; ++i) {
                    flows +=
                        fmt::format("{}{}", i == 0 ? "" : ",", flow(i, i == at ? extras[e] : ""));
                }
                for (const std::string& tail :
                     {std::string("]}}"), std::string(R"(],"dataflows":[]}})"),
                      std::string(R"(]},"meta":{"contentLanguages":["en"]}})")}) {
                    agree(fmt::format(R"({{"data":{{"dataflows":[{}{})", flows, tail),
                          fmt::format("extra {} in flow {}, tail {}", e, at, tail), &tally);
                }
            }
        }
        // Elements that are not all objects, and an array that ends early.
        std::string mixed;
        for (int i = 0; i < 40; ++i) {
            mixed +=
                fmt::format("{}{}", i == 0 ? "" : ",", i == 25 ? std::string("7") : flow(i, ""));
        }
        agree(fmt::format(R"({{"data":{{"dataflows":[{}]}}}})", mixed), "a number among the flows",
              &tally);
        // Single-string descriptions (they take the first content language at the end) only
        // in the second reader's part.
        std::string late;
        for (int i = 0; i < 40; ++i) {
            late += fmt::format(R"({}{{"id":"L{}","agencyID":"IT1"{}}})", i == 0 ? "" : ",", i,
                                i >= 30 ? R"(,"description":"only here")" : "");
        }
        agree(fmt::format(R"({{"data":{{"dataflows":[{}]}},"meta":{{"contentLanguages":["fr"]}}}})",
                          late),
              "single descriptions in the second part only", &tally);
        CHECK(tally.ok > 30);
        CHECK(tally.errors > 30);
        if (several_cpus()) {
            // The documents without a type error before or in the second reader's part.
            CHECK(tally.split >= 25);
        }
    }

    TEST_CASE("read_catalog on two threads: a large SDMX-JSON message, its UTF-8 and its dates") {
        // Over 1 MiB and 1,000 flows: the UTF-8 check runs beside the parse and the facts are
        // derived in halves. Month-first dates only in the second half, an unreadable one in
        // the first; then invalid UTF-8 and a syntax error, alone and together.
        std::string flows;
        for (int i = 0; i < 3000; ++i) {
            std::string date = i == 2500 ? "03/18/2024" : i == 7 ? "not a date" : "04/03/2020";
            flows += fmt::format(
                R"({}{{"id":"F{}","agencyID":"IT1","version":"1.0","names":{{"it":"Nome {}"}},)"
                R"("annotations":[{{"title":"{}","type":"LAST_UPDATE"}}],"description":"{}"}})",
                i == 0 ? "" : ",", i, std::string(200, 'n'), date, std::string(150, 'd'));
        }
        const std::string doc = R"({"meta":{"prepared":"2024-01-01T00:00:00Z"},)"
                                R"("data":{"dataflows":[)" +
                                flows + "]}}";
        REQUIRE(doc.size() > (std::size_t{1} << 20));
        auto read = [](std::string bytes, unsigned threads) {
            ReadOptions options;
            options.threads = threads;
            try {
                return "ok\n" + describe(read_catalog(bytes, "doc.json", options));
            } catch (const std::exception& e) {
                return fmt::format("error {}: {}", typeid(e).name(), e.what());
            }
        };
        const auto one = read(doc, 1);
        CHECK(one.starts_with("ok"));
        CHECK(one.find("03/18/2024") != std::string::npos);
        CHECK(read(doc, 2) == one);
        std::string bad_utf8 = doc;
        bad_utf8[doc.size() / 2] = '\xC3';
        std::string bad_syntax = doc;
        bad_syntax.insert(doc.find("},{", doc.size() / 3) + 1, ",");
        std::string both = bad_syntax;
        both[doc.size() * 2 / 3] = '\xFF';
        for (const auto& d : {bad_utf8, bad_syntax, both}) {
            const auto expected = read(d, 1);
            CHECK(expected.starts_with("error"));
            CHECK(read(d, 2) == expected);
        }
        CHECK(read(both, 2).find("invalid UTF-8") != std::string::npos); // its error first
    }

    TEST_CASE("a single name takes the first content language even when meta comes last") {
        std::string doc = R"({"data": {"dataflows": [{"id": "A", "name": "N"}]},)"
                          R"( "meta": {"contentLanguages": ["fr", "en"]}})";
        auto catalog = read_catalog_json(doc, "late.json", {});
        REQUIRE(catalog.dataflows.size() == 1);
        REQUIRE(catalog.dataflows[0].names.size() == 1);
        CHECK(catalog.dataflows[0].names[0].lang == "fr");
        CHECK(catalog.dataflows[0].names[0].text == "N");
        agree(doc, "meta last");
    }

    TEST_CASE(
        "the first type error is the one the DOM reader met first, not the first in the text") {
        std::string doc =
            R"({"data": {"categorisations": [{"id": 1}],)"
            R"( "dataflows": [{"annotations": [{"id": 2}], "version": 3, "id": 4}]}})";
        std::string msg;
        try {
            read_catalog_json(doc, "t.json", {});
        } catch (const InputError& e) {
            msg = e.what();
        }
        CHECK(msg == "t.json: data.dataflows[0].id: expected a string; the document is not valid "
                     "SDMX-JSON");
        agree(doc, "errors out of order");
    }
}

// DataCounter::Xml: counting an SDMX-ML data message as it streams in (data_counter_readers.hpp).

#include "sdmx/data_counter_readers.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <cstring>

namespace dataflow::sdmx {

using counter_detail::append_bounded;
using counter_detail::is_space;
using counter_detail::k_max_depth;

namespace {

constexpr std::size_t k_max_tag_bytes = 1 << 20;

constexpr std::string_view k_sdmx_schemas = "http://www.sdmx.org/resources/sdmxml/schemas/";

/// Series and Obs count in the generic data namespaces, in no namespace (StructureSpecific),
/// and in DSD-specific namespaces (Compact, some StructureSpecific writers); not in the other
/// SDMX namespaces (message, common, structure, footer).
bool data_namespace(std::string_view uri) {
    if (uri.substr(0, k_sdmx_schemas.size()) != k_sdmx_schemas) {
        return true;
    }
    auto rest = uri.substr(k_sdmx_schemas.size());
    return rest.find("generic") != std::string_view::npos ||
           rest.find("compact") != std::string_view::npos ||
           rest.find("structurespecific") != std::string_view::npos;
}

std::string version_of(std::string_view uri) {
    for (const char* v : {"v3_0", "v2_1", "v2_0", "v1_0"}) {
        if (uri.find(v) != std::string_view::npos) {
            std::string s(v);
            return std::string(1, s[1]) + "." + std::string(1, s[3]);
        }
    }
    return {};
}

std::string decode_entities(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '&') {
            out += s[i];
            continue;
        }
        auto semi = s.find(';', i);
        auto name =
            semi == std::string_view::npos ? std::string_view() : s.substr(i + 1, semi - i - 1);
        if (name == "amp") {
            out += '&';
        } else if (name == "lt") {
            out += '<';
        } else if (name == "gt") {
            out += '>';
        } else if (name == "quot") {
            out += '"';
        } else if (name == "apos") {
            out += '\'';
        } else {
            out += '&';
            continue;
        }
        i = semi;
    }
    return out;
}

} // namespace

DataCounter::Xml::Xml(DataCounts& counts) : m_counts(counts) {
    m_names.reserve(32);
    m_scopes.reserve(32);
}

bool DataCounter::Xml::feed(const char* p, const char* end) {
    while (p < end && m_error.empty()) {
        switch (m_state) {
        case State::text: {
            const char* lt = static_cast<const char*>(std::memchr(p, '<', end - p));
            const char* stop = lt != nullptr ? lt : end;
            if (m_capture_depth != 0) {
                append_bounded(m_text, std::string_view(p, stop - p));
            }
            if (m_root_closed) {
                for (const char* q = p; q < stop; ++q) {
                    if (!is_space(*q)) {
                        fail("text after the end of the document");
                        return false;
                    }
                }
            }
            if (lt == nullptr) {
                return true;
            }
            p = lt + 1;
            m_state = State::open;
            break;
        }
        case State::open:
            if (*p == '!') {
                m_state = State::bang;
                m_bang.clear();
                ++p;
            } else if (*p == '?') {
                m_state = State::pi;
                m_match = 0;
                ++p;
            } else {
                m_state = State::tag;
                m_tag.clear();
                m_quote = 0;
            }
            break;
        case State::tag: {
            const char* q = p;
            for (; q < end; ++q) {
                char c = *q;
                if (m_quote != 0) {
                    if (c == m_quote) {
                        m_quote = 0;
                    }
                } else if (c == '"' || c == '\'') {
                    m_quote = c;
                } else if (c == '>') {
                    break;
                }
            }
            m_tag.append(p, q - p);
            if (m_tag.size() > k_max_tag_bytes) {
                fail("a tag longer than 1 MiB");
                return false;
            }
            if (q == end) {
                return true;
            }
            p = q + 1;
            m_state = State::text;
            if (!on_tag()) {
                return false;
            }
            break;
        }
        case State::bang:
            m_bang += *p++;
            if (m_bang == "--") {
                m_state = State::comment;
                m_match = 0;
            } else if (m_bang == "[CDATA[") {
                m_state = State::cdata;
                m_match = 0;
            } else if (m_bang.size() >= 7 && m_bang.substr(0, 7) == "DOCTYPE") {
                fail("a DOCTYPE declaration (refused: SDMX never uses one)");
                return false;
            } else if (m_bang.size() > 8) {
                fail("a malformed <! declaration");
                return false;
            }
            break;
        case State::comment:
            p = skip_until(p, end, "-->");
            break;
        case State::cdata:
            p = skip_until(p, end, "]]>");
            break;
        case State::pi:
            p = skip_until(p, end, "?>");
            break;
        }
    }
    return m_error.empty();
}

void DataCounter::Xml::finish() {
    if (!m_error.empty()) {
        m_counts.error = m_error;
        return;
    }
    if (!m_root_seen) {
        m_counts.error = "the document is empty";
        return;
    }
    if (!m_root_closed) {
        std::string where =
            m_names.empty() ? std::string("the document") : "<" + m_names.back() + ">";
        m_counts.error = fmt::format(
            "the document stops inside {} (depth {}) after {} bytes, with {} series and {} "
            "observations so far",
            where, m_names.size(), m_counts.bytes, m_counts.series, m_counts.observations);
        return;
    }
    m_counts.complete = true;
    if (m_kind == Kind::structure) {
        m_counts.error = "a structure message, not data";
    } else if (m_kind == Kind::other) {
        m_counts.error = "not an SDMX data message (root element <" + m_root_name + ">)";
    }
}

void DataCounter::Xml::fail(const std::string& why) {
    if (m_error.empty()) {
        m_error = fmt::format("not well-formed XML after {} bytes: {}", m_counts.bytes, why);
    }
}

const char* DataCounter::Xml::skip_until(const char* p, const char* end,
                                         std::string_view terminator) {
    while (p < end) {
        char c = *p++;
        if (c == terminator[m_match]) {
            if (++m_match == terminator.size()) {
                m_state = State::text;
                m_match = 0;
                return p;
            }
        } else {
            m_match = c == terminator[0] ? 1 : 0;
        }
    }
    return p;
}

std::string_view DataCounter::Xml::resolve(std::string_view prefix) const {
    for (auto it = m_bindings.rbegin(); it != m_bindings.rend(); ++it) {
        if (it->first == prefix) {
            return it->second;
        }
    }
    return {};
}

bool DataCounter::Xml::read_attributes(std::string_view rest, std::size_t& declared,
                                       std::string_view wanted, std::string* wanted_value) {
    std::size_t i = 0;
    while (true) {
        while (i < rest.size() && is_space(rest[i])) {
            ++i;
        }
        if (i >= rest.size() || rest[i] == '/') {
            return true;
        }
        auto eq = rest.find('=', i);
        if (eq == std::string_view::npos) {
            fail("an attribute without a value");
            return false;
        }
        auto name = util::trim_right(rest.substr(i, eq - i), util::k_space_tab_crlf);
        auto q = eq + 1;
        while (q < rest.size() && is_space(rest[q])) {
            ++q;
        }
        if (q >= rest.size() || (rest[q] != '"' && rest[q] != '\'')) {
            fail("an unquoted attribute value");
            return false;
        }
        auto close = rest.find(rest[q], q + 1);
        if (close == std::string_view::npos) {
            fail("an unterminated attribute value");
            return false;
        }
        auto value = rest.substr(q + 1, close - q - 1);
        if (name == "xmlns") {
            m_bindings.emplace_back(std::string(), decode_entities(value));
            ++declared;
        } else if (name.substr(0, 6) == "xmlns:") {
            m_bindings.emplace_back(std::string(name.substr(6)), decode_entities(value));
            ++declared;
        } else if (wanted_value != nullptr && name == wanted) {
            *wanted_value = decode_entities(value);
        }
        i = close + 1;
    }
}

bool DataCounter::Xml::on_tag() {
    std::string_view tag(m_tag);
    if (!tag.empty() && tag[0] == '/') {
        return on_end_tag(tag.substr(1));
    }
    bool self_closing = !tag.empty() && tag.back() == '/';
    std::size_t n = 0;
    while (n < tag.size() && !is_space(tag[n]) && tag[n] != '/') {
        ++n;
    }
    std::string_view qname = tag.substr(0, n);
    if (qname.empty()) {
        fail("an element without a name");
        return false;
    }
    if (m_root_closed) {
        fail("a second root element <" + std::string(qname) + ">");
        return false;
    }
    if (m_names.size() >= k_max_depth) {
        fail("elements nested deeper than 256 levels");
        return false;
    }
    auto colon = qname.find(':');
    std::string_view prefix =
        colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon);
    std::string_view local = colon == std::string_view::npos ? qname : qname.substr(colon + 1);

    std::size_t declared = 0;
    bool wants_code = local == "ErrorMessage";
    std::string code;
    if (wants_code || tag.find("xmlns", n) != std::string_view::npos) {
        if (!read_attributes(tag.substr(n), declared, "code", wants_code ? &code : nullptr)) {
            return false;
        }
    }
    std::size_t depth = m_names.size();
    m_names.emplace_back(qname);
    m_scopes.push_back(declared);

    if (depth == 0) {
        on_root(local, resolve(prefix));
    } else if (m_kind == Kind::data) {
        if (local == "Obs" && m_dataset_depth != 0 && data_namespace(resolve(prefix))) {
            ++m_counts.observations;
        } else if (local == "Series" && m_dataset_depth != 0 && data_namespace(resolve(prefix))) {
            ++m_counts.series;
        } else if (local == "DataSet" && m_dataset_depth == 0) {
            m_dataset_depth = depth + 1;
        } else if (local == "Footer") {
            m_footer_depth = depth + 1;
        } else if (local == "Text" && m_footer_depth != 0 && m_capture_depth == 0) {
            m_capture_depth = depth + 1;
            m_text.clear();
        }
    } else if (m_kind == Kind::error) {
        if (wants_code && !m_counts.sdmx_error_code) {
            m_counts.sdmx_error_code = code;
        } else if (local == "Text" && m_capture_depth == 0) {
            m_capture_depth = depth + 1;
            m_text.clear();
        }
    }
    if (self_closing) {
        return close_element();
    }
    return true;
}

void DataCounter::Xml::on_root(std::string_view local, std::string_view uri) {
    m_root_seen = true;
    m_root_name = std::string(local);
    auto version = version_of(uri);
    auto label = [&](std::string_view what) {
        return version.empty() ? "SDMX-ML " + std::string(what)
                               : "SDMX-ML " + version + " " + std::string(what);
    };
    if (local == "GenericData" || local == "GenericTimeSeriesData" ||
        local == "StructureSpecificData" || local == "StructureSpecificTimeSeriesData" ||
        local == "CompactData" || local == "UtilityData" || local == "CrossSectionalData" ||
        local == "MessageGroup") {
        m_kind = Kind::data;
        m_counts.format = label(local);
    } else if (local == "Error") {
        m_kind = Kind::error;
        m_counts.format = label("Error");
    } else if (local == "Structure" || local == "RegistryInterface") {
        m_kind = Kind::structure;
        m_counts.format = label(local);
    } else if (local == "html" || local == "HTML") {
        m_kind = Kind::other;
        m_counts.format = "HTML";
    } else {
        m_kind = Kind::other;
        m_counts.format = "XML";
    }
}

bool DataCounter::Xml::on_end_tag(std::string_view tag) {
    tag = util::trim_right(tag, util::k_space_tab_crlf);
    if (m_names.empty()) {
        fail("an end tag </" + std::string(tag) + "> without a start tag");
        return false;
    }
    if (tag != m_names.back()) {
        fail("</" + std::string(tag) + "> closes <" + m_names.back() + ">");
        return false;
    }
    return close_element();
}

bool DataCounter::Xml::close_element() {
    std::size_t depth = m_names.size(); // 1-based depth of the element being closed
    if (m_capture_depth == depth) {
        auto text = util::collapse_ws(decode_entities(m_text));
        if (m_kind == Kind::error) {
            if (!m_counts.sdmx_error_text.empty()) {
                m_counts.sdmx_error_text += " ";
            }
            append_bounded(m_counts.sdmx_error_text, text);
        } else {
            if (!m_counts.footer.empty()) {
                m_counts.footer += " ";
            }
            append_bounded(m_counts.footer, text);
        }
        m_capture_depth = 0;
    }
    if (m_dataset_depth == depth) {
        m_dataset_depth = 0;
    }
    if (m_footer_depth == depth) {
        m_footer_depth = 0;
    }
    auto declared = m_scopes.back();
    m_scopes.pop_back();
    m_bindings.resize(m_bindings.size() - declared);
    m_names.pop_back();
    if (m_names.empty()) {
        m_root_closed = true;
    }
    return true;
}

} // namespace dataflow::sdmx

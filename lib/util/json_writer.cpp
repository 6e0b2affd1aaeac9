#include "util/json_writer.hpp"

#include "util/utf8.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace dataflow::util {

void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t run_start = 0;
    auto flush = [&](std::size_t end) { out.append(text.substr(run_start, end - run_start)); };
    for (std::size_t i = 0; i < text.size();) {
        auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            std::size_t next = i;
            char32_t cp = decode_utf8(text, next);
            bool bad = cp == 0xFFFD && !(next - i == 3 && text.substr(i, 3) == "\xEF\xBF\xBD");
            if (bad) {
                flush(i);
                out += "\\ufffd";
                run_start = next;
            }
            i = next;
            continue;
        }
        flush(i);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
        ++i;
        run_start = i;
    }
    flush(text.size());
    out += '"';
}

void JsonWriter::newline() {
    if (m_indent > 0) {
        m_out += '\n';
        m_out.append(m_stack.size() * static_cast<std::size_t>(m_indent), ' ');
    }
}

void JsonWriter::before_value() {
    if (m_after_key) {
        m_after_key = false;
        return;
    }
    if (!m_stack.empty()) {
        if (!m_stack.back().empty) {
            m_out += ',';
        }
        m_stack.back().empty = false;
        newline();
    }
}

JsonWriter& JsonWriter::begin_object() {
    before_value();
    m_out += '{';
    m_stack.push_back({true, true});
    return *this;
}

JsonWriter& JsonWriter::end_object() {
    bool empty = m_stack.back().empty;
    m_stack.pop_back();
    if (!empty) {
        newline();
    }
    m_out += '}';
    return *this;
}

JsonWriter& JsonWriter::begin_array() {
    before_value();
    m_out += '[';
    m_stack.push_back({false, true});
    return *this;
}

JsonWriter& JsonWriter::end_array() {
    bool empty = m_stack.back().empty;
    m_stack.pop_back();
    if (!empty) {
        newline();
    }
    m_out += ']';
    return *this;
}

JsonWriter& JsonWriter::key(std::string_view name) {
    before_value();
    append_json_string(m_out, name);
    m_out += m_indent > 0 ? ": " : ":";
    m_after_key = true;
    return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
    before_value();
    append_json_string(m_out, text);
    return *this;
}

JsonWriter& JsonWriter::rendered_value(std::string_view json) {
    before_value();
    m_out += json;
    return *this;
}

JsonWriter& JsonWriter::value(bool b) {
    before_value();
    m_out += b ? "true" : "false";
    return *this;
}

JsonWriter& JsonWriter::value(std::int64_t n) {
    before_value();
    fmt::format_to(std::back_inserter(m_out), "{}", n);
    return *this;
}

JsonWriter& JsonWriter::value(double d) {
    before_value();
    if (!std::isfinite(d)) {
        m_out += "null";
    } else if (d == std::floor(d) && std::fabs(d) < 1e15) {
        fmt::format_to(std::back_inserter(m_out), "{:.1f}", d);
    } else {
        fmt::format_to(std::back_inserter(m_out), "{}", d);
    }
    return *this;
}

JsonMembers JsonWriter::render_members(int indent, std::size_t depth,
                                       const std::function<void(JsonWriter&)>& write) {
    JsonMembers out;
    out.indent = indent;
    out.depth = depth;
    JsonWriter w(out.text, indent);
    // Pretend to be inside `depth` objects: the writer indents and separates as it would there.
    w.m_stack.assign(depth, Level{true, true});
    write(w);
    if (w.m_stack.size() != depth || w.m_after_key) {
        throw std::logic_error("JsonWriter::render_members: unbalanced members");
    }
    return out;
}

JsonWriter& JsonWriter::members(const JsonMembers& rendered) {
    if (m_after_key || m_stack.empty() || !m_stack.back().is_object ||
        m_stack.size() != rendered.depth || m_indent != rendered.indent) {
        throw std::logic_error("JsonWriter::members: not at the depth and indent they were "
                               "rendered for");
    }
    if (rendered.text.empty()) {
        return *this;
    }
    if (!m_stack.back().empty) {
        m_out += ',';
    }
    m_stack.back().empty = false;
    m_out += rendered.text;
    return *this;
}

JsonWriter& JsonWriter::null() {
    before_value();
    m_out += "null";
    return *this;
}

JsonWriter& JsonWriter::value(const std::optional<std::string>& text) {
    return text ? value(std::string_view(*text)) : null();
}

} // namespace dataflow::util

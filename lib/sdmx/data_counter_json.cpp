// DataCounter::Json: counting an SDMX-JSON data message as it streams in
// (data_counter_readers.hpp).

#include "sdmx/data_counter_readers.hpp"

#include <fmt/format.h>

namespace dataflow::sdmx {

using counter_detail::append_bounded;
using counter_detail::is_space;
using counter_detail::k_max_depth;

bool DataCounter::Json::feed(const char* p, const char* end) {
    while (p < end && m_error.empty()) {
        char c = *p;
        switch (m_state) {
        case State::string: {
            if (m_escape) {
                m_escape = false;
                if (m_capture) {
                    append_bounded(m_string, std::string_view(&c, 1));
                }
                ++p;
                break;
            }
            const char* q = p;
            while (q < end && *q != '"' && *q != '\\') {
                ++q;
            }
            if (m_capture) {
                append_bounded(m_string, std::string_view(p, q - p));
            }
            if (q == end) {
                return true;
            }
            if (*q == '\\') {
                m_escape = true;
                p = q + 1;
                break;
            }
            p = q + 1;
            m_state = State::value_end;
            on_string_done();
            break;
        }
        case State::scalar:
            if (c == ',' || c == '}' || c == ']' || is_space(c)) {
                m_state = State::value_end;
                if (m_scalar_code) {
                    m_scalar_code = false;
                    if (!m_counts.sdmx_error_code) {
                        m_counts.sdmx_error_code = m_string;
                    }
                }
            } else {
                if (m_scalar_code) {
                    append_bounded(m_string, std::string_view(&c, 1));
                }
                ++p;
            }
            break;
        default:
            if (is_space(c)) {
                ++p;
                break;
            }
            ++p;
            if (!on_char(c)) {
                return false;
            }
            break;
        }
    }
    return m_error.empty();
}

void DataCounter::Json::finish() {
    if (!m_error.empty()) {
        m_counts.error = m_error;
    } else if (!m_done) {
        m_counts.error =
            fmt::format("the JSON document stops at depth {} after {} bytes, with {} series and {} "
                        "observations so far",
                        m_stack.size(), m_counts.bytes, m_counts.series, m_counts.observations);
    } else {
        m_counts.complete = true;
        if (!m_has_data && m_counts.sdmx_error_code) {
            m_counts.format = "SDMX-JSON error";
        } else if (!m_has_data) {
            m_counts.error = "JSON without SDMX data (no dataSets)";
        } else {
            m_counts.format = "SDMX-JSON data";
        }
    }
}

void DataCounter::Json::fail(const std::string& why) {
    if (m_error.empty()) {
        m_error = fmt::format("not valid JSON after {} bytes: {}", m_counts.bytes, why);
    }
}

DataCounter::Json::Role DataCounter::Json::child_role(bool object) const {
    if (m_stack.empty()) {
        return object ? Role::root : Role::other;
    }
    const Frame& f = m_stack.back();
    std::string_view key = f.key;
    switch (f.role) {
    case Role::root:
        if (key == "data" && object) {
            return Role::data;
        }
        if (key == "dataSets" && !object) {
            return Role::datasets;
        }
        if (key == "errors" && !object) {
            return Role::errors;
        }
        return Role::other;
    case Role::data:
        return key == "dataSets" && !object ? Role::datasets : Role::other;
    case Role::datasets:
        return object ? Role::dataset : Role::other;
    case Role::dataset:
        if (key == "series" && object) {
            return Role::series;
        }
        return key == "observations" && object ? Role::observations : Role::other;
    case Role::series:
        return object ? Role::series_entry : Role::other;
    case Role::series_entry:
        return key == "observations" && object ? Role::observations : Role::other;
    case Role::errors:
        return object ? Role::error_entry : Role::other;
    default:
        return Role::other;
    }
}

bool DataCounter::Json::keys_matter(Role role) const {
    return role == Role::root || role == Role::data || role == Role::dataset ||
           role == Role::series_entry || role == Role::error_entry;
}

void DataCounter::Json::on_string_done() {
    if (!m_stack.empty() && m_stack.back().object && m_stack.back().expect_key) {
        Frame& f = m_stack.back();
        f.key = m_capture ? m_string : std::string();
        f.expect_key = false;
        m_after_key = true;
        if (f.role == Role::series) {
            ++m_counts.series;
        } else if (f.role == Role::observations) {
            ++m_counts.observations;
        }
        return;
    }
    if (!m_stack.empty() && m_stack.back().role == Role::error_entry && m_capture) {
        const auto& key = m_stack.back().key;
        if (key == "code" && !m_counts.sdmx_error_code) {
            m_counts.sdmx_error_code = m_string;
        } else if ((key == "message" || key == "title" || key == "detail") &&
                   m_counts.sdmx_error_text.empty()) {
            m_counts.sdmx_error_text = m_string;
        }
    }
    value_done();
}

void DataCounter::Json::value_done() {
    if (m_stack.empty()) {
        m_done = true;
    }
}

bool DataCounter::Json::on_char(char c) {
    if (m_done) {
        fail("text after the end of the document");
        return false;
    }
    bool in_object = !m_stack.empty() && m_stack.back().object;
    if (m_state == State::value_end) {
        if (c == ',') {
            if (m_stack.empty()) {
                fail("',' outside a container");
                return false;
            }
            if (in_object) {
                m_stack.back().expect_key = true;
            }
            m_state = State::value;
            return true;
        }
        if (c == ':' && in_object && m_after_key) {
            m_after_key = false;
            m_state = State::value;
            return true;
        }
        if ((c == '}' && in_object) || (c == ']' && !m_stack.empty() && !in_object)) {
            m_stack.pop_back();
            m_state = State::value_end;
            value_done();
            return true;
        }
        fail(fmt::format("unexpected '{}'", c));
        return false;
    }
    // A value (or, in an object, a key) starts.
    if (in_object && m_stack.back().expect_key) {
        if (c == '}') {
            m_stack.pop_back();
            m_state = State::value_end;
            value_done();
            return true;
        }
        if (c != '"') {
            fail("an object key that is not a string");
            return false;
        }
        Role role = m_stack.back().role;
        m_capture = keys_matter(role);
        m_string.clear();
        m_state = State::string;
        return true;
    }
    switch (c) {
    case '{':
    case '[': {
        if (m_stack.size() >= k_max_depth) {
            fail("nesting deeper than 256 levels");
            return false;
        }
        bool object = c == '{';
        Role role = child_role(object);
        if (role == Role::datasets) {
            m_has_data = true;
        }
        m_stack.push_back(Frame{object, role, object, {}});
        m_state = State::value;
        return true;
    }
    case ']':
        if (!m_stack.empty() && !m_stack.back().object) { // empty array
            m_stack.pop_back();
            m_state = State::value_end;
            value_done();
            return true;
        }
        fail("unexpected ']'");
        return false;
    case '"':
        m_capture = !m_stack.empty() && m_stack.back().role == Role::error_entry;
        m_string.clear();
        m_state = State::string;
        return true;
    default:
        if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
            m_state = State::scalar;
            // Scalars end at the next delimiter; only an error's numeric code is kept.
            if (m_stack.empty()) {
                fail("a bare value is not an SDMX-JSON message");
                return false;
            }
            m_scalar_code =
                m_stack.back().role == Role::error_entry && m_stack.back().key == "code";
            m_string.assign(1, c);
            return true;
        }
        fail(fmt::format("unexpected '{}'", c));
        return false;
    }
}

} // namespace dataflow::sdmx

#pragma once
/// The two readers behind DataCounter (data_counter.hpp), internal to sdmx/: the SDMX-ML one
/// (data_counter_xml.cpp) and the SDMX-JSON one (data_counter_json.cpp), and what they share.
/// data_counter.cpp picks one by the first byte and feeds it.

#include "sdmx/data_counter.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dataflow::sdmx {

namespace counter_detail {

constexpr std::size_t k_max_depth = 256;
constexpr std::size_t k_max_text = 2048;

/// XML's and JSON's whitespace (util::k_space_tab_crlf) as a test of one byte, for the hot loops.
inline bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

inline void append_bounded(std::string& out, std::string_view text) {
    if (out.size() < k_max_text) {
        out.append(text.substr(0, k_max_text - out.size()));
    }
}

} // namespace counter_detail

/// SDMX-ML: a streaming tokenizer that keeps the open elements and their xmlns bindings, and
/// counts Series and Obs in data namespaces inside a DataSet.
class DataCounter::Xml {
public:
    explicit Xml(DataCounts& counts);

    bool feed(const char* p, const char* end);
    void finish();

private:
    enum class State { text, open, tag, bang, comment, cdata, pi };
    enum class Kind { unknown, data, error, structure, other };

    void fail(const std::string& why);
    const char* skip_until(const char* p, const char* end, std::string_view terminator);
    std::string_view resolve(std::string_view prefix) const;
    /// Parses attributes: xmlns declarations (always) and the value of `wanted` if asked.
    bool read_attributes(std::string_view rest, std::size_t& declared, std::string_view wanted,
                         std::string* wanted_value);
    bool on_tag();
    void on_root(std::string_view local, std::string_view uri);
    bool on_end_tag(std::string_view tag);
    bool close_element();

    DataCounts& m_counts;
    State m_state = State::text;
    Kind m_kind = Kind::unknown;
    std::string m_tag;
    std::string m_bang;
    std::string m_text;
    std::string m_root_name;
    std::string m_error;
    char m_quote = 0;
    std::size_t m_match = 0;
    std::vector<std::string> m_names;
    std::vector<std::size_t> m_scopes;
    std::vector<std::pair<std::string, std::string>> m_bindings;
    std::size_t m_dataset_depth = 0;
    std::size_t m_footer_depth = 0;
    std::size_t m_capture_depth = 0;
    bool m_root_seen = false;
    bool m_root_closed = false;
};

/// SDMX-JSON: a streaming tokenizer that keeps a stack of containers with their role (data,
/// dataSets, series, observations, errors) and counts the keys of series and observations.
class DataCounter::Json {
public:
    explicit Json(DataCounts& counts) : m_counts(counts) { m_counts.format = "SDMX-JSON"; }

    bool feed(const char* p, const char* end);
    void finish();

private:
    enum class State { value, value_end, string, scalar };
    enum class Role {
        other,
        root,
        data,
        datasets,
        dataset,
        series,
        series_entry,
        observations,
        errors,
        error_entry
    };
    struct Frame {
        bool object;
        Role role;
        bool expect_key; ///< objects: the next string is a key
        std::string key; ///< objects: the current key (bounded)
    };

    void fail(const std::string& why);
    Role child_role(bool object) const;
    bool keys_matter(Role role) const;
    void on_string_done();
    void value_done();
    bool on_char(char c);

    DataCounts& m_counts;
    State m_state = State::value;
    std::vector<Frame> m_stack;
    std::string m_string;
    std::string m_error;
    bool m_capture = false;
    bool m_scalar_code = false;
    bool m_escape = false;
    bool m_after_key = false;
    bool m_done = false;
    bool m_has_data = false;
};

} // namespace dataflow::sdmx

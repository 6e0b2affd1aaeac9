#pragma once
/// A small streaming JSON writer (appends to a std::string). Used for reports and JSON log lines,
/// where building a DOM first would double the memory and the time.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::util {

/// Appends `text` as a JSON string literal (with quotes). Ill-formed UTF-8 becomes U+FFFD, so
/// the output is always valid JSON whatever the input holds.
void append_json_string(std::string& out, std::string_view text);

/// Members of a JSON object rendered once (a cached report, say) to be written into other
/// objects later, byte for byte as if written there: made only by JsonWriter::render_members,
/// written only by JsonWriter::members at the same depth and indent.
struct JsonMembers {
    std::string text; ///< ",\n  \"key\": value" runs, without the leading comma
    int indent = 0;
    std::size_t depth = 1;
};

class JsonWriter {
public:
    /// `indent` 0 writes compact JSON; otherwise pretty-printed with that many spaces.
    explicit JsonWriter(std::string& out, int indent = 0) : m_out(out), m_indent(indent) {}

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    JsonWriter& key(std::string_view name);

    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
    JsonWriter& value(bool b);
    JsonWriter& value(std::int64_t n);
    JsonWriter& value(int n) { return value(static_cast<std::int64_t>(n)); }
    JsonWriter& value(std::size_t n) { return value(static_cast<std::int64_t>(n)); }
    JsonWriter& value(double d);
    JsonWriter& null();
    JsonWriter& value(const std::optional<std::string>& text);
    /// A value rendered elsewhere as one valid compact JSON value (a stored document), written
    /// verbatim: the caller vouches for it (it came from a JSON serialiser, never from input).
    JsonWriter& rendered_value(std::string_view json);

    /// Renders the members `write` adds into an object `depth` levels deep (1: the top-level
    /// object of a document).
    static JsonMembers render_members(int indent, std::size_t depth,
                                      const std::function<void(JsonWriter&)>& write);
    /// Writes members rendered by render_members into the object being written; throws
    /// std::logic_error when not inside an object at their depth and indent.
    JsonWriter& members(const JsonMembers& rendered);

    template <typename T>
    JsonWriter& field(std::string_view name, const T& v) {
        key(name);
        return value(v);
    }

private:
    void before_value();
    void newline();

    std::string& m_out;
    int m_indent;
    struct Level {
        bool is_object;
        bool empty;
    };
    std::vector<Level> m_stack;
    bool m_after_key = false;
};

} // namespace dataflow::util

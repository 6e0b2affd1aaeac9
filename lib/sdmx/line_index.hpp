#pragma once
/// Line starts of a document, taken before an in-place parser rewrites it: the line a dataflow
/// starts on, and LINE:COL in error messages.

#include "util/utf8.hpp"

#include <cstddef>
#include <string_view>
#include <vector>

namespace dataflow::sdmx {

class LineIndex {
public:
    /// Scans `text` for its line starts.
    explicit LineIndex(std::string_view text);
    /// Takes the line starts of `text` found elsewhere (util::find_invalid_utf8 finds them while
    /// it validates): 0, then the offset after every '\n'.
    LineIndex(std::string_view text, std::vector<std::size_t> starts);

    /// The 1-based line holding byte `offset`.
    std::size_t line(std::size_t offset) const;
    /// The same, searching forward from line `from` first: offsets asked for in document order
    /// are a few lines apart.
    std::size_t line(std::size_t offset, std::size_t from) const;

    /// Line and column (code points, 1-based) of byte `offset`; the column is read from the
    /// buffer as it is now, so it differs only after a decoded entity earlier on the same line.
    util::TextPosition position(std::size_t offset) const;

    /// 0, then the offset after every '\n'.
    const std::vector<std::size_t>& starts() const { return m_starts; }

private:
    std::string_view m_text;
    std::vector<std::size_t> m_starts;
};

} // namespace dataflow::sdmx

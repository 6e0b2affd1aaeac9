#include "sdmx/line_index.hpp"

#include <algorithm>
#include <cstring>

namespace dataflow::sdmx {

LineIndex::LineIndex(std::string_view text) : m_text(text) {
    m_starts.push_back(0);
    const char* base = text.data();
    const char* p = base;
    const char* end = base + text.size();
    while ((p = static_cast<const char*>(
                std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr) {
        ++p;
        m_starts.push_back(static_cast<std::size_t>(p - base));
    }
}

LineIndex::LineIndex(std::string_view text, std::vector<std::size_t> starts)
    : m_text(text), m_starts(std::move(starts)) {
    if (m_starts.empty() || m_starts.front() != 0) {
        m_starts.insert(m_starts.begin(), 0);
    }
}

std::size_t LineIndex::line(std::size_t offset) const {
    return static_cast<std::size_t>(std::upper_bound(m_starts.begin(), m_starts.end(), offset) -
                                    m_starts.begin());
}

std::size_t LineIndex::line(std::size_t offset, std::size_t from) const {
    if (from == 0 || from > m_starts.size() || m_starts[from - 1] > offset) {
        return line(offset);
    }
    // m_starts[from - 1] <= offset: step forward while the next line still starts at or before it.
    for (int steps = 0; steps < 256; ++steps) {
        if (from == m_starts.size() || m_starts[from] > offset) {
            return from;
        }
        ++from;
    }
    return line(offset);
}

util::TextPosition LineIndex::position(std::size_t offset) const {
    util::TextPosition pos;
    pos.line = line(offset);
    offset = std::min(offset, m_text.size());
    for (std::size_t i = m_starts[pos.line - 1]; i < offset; ++i) {
        pos.column += (static_cast<unsigned char>(m_text[i]) & 0xC0) != 0x80 ? 1 : 0;
    }
    return pos;
}

} // namespace dataflow::sdmx

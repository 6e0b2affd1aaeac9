// DataCounter: strips a byte order mark, picks the reader by the first byte and feeds it; the
// readers are data_counter_xml.cpp (SDMX-ML) and data_counter_json.cpp (SDMX-JSON).

#include "sdmx/data_counter_readers.hpp"

namespace dataflow::sdmx {

using counter_detail::is_space;

bool DataCounts::no_results() const {
    return sdmx_error_code &&
           (*sdmx_error_code == "100" || sdmx_error_text.find("No Results") != std::string::npos ||
            sdmx_error_text.find("NoResults") != std::string::npos);
}

DataCounter::DataCounter() = default;

DataCounter::~DataCounter() = default; // here, where Xml and Json are complete

bool DataCounter::feed(std::string_view chunk) {
    if (m_failed) {
        return false;
    }
    m_counts.bytes += chunk.size();
    const char* p = chunk.data();
    const char* end = p + chunk.size();
    if (!m_started) {
        static constexpr unsigned char bom[] = {0xEF, 0xBB, 0xBF};
        while (p < end && m_bom < 3 && static_cast<unsigned char>(*p) == bom[m_bom]) {
            ++p;
            ++m_bom;
        }
        if (m_bom > 0 && m_bom < 3 && p < end) {
            m_counts.error = "not UTF-8 text (a broken byte order mark)";
            m_failed = true;
            return false;
        }
        while (p < end && is_space(*p)) {
            ++p;
        }
        if (p == end) {
            return true;
        }
        m_started = true;
        if (*p == '<') {
            m_xml = std::make_unique<Xml>(m_counts);
        } else if (*p == '{') {
            m_json = std::make_unique<Json>(m_counts);
        } else {
            m_counts.error =
                "neither XML nor JSON (the body starts with '" + std::string(1, *p) + "')";
            m_failed = true;
            return false;
        }
    }
    bool ok = m_xml != nullptr ? m_xml->feed(p, end) : m_json->feed(p, end);
    if (!ok) {
        m_failed = true;
        finish();
    }
    return ok;
}

DataCounts DataCounter::finish() {
    if (m_counts.error.empty()) {
        if (m_xml != nullptr) {
            m_xml->finish();
        } else if (m_json != nullptr) {
            m_json->finish();
        } else {
            m_counts.error = "the body is empty";
        }
    }
    return m_counts;
}

} // namespace dataflow::sdmx

#pragma once
/// Counting series and observations of an SDMX data message while it streams in, in constant
/// memory whatever its size: SDMX-ML 2.0/2.1/3.0 (GenericData, StructureSpecificData, Compact)
/// with namespaces resolved by URI, and SDMX-JSON data. Also recognises SDMX error messages,
/// footers (Eurostat's "the answer is too large" notes) and documents that stop half-way.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::sdmx {

struct DataCounts {
    std::string format; ///< "SDMX-ML 2.1 GenericData", "SDMX-JSON data", ...
    std::uint64_t series = 0;
    std::uint64_t observations = 0;
    std::uint64_t bytes = 0; ///< bytes fed
    bool complete = false;   ///< the document was well-formed and ended properly
    std::string error;       ///< why it is not a usable data message (empty: fine)
    std::string footer;      ///< footer message text, if any
    std::optional<std::string> sdmx_error_code; ///< an SDMX error message's code ("100")
    std::string sdmx_error_text;
    /// An SDMX error message saying there is no data (code 100, "No Results Found").
    bool no_results() const;
};

class DataCounter {
public:
    DataCounter();
    ~DataCounter();
    DataCounter(const DataCounter&) = delete;
    DataCounter& operator=(const DataCounter&) = delete;

    /// Feeds the next piece of the body. Returns false once the input is known to be unusable
    /// (the caller may stop reading); counts() says why.
    bool feed(std::string_view chunk);
    /// Ends the input and returns the result (incomplete documents get an error saying how
    /// far they got).
    DataCounts finish();
    const DataCounts& counts() const { return m_counts; }

private:
    class Xml;
    class Json;
    DataCounts m_counts;
    std::unique_ptr<Xml> m_xml; ///< the reader for the kind of document seen, once started
    std::unique_ptr<Json> m_json;
    bool m_started = false;
    bool m_failed = false;
    int m_bom = 0;
};

} // namespace dataflow::sdmx

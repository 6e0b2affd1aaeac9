// libFuzzer target: the SDMX-ML catalogue reader. Bad documents must end in a dataflow::Error
// (an InputError naming LINE:COL), never a crash, a hang or another exception. Differential too:
// the streaming fast path (sdmx/xml_stream.hpp, tried first), the same split between two
// threads (ReadOptions::threads) and the pugixml-only reader must give the same dataflows or
// the same error; a difference aborts.
#include "sdmx/reader.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

/// The catalogue's fields that the readers fill, as one string, or the error message.
std::string outcome(const std::uint8_t* data, std::size_t size, bool stream, unsigned threads) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    dataflow::sdmx::ReadOptions options;
    options.xml_stream = stream;
    options.threads = threads;
    options.split_min_bytes = 0;
    options.all_annotations = size % 2 == 0;
    try {
        auto c = dataflow::sdmx::read_catalog_xml(bytes, "fuzz.xml", options);
        std::string out = c.format + '|' + c.prepared + '|';
        auto texts = [&out](const std::vector<dataflow::sdmx::LocalizedText>& v) {
            for (const auto& t : v) {
                out += t.lang + '=' + t.text + ';';
            }
        };
        for (const auto& f : c.dataflows) {
            out += f.id + ',' + f.agency_id + ',' + f.version + ',' + f.urn + ',' +
                   std::to_string(f.source_line) + ',' + (f.is_final ? "f" : "-") +
                   (f.is_final.value_or(false) ? "1" : "0") + ',' + f.structure.id + ',' +
                   f.structure.agency_id + ',' + f.structure.version + ',' + f.structure.urn;
            texts(f.names);
            texts(f.descriptions);
            for (const auto& a : f.annotations) {
                out += a.id + ',' + a.title + ',' + a.type + ',' + a.url;
                texts(a.texts);
            }
            out += '\n';
        }
        out += std::to_string(c.category_schemes.size()) + ',' +
               std::to_string(c.categorisations.size()) + ',' + std::to_string(c.warnings.size());
        return out;
    } catch (const dataflow::Error& e) {
        return std::string("error: ") + e.what();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto dom = outcome(data, size, false, 1);
    if (outcome(data, size, true, 1) != dom || outcome(data, size, true, 2) != dom) {
        std::abort(); // the streaming reader read the document differently
    }
    return 0;
}

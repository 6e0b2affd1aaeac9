// libFuzzer target: the SDMX-JSON catalogue reader (differential: a MemoryStream, and a
// NUL-terminated StringStream split between two readers, read the same), and format detection
// in read_catalog().
#include "sdmx/reader.hpp"
#include "util/error.hpp"
#include "util/utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view view(reinterpret_cast<const char*>(data), size);
    // Read from a MemoryStream (any view) and from a StringStream (a NUL-terminated copy,
    // ReadOptions::nul_terminated): the same catalogue or the same error.
    auto outcome = [](std::string_view text, bool terminated) {
        dataflow::sdmx::ReadOptions options;
        options.nul_terminated = terminated;
        options.threads = terminated ? 2 : 1; // and split between two readers
        options.split_min_bytes = 0;
        // The StringStream is for text whose UTF-8 was checked (read_catalog() checks it).
        options.utf8_checked = terminated && !dataflow::util::find_invalid_utf8(text);
        try {
            auto c = dataflow::sdmx::read_catalog_json(text, "fuzz.json", options);
            std::string out = c.prepared + '|' + std::to_string(c.warnings.size());
            for (const auto& f : c.dataflows) {
                out += f.id + ',' + f.agency_id + ',' + f.version + ';';
                for (const auto& n : f.names) {
                    out += n.lang + '=' + n.text + ';';
                }
            }
            return out;
        } catch (const dataflow::Error& e) {
            return std::string("error: ") + e.what();
        }
    };
    const std::string terminated(view);
    if (outcome(view, false) != outcome(terminated, true)) {
        std::abort(); // the two streams read the document differently
    }
    std::string bytes(view);
    try {
        auto catalog = dataflow::sdmx::read_catalog(bytes, "fuzz", {});
        (void)catalog;
    } catch (const dataflow::Error&) {
    }
    return 0;
}

// libFuzzer target: the SDMX-ML catalogue reader. Bad documents must end in a dataflow::Error
// (an InputError naming LINE:COL), never a crash, a hang or another exception.
#include "sdmx/reader.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string bytes(reinterpret_cast<const char*>(data), size);
    try {
        auto catalog = dataflow::sdmx::read_catalog_xml(bytes, "fuzz.xml", {});
        (void)catalog;
    } catch (const dataflow::Error&) {
    }
    return 0;
}

// libFuzzer target: the SDMX-JSON catalogue reader, and format detection in read_catalog().
#include "sdmx/reader.hpp"
#include "util/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view view(reinterpret_cast<const char*>(data), size);
    try {
        auto catalog = dataflow::sdmx::read_catalog_json(view, "fuzz.json", {});
        (void)catalog;
    } catch (const dataflow::Error&) {
    }
    std::string bytes(view);
    try {
        auto catalog = dataflow::sdmx::read_catalog(bytes, "fuzz", {});
        (void)catalog;
    } catch (const dataflow::Error&) {
    }
    return 0;
}

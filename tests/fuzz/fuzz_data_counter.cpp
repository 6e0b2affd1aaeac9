// libFuzzer target: the streaming data-message counter, fed in chunks whose sizes come from the
// input (a body arrives in arbitrary pieces). It never throws: problems land in counts().error.
#include "sdmx/data_counter.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // The first byte picks the chunk size (1..256 bytes).
    std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
    std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    dataflow::sdmx::DataCounter counter;
    for (std::size_t at = 0; at < body.size(); at += chunk) {
        if (!counter.feed(body.substr(at, std::min(chunk, body.size() - at)))) {
            break;
        }
    }
    auto counts = counter.finish();
    if (!counts.complete && counts.error.empty()) {
        __builtin_trap(); // an incomplete document must say why
    }
    return 0;
}

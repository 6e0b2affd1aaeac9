#pragma once
/// The SDMX-JSON reader as it was before the SAX rewrite (an ordered_json DOM), kept only as the
/// oracle the SAX reader is compared with: same catalogue, same error, for every input.

#include "sdmx/reader.hpp"

#include <string_view>

namespace dataflow::test {

sdmx::Catalog read_catalog_json_dom(std::string_view bytes, std::string_view source_name,
                                    const sdmx::ReadOptions& options);

} // namespace dataflow::test

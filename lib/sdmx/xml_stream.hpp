#pragma once
/// The SDMX-ML catalogue reader's fast path: one scan of the bytes, no DOM. It reads the common
/// case (a 2.0 / 2.1 / 3.0 Structure message listing dataflows) into the Catalog the pugixml
/// reader builds, and gives up on anything it is not sure to read the same way (a DTD, an error
/// or data message, category schemes, an unknown entity, any syntax error, ...): the caller then
/// runs the pugixml reader on the untouched bytes, so every error stays that reader's.

#include "sdmx/catalog.hpp"
#include "sdmx/line_index.hpp"
#include "sdmx/reader.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace dataflow::sdmx {

/// Reads `buffer` (the document after any byte order mark; `lines` are its line starts) without
/// modifying it; std::nullopt when the pugixml reader must read it instead. Never throws an
/// InputError. With options.threads >= 2 a document of options.split_min_bytes or more is read
/// by two readers at once, the second from a Dataflow about halfway through; the result is the
/// one-reader result (xml_stream.cpp, "Context").
std::optional<Catalog> read_catalog_xml_stream(std::string_view buffer, const LineIndex& lines,
                                               const ReadOptions& options);

/// How many documents read_catalog_xml_stream() has read to the end in this process: the tests'
/// proof that the fast path runs.
std::size_t xml_stream_reads();
/// How many of them were read by two readers, each taking a part (ReadOptions::threads): the
/// tests' proof that the split is taken.
std::size_t xml_stream_splits();

} // namespace dataflow::sdmx

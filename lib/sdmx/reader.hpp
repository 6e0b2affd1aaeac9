#pragma once
/// Reads an SDMX structure message (SDMX-ML 2.0 / 2.1 / 3.0 or SDMX-JSON 2.0) into a Catalog:
/// its dataflows, category schemes and categorisations (SDMX-ML 2.1 / 3.0 and SDMX-JSON; 2.0
/// category schemes too), all in one pass. A message with at least one of the three is accepted
/// (a category scheme alone is a valid input, to be merged with a dataflow list); anything else
/// (data, error, codelist-only, ... messages) is refused with an InputError that says what it is.

#include "sdmx/catalog.hpp"
#include "sdmx/line_index.hpp"

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace dataflow::sdmx {

struct ReadOptions {
    std::size_t max_depth = 256; ///< deepest element / JSON nesting accepted
    /// false: the readers keep only the annotations derive_annotation_facts() reads
    /// (is_fact_annotation()), for a caller that needs the derived facts but not the annotations
    /// (one analysis: 5,000 ISTAT dataflows carry about 37,000). Every annotation is still
    /// checked: a malformed one is the same error either way.
    bool all_annotations = true;
    /// The caller checked the whole input is UTF-8 (read_catalog() does): the SDMX-JSON reader
    /// then does not check its strings again.
    bool utf8_checked = false;
    /// true: SDMX-ML is read by the streaming reader (sdmx/xml_stream.hpp) when it can, by
    /// pugixml otherwise; false: by pugixml only (the tests' oracle for the streaming reader).
    bool xml_stream = true;
    /// Threads read_catalog() may use on a large input (1 MiB or more): with 2, the UTF-8 check
    /// and the streaming SDMX-ML reader each split their work in two. The result, warnings and
    /// errors are the same as with 1.
    unsigned threads = 1;
    /// The byte after the input is readable and NUL (a std::string's, a mapped file's that
    /// does not end on a page boundary): SDMX-JSON whose UTF-8 was checked (utf8_checked) is
    /// then scanned 16 bytes at a time, and split between two readers (threads).
    bool nul_terminated = false;
    /// With threads >= 2, the smallest SDMX-ML document the streaming reader splits between
    /// two threads, and the smallest NUL-terminated SDMX-JSON document the SDMX-JSON reader
    /// splits (the tests lower it to split small documents).
    std::size_t split_min_bytes = std::size_t{1} << 20;
    /// When set, the streaming SDMX-ML reader says, every few MiB, which bytes of the input it
    /// has read past (each reader its own part, in order): a mapped input then lets those pages
    /// go (util::MappedFile::drop), so a large file does not stay resident beside the catalogue
    /// made from it. The reader may still read them (an error's context, pugixml after it gives
    /// up): they are the same bytes, mapped again.
    std::function<void(const char* from, const char* to)> done_with;
};

/// Detects the format from the bytes and parses. `bytes` may be modified in place (the XML
/// parser works in the buffer). Errors name `source_name` and, where it applies, LINE:COL.
Catalog read_catalog(std::string& bytes, std::string_view source_name,
                     const ReadOptions& options = {});
/// The same on any writable buffer.
Catalog read_catalog(std::span<char> bytes, std::string_view source_name,
                     const ReadOptions& options = {});

/// read_catalog() on bytes it must not modify (a mapped file, util::MappedFile): the same
/// catalogue, warnings and errors. SDMX-ML that only pugixml reads (category schemes, a DTD,
/// ...) is copied for it first.
Catalog read_catalog_readonly(std::string_view bytes, std::string_view source_name,
                              const ReadOptions& options = {});

/// The format-specific readers; read_catalog() chooses between them.
Catalog read_catalog_xml(std::string& bytes, std::string_view source_name,
                         const ReadOptions& options);
/// read_catalog_xml() with the line starts of `bytes` (after a BOM) already taken.
Catalog read_catalog_xml(std::string& bytes, std::string_view source_name,
                         const ReadOptions& options, const LineIndex& lines);
Catalog read_catalog_xml(std::span<char> bytes, std::string_view source_name,
                         const ReadOptions& options, const LineIndex& lines);
Catalog read_catalog_json(std::string_view bytes, std::string_view source_name,
                          const ReadOptions& options);
/// How many SDMX-JSON documents were read by two readers, each taking a part
/// (ReadOptions::threads, nul_terminated): the tests' proof that the split is taken.
std::size_t json_splits();

} // namespace dataflow::sdmx

#pragma once
/// Human units for configuration and options: sizes ("64MiB") and durations ("1m30s").

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dataflow::util {

/// Parses a byte size: a non-negative number with an optional unit, GNU coreutils style:
/// B; K, Ki, KiB = 1024; KB = 1000; likewise M, G, T (case-insensitive). "1.5M" is allowed;
/// the result is rounded down to whole bytes. nullopt when malformed; UINT64_MAX when
/// well-formed but 2^63 or more.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// Formats a size with the largest binary unit that divides it exactly ("64MiB", "1000").
std::string format_size(std::uint64_t bytes);

/// Parses a duration in milliseconds: one or more number+unit parts ("500ms", "30s", "1m30s",
/// "2h", "1d", "1.5s"), or a bare number meaning seconds ("30"). nullopt when malformed,
/// negative, finer than a millisecond or over 100 years.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

/// Formats milliseconds the way parse_duration_ms reads them back: "1h30m", "500ms", "0s".
std::string format_duration_ms(std::int64_t ms);

} // namespace dataflow::util

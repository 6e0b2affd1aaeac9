#pragma once
/// Timestamps as agencies write them, and as dataflow prints them (UTC RFC 3339).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::util {

using SysMillis = std::chrono::sys_time<std::chrono::milliseconds>;

/// How to read `NN/NN/YYYY`: ISTAT writes both `14/11/2025` (day first) and, in its SDMX-JSON,
/// `03/18/2024` (month first).
enum class DateOrder { day_first, month_first };

/// Parses the timestamp forms seen in SDMX annotations and headers:
/// `2025-11-14T16:15:51.591Z`, `2025-11-14T16:15:51+01:00`, `2025-11-14T16:15:51` (taken as
/// UTC), `2025-11-14`, `14/11/2025 16:15:51` and `14/11/2025` (slash dates taken as UTC, in
/// `order`). Returns nullopt for anything else, including impossible dates.
std::optional<SysMillis> parse_timestamp(std::string_view text,
                                         DateOrder order = DateOrder::day_first);

/// Which order a set of slash dates uses: day first unless one of them only makes sense month
/// first (`03/18/2024`).
DateOrder detect_date_order(const std::vector<std::string_view>& samples);

/// What some slash dates say of the order, so that the parts of a set can be looked at apart:
/// detect_date_order(a + b) is date_evidence(a).merge(date_evidence(b)).order().
struct DateEvidence {
    bool day_first = false;   ///< a date only makes sense day first (`18/03/2024`)
    bool month_first = false; ///< a date only makes sense month first (`03/18/2024`)
    DateOrder order() const {
        return month_first && !day_first ? DateOrder::month_first : DateOrder::day_first;
    }
    DateEvidence merge(const DateEvidence& other) const {
        return {day_first || other.day_first, month_first || other.month_first};
    }
};
DateEvidence date_evidence(const std::vector<std::string_view>& samples);

/// UTC RFC 3339: `2025-11-14T16:15:51Z`, with `.mmm` only when the milliseconds are not zero.
std::string format_rfc3339(SysMillis t);

/// Same, for a system_clock time point (milliseconds kept).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

} // namespace dataflow::util

#include "util/units.hpp"

#include "util/strings.hpp"

#include <cctype>
#include <charconv>
#include <cmath>

namespace dataflow::util {

namespace {

/// Reads "123" or "1.25" at the front of `text`; advances it.
std::optional<double> read_number(std::string_view& text) {
    std::size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
        ++i;
    }
    if (i == 0) {
        return std::nullopt;
    }
    if (i < text.size() && text[i] == '.') {
        std::size_t j = i + 1;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) {
            ++j;
        }
        if (j == i + 1) {
            return std::nullopt;
        }
        i = j;
    }
    double value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + i, value);
    if (ec != std::errc() || ptr != text.data() + i) {
        return std::nullopt;
    }
    text.remove_prefix(i);
    return value;
}

} // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
    text = trim(text);
    auto number = read_number(text);
    if (!number) {
        return std::nullopt;
    }
    auto unit = ascii_lower(trim(text));
    double mult = 0;
    if (unit.empty() || unit == "b") {
        mult = 1;
    } else {
        static constexpr std::string_view prefixes = "kmgt";
        auto p = prefixes.find(unit[0]);
        if (p == std::string_view::npos) {
            return std::nullopt;
        }
        auto rest = unit.substr(1);
        double binary = std::pow(1024.0, static_cast<double>(p + 1));
        double decimal = std::pow(1000.0, static_cast<double>(p + 1));
        if (rest.empty() || rest == "i" || rest == "ib") {
            mult = binary;
        } else if (rest == "b") {
            mult = decimal;
        } else {
            return std::nullopt;
        }
    }
    double bytes = std::floor(*number * mult);
    if (!(bytes < 9.2e18)) {
        return UINT64_MAX; // well-formed but too large
    }
    return static_cast<std::uint64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
    static constexpr const char* units[] = {"TiB", "GiB", "MiB", "KiB"};
    if (bytes == 0) {
        return "0";
    }
    for (int i = 0; i < 4; ++i) {
        std::uint64_t unit = 1ULL << (10 * (4 - i));
        if (bytes % unit == 0) {
            return std::to_string(bytes / unit) + units[i];
        }
    }
    return std::to_string(bytes);
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
    text = trim(text);
    if (text.empty()) {
        return std::nullopt;
    }
    double total = 0;
    bool first = true;
    while (!text.empty()) {
        auto number = read_number(text);
        if (!number) {
            return std::nullopt;
        }
        std::size_t u = 0;
        while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) {
            ++u;
        }
        auto unit = ascii_lower(text.substr(0, u));
        text.remove_prefix(u);
        double mult = 0;
        if (unit.empty()) {
            if (!first || !text.empty()) {
                return std::nullopt; // "1m30" is ambiguous
            }
            mult = 1000; // a bare number is seconds, as in the reference configuration
        } else if (unit == "ms") {
            mult = 1;
        } else if (unit == "s") {
            mult = 1000;
        } else if (unit == "m" || unit == "min") {
            mult = 60'000;
        } else if (unit == "h") {
            mult = 3'600'000;
        } else if (unit == "d") {
            mult = 86'400'000;
        } else {
            return std::nullopt;
        }
        total += *number * mult;
        first = false;
    }
    if (total > 100.0 * 365 * 86'400'000 || total != std::floor(total)) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(total);
}

std::string format_duration_ms(std::int64_t ms) {
    if (ms == 0) {
        return "0s";
    }
    std::string out;
    if (ms < 0) {
        out = "-";
        ms = -ms;
    }
    struct Part {
        std::int64_t size;
        const char* unit;
    };
    static constexpr Part parts[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
    for (const auto& p : parts) {
        if (ms >= p.size) {
            out += std::to_string(ms / p.size);
            out += p.unit;
            ms %= p.size;
        }
    }
    return out;
}

} // namespace dataflow::util

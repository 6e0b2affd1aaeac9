#include "util/time.hpp"

#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace dataflow::util {

namespace {

struct Cursor {
    std::string_view s;
    std::size_t i = 0;

    bool digits(std::size_t n, int& out) {
        if (i + n > s.size()) {
            return false;
        }
        int v = 0;
        for (std::size_t k = 0; k < n; ++k) {
            char c = s[i + k];
            if (c < '0' || c > '9') {
                return false;
            }
            v = v * 10 + (c - '0');
        }
        out = v;
        i += n;
        return true;
    }
    bool lit(char c) {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    bool done() const { return i == s.size(); }
};

std::optional<SysMillis> make(int y, int mo, int d, int h, int mi, int sec, int ms,
                              int offset_min) {
    using namespace std::chrono;
    year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) {
        return std::nullopt;
    }
    auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{ms};
    return time_point_cast<milliseconds>(t - minutes{offset_min});
}

bool parse_time(Cursor& c, int& h, int& mi, int& sec, int& ms) {
    if (!c.digits(2, h) || !c.lit(':') || !c.digits(2, mi)) {
        return false;
    }
    sec = 0;
    ms = 0;
    if (c.lit(':')) {
        if (!c.digits(2, sec)) {
            return false;
        }
        if (c.lit('.') || c.lit(',')) {
            // Any number of fraction digits (ISTAT writes 7); keep milliseconds.
            std::size_t start = c.i;
            int scale = 100;
            while (c.i < c.s.size() && std::isdigit(static_cast<unsigned char>(c.s[c.i]))) {
                if (scale > 0) {
                    ms += (c.s[c.i] - '0') * scale;
                    scale /= 10;
                }
                ++c.i;
            }
            if (c.i == start) {
                return false;
            }
        }
    }
    return true;
}

} // namespace

DateEvidence date_evidence(const std::vector<std::string_view>& samples) {
    DateEvidence e;
    for (auto s : samples) {
        s = trim_left(s, k_space_tab_crlf);
        if (s.size() < 10 || s[2] != '/' || s[5] != '/') {
            continue;
        }
        int a = (s[0] - '0') * 10 + (s[1] - '0');
        int b = (s[3] - '0') * 10 + (s[4] - '0');
        e.day_first = e.day_first || a > 12;
        e.month_first = e.month_first || b > 12;
    }
    return e;
}

DateOrder detect_date_order(const std::vector<std::string_view>& samples) {
    return date_evidence(samples).order();
}

std::optional<SysMillis> parse_timestamp(std::string_view text, DateOrder order) {
    text = trim(text);
    Cursor c{text};
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
    if (text.size() >= 10 && text[2] == '/' && text[5] == '/') {
        if (!c.digits(2, d) || !c.lit('/') || !c.digits(2, mo) || !c.lit('/') || !c.digits(4, y)) {
            return std::nullopt;
        }
        if (!c.done()) {
            if (!c.lit(' ') || !parse_time(c, h, mi, sec, ms) || !c.done()) {
                return std::nullopt;
            }
        }
        if (order == DateOrder::month_first) {
            std::swap(d, mo);
        }
        return make(y, mo, d, h, mi, sec, ms, 0);
    }
    if (!c.digits(4, y) || !c.lit('-') || !c.digits(2, mo) || !c.lit('-') || !c.digits(2, d)) {
        return std::nullopt;
    }
    if (c.done()) {
        return make(y, mo, d, 0, 0, 0, 0, 0);
    }
    if (!(c.lit('T') || c.lit('t') || c.lit(' ')) || !parse_time(c, h, mi, sec, ms)) {
        return std::nullopt;
    }
    int offset = 0;
    if (c.lit('Z') || c.lit('z')) {
        // UTC
    } else if (c.i < text.size() && (text[c.i] == '+' || text[c.i] == '-')) {
        int sign = text[c.i] == '-' ? -1 : 1;
        ++c.i;
        int oh = 0, om = 0;
        if (!c.digits(2, oh)) {
            return std::nullopt;
        }
        c.lit(':');
        if (!c.digits(2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset = sign * (oh * 60 + om);
    }
    if (!c.done()) {
        return std::nullopt;
    }
    return make(y, mo, d, h, mi, sec, ms, offset);
}

std::string format_rfc3339(SysMillis t) {
    using namespace std::chrono;
    auto days = floor<std::chrono::days>(t);
    year_month_day ymd{days};
    hh_mm_ss hms{t - days};
    auto ms = hms.subseconds().count();
    const int year = static_cast<int>(ymd.year());
    if (year >= 0 && year <= 9999) {
        // By hand: a catalogue formats one per dataflow, and fmt's parsing dominated.
        char buf[24];
        auto put = [&buf](std::size_t at, long long v, std::size_t width) {
            for (std::size_t k = width; k-- > 0; v /= 10) {
                buf[at + k] = static_cast<char>('0' + v % 10);
            }
        };
        put(0, year, 4);
        buf[4] = '-';
        put(5, static_cast<unsigned>(ymd.month()), 2);
        buf[7] = '-';
        put(8, static_cast<unsigned>(ymd.day()), 2);
        buf[10] = 'T';
        put(11, hms.hours().count(), 2);
        buf[13] = ':';
        put(14, hms.minutes().count(), 2);
        buf[16] = ':';
        put(17, hms.seconds().count(), 2);
        std::size_t n = 19;
        if (ms != 0) {
            buf[n] = '.';
            put(n + 1, ms, 3);
            n += 4;
        }
        buf[n++] = 'Z';
        return std::string(buf, n);
    }
    std::string out =
        fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                    static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    hms.hours().count(), hms.minutes().count(), hms.seconds().count());
    if (ms != 0) {
        out += fmt::format(".{:03}", ms);
    }
    out += 'Z';
    return out;
}

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
    return format_rfc3339(std::chrono::time_point_cast<std::chrono::milliseconds>(t));
}

} // namespace dataflow::util

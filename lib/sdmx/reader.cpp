#include "sdmx/reader.hpp"

#include "sdmx/xml_stream.hpp"
#include "util/error.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <exception>
#include <optional>
#include <utility>
#include <vector>

namespace dataflow::sdmx {

namespace {

/// Skips the XML declaration, comments, processing instructions and whitespace.
std::string_view skip_xml_prolog(std::string_view s) {
    for (;;) {
        s = util::trim(s);
        if (s.starts_with("<?")) {
            auto end = s.find("?>");
            if (end == std::string_view::npos) {
                return s;
            }
            s.remove_prefix(end + 2);
        } else if (s.starts_with("<!--")) {
            auto end = s.find("-->");
            if (end == std::string_view::npos) {
                return s;
            }
            s.remove_prefix(end + 3);
        } else {
            return s;
        }
    }
}

[[noreturn]] void html_page(std::string_view name, std::string_view text) {
    std::string title;
    auto head = text.substr(0, 64 * 1024);
    auto lower = util::ascii_lower(head);
    auto t = lower.find("<title");
    if (t != std::string::npos) {
        auto gt = lower.find('>', t);
        auto end = lower.find("</title", t);
        if (gt != std::string::npos && end != std::string::npos && end > gt) {
            title = std::string(util::trim(head.substr(gt + 1, end - gt - 1)));
            if (title.size() > 200) {
                title = util::truncate_to_width(title, 200);
            }
        }
    }
    throw InputError(fmt::format(
        "{}: this is an HTML page{}, not an SDMX dataflow list; the server probably answered "
        "with an error or login page instead of SDMX (check the URL)",
        name, title.empty() ? "" : fmt::format(" (title: \"{}\")", title)));
}

/// Names well-known non-text formats by their first bytes: what the input is, and what to do.
std::pair<std::string_view, std::string_view> binary_kind(std::string_view b) {
    auto starts = [&](std::string_view magic) { return b.substr(0, magic.size()) == magic; };
    if (starts("\x1F\x8B")) {
        return {"gzip-compressed data", "decompress it first (gunzip)"};
    }
    if (starts("PK\x03\x04")) {
        return {"a ZIP archive", "extract the SDMX file from it first"};
    }
    if (starts("\xFF\xFE") || starts("\xFE\xFF")) {
        return {"UTF-16 text", "re-encode it as UTF-8 (iconv -f utf-16 -t utf-8)"};
    }
    if (starts("\x89PNG") || starts("\xFF\xD8\xFF") || starts("GIF8")) {
        return {"an image", "send the SDMX catalogue instead"};
    }
    if (starts("%PDF")) {
        return {"a PDF document", "send the SDMX catalogue instead"};
    }
    if (b.substr(0, 512).find('\0') != std::string_view::npos) {
        return {"binary data (it contains NUL bytes)", "send the SDMX catalogue instead"};
    }
    return {};
}

/// Inputs from this size up are checked by two threads when ReadOptions::threads allows it.
constexpr std::size_t k_parallel_utf8_bytes = std::size_t{1} << 20;

std::optional<std::size_t> invalid_utf8(std::string_view text,
                                        std::vector<std::size_t>* line_starts) {
    return line_starts != nullptr ? util::find_invalid_utf8(text, *line_starts)
                                  : util::find_invalid_utf8(text);
}

/// util::find_invalid_utf8() over `text` (with its line starts when `line_starts` is not null),
/// on two threads for a large text: the halves are split before a byte that is not a
/// continuation byte, which no well-formed sequence crosses, so the whole text is well-formed
/// exactly when both halves are, its first bad byte is the first half's or else the second's,
/// and the line starts are the first half's then the second's.
std::optional<std::size_t> check_utf8(std::string_view text, std::vector<std::size_t>* line_starts,
                                      unsigned threads) {
    if (threads < 2 || text.size() < k_parallel_utf8_bytes) {
        return invalid_utf8(text, line_starts);
    }
    auto continuation = [&](std::size_t at) {
        return (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80;
    };
    std::size_t mid = text.size() / 2;
    while (mid < text.size() / 2 + 4 && continuation(mid)) {
        ++mid; // a sequence is at most 4 bytes: more continuation bytes are ill-formed
    }
    if (continuation(mid)) {
        return invalid_utf8(text, line_starts); // ill-formed there: one pass finds where
    }
    std::vector<std::size_t> second_starts;
    if (line_starts != nullptr) {
        second_starts.reserve(line_starts->capacity() / 2 + 16); // this thread's heap
    }
    std::optional<std::size_t> first_bad;
    std::optional<std::size_t> second_bad;
    util::run_in_parallel([&](bool) { first_bad = invalid_utf8(text.substr(0, mid), line_starts); },
                          [&] {
                              second_bad =
                                  invalid_utf8(text.substr(mid),
                                               line_starts != nullptr ? &second_starts : nullptr);
                          });
    if (first_bad) {
        return first_bad;
    }
    if (second_bad) {
        return mid + *second_bad;
    }
    if (line_starts != nullptr) {
        const std::size_t from = line_starts->size();
        line_starts->resize(from + second_starts.size());
        for (std::size_t i = 0; i < second_starts.size(); ++i) {
            (*line_starts)[from + i] = mid + second_starts[i];
        }
    }
    return std::nullopt;
}

Catalog read_any(std::string_view bytes, std::span<char> buffer, std::string_view source_name,
                 const ReadOptions& options);

} // namespace

Catalog read_catalog(std::string& bytes, std::string_view source_name, const ReadOptions& options) {
    ReadOptions terminated = options;
    terminated.nul_terminated = true; // a std::string's buffer
    return read_catalog(std::span<char>(bytes.data(), bytes.size()), source_name, terminated);
}

Catalog read_catalog(std::span<char> buffer, std::string_view source_name,
                     const ReadOptions& options) {
    return read_any(std::string_view(buffer.data(), buffer.size()), buffer, source_name, options);
}

Catalog read_catalog_readonly(std::string_view bytes, std::string_view source_name,
                              const ReadOptions& options) {
    return read_any(bytes, {}, source_name, options);
}

namespace {

/// read_catalog() of `bytes`; `buffer` is the same bytes, writable, or empty when they are
/// read-only: SDMX-ML that the streaming reader leaves to pugixml is then copied first.
Catalog read_any(std::string_view bytes, std::span<char> buffer, std::string_view source_name,
                 const ReadOptions& options) {
    if (auto [kind, advice] = binary_kind(bytes); !kind.empty()) {
        throw InputError(fmt::format("{}: this is {}, not an SDMX dataflow list (XML or "
                                     "SDMX-JSON, UTF-8); {}",
                                     source_name, kind, advice));
    }
    std::string_view text = bytes;
    const std::size_t bom = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
    text.remove_prefix(bom);
    // XML needs the line starts (for its line numbers): taken in the validating pass.
    std::vector<std::size_t> line_starts;
    const auto trimmed = util::trim(text);
    const bool xml = !trimmed.empty() && trimmed.front() == '<';
    if (xml) {
        line_starts.reserve(text.size() / 64 + 16); // SDMX-ML lines are short
        line_starts.push_back(0);
    }
    auto invalid = [&](std::size_t at) {
        at += bom; // the BOM is well-formed
        auto pos = util::position_of(bytes, at);
        return InputError(fmt::format(
            "{}:{}:{}: invalid UTF-8 at byte offset {} (byte 0x{:02X}); SDMX messages must be "
            "UTF-8: re-encode the file (e.g. iconv -f latin1 -t utf-8)",
            source_name, pos.line, pos.column, at, static_cast<unsigned char>(bytes[at])));
    };
    const bool json = !trimmed.empty() && (trimmed.front() == '{' || trimmed.front() == '[');
    if (json && options.threads >= 2 && text.size() >= k_parallel_utf8_bytes) {
        // SDMX-JSON needs no line starts: the UTF-8 check runs beside the parse, and its error
        // comes first as when it runs before.
        ReadOptions checked = options;
        checked.utf8_checked = true;
        std::optional<Catalog> catalog;
        std::exception_ptr error;
        std::optional<std::size_t> bad;
        util::run_in_parallel(
            [&](bool) {
                try {
                    catalog = read_catalog_json(bytes, source_name, checked);
                } catch (...) {
                    error = std::current_exception();
                }
            },
            [&] { bad = util::find_invalid_utf8(text); });
        if (bad) {
            throw invalid(*bad);
        }
        if (error) {
            std::rethrow_exception(error);
        }
        return std::move(*catalog);
    }
    if (auto bad = check_utf8(text, xml ? &line_starts : nullptr, options.threads)) {
        throw invalid(*bad);
    }
    auto body = util::trim(text);
    if (body.empty()) {
        throw InputError(fmt::format(
            "{}: input holds only whitespace; expected an SDMX dataflow list", source_name));
    }
    if (body.front() == '{' || body.front() == '[') {
        ReadOptions checked = options;
        checked.utf8_checked = true; // just above
        return read_catalog_json(bytes, source_name, checked);
    }
    if (body.front() != '<') {
        auto first = util::truncate_to_width(body.substr(0, body.find('\n')), 40);
        throw InputError(fmt::format(
            "{}: neither XML nor JSON (it starts with \"{}\"); expected an SDMX dataflow list",
            source_name, first));
    }
    auto root = skip_xml_prolog(body);
    if (util::starts_with_ci(root, "<!doctype html") || util::starts_with_ci(root, "<html")) {
        html_page(source_name, body);
    }
    LineIndex lines(text, std::move(line_starts));
    if (buffer.empty()) {
        if (options.xml_stream) {
            if (auto catalog = read_catalog_xml_stream(text, lines, options)) {
                return std::move(*catalog);
            }
        }
        std::string copy(bytes);
        ReadOptions dom = options;
        dom.xml_stream = false; // just tried
        return read_catalog_xml(copy, source_name, dom,
                                LineIndex(std::string_view(copy).substr(bom), lines.starts()));
    }
    return read_catalog_xml(buffer, source_name, options, lines);
}

} // namespace

} // namespace dataflow::sdmx

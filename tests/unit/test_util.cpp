#include "support/support.hpp"
#include "util/background.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/http_module.hpp"
#include "util/json_writer.hpp"
#include "util/mapped_file.hpp"
#include "util/parallel.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/url.hpp"
#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <optional>
#include <sched.h>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace dataflow;
using namespace dataflow::util;

namespace {

/// A file of `size` bytes of 'x', opened for reading, and mapped.
struct Mapped {
    std::string path;
    int fd = -1;
    std::optional<util::MappedFile> file;
    Mapped(const test::TempDir& dir, std::size_t size)
        : path(dir.file("catalog.xml", std::string(size, 'x'))) {
        fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        struct stat st {};
        REQUIRE(::fstat(fd, &st) == 0);
        file = util::MappedFile::map(fd, st);
        REQUIRE(file.has_value());
    }
    ~Mapped() { ::close(fd); }
    Mapped(const Mapped&) = delete;
    Mapped& operator=(const Mapped&) = delete;
};

/// Runs `body` in a child process; its wait status.
template <typename Body>
int in_child(Body body) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        body();
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
}

cpu_set_t affinity() {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    return set;
}

} // namespace

TEST_SUITE("util") {
    TEST_CASE("run_in_parallel runs both at once on two CPUs and rethrows their exceptions") {
        const cpu_set_t before = affinity();
        const bool several = CPU_COUNT(&before) >= 2;
        std::atomic<int> second_ran{0};
        std::thread::id first_on;
        std::thread::id second_on;
        bool told = false;
        util::run_in_parallel(
            [&](bool together) {
                told = together;
                first_on = std::this_thread::get_id();
                if (together) { // the second runs meanwhile: wait for it, then return
                    while (second_ran.load() == 0) {
                        std::this_thread::yield();
                    }
                }
            },
            [&] {
                second_on = std::this_thread::get_id();
                second_ran = 1;
            });
        CHECK(second_ran == 1);
        CHECK(told == several);
        CHECK(first_on == std::this_thread::get_id());
        CHECK((second_on != first_on) == several);

        auto fail = [](const char* what) { throw std::runtime_error(what); };
        CHECK_THROWS_WITH(util::run_in_parallel([&](bool) { fail("first"); }, [] {}), "first");
        CHECK_THROWS_WITH(util::run_in_parallel([](bool) {}, [&] { fail("second"); }), "second");
        CHECK_THROWS_WITH(
            util::run_in_parallel([&](bool) { fail("first"); }, [&] { fail("second"); }), "first");
        // The helper is kept off the caller's CPU from its creation: setting that afterwards
        // (pthread_setaffinity_np) lands on the caller when the helper has already ended, and
        // once pinned the caller ran every later helper on itself.
        for (int i = 0; i < 3000; ++i) {
            util::run_in_parallel([](bool) {}, [] {});
        }
        const cpu_set_t after = affinity();
        CHECK(CPU_EQUAL(&before, &after));
    }

    TEST_CASE("http_function: what the module's files registered, linked into the tests") {
        // The tests link the module's files in whole: each registered itself at start-up.
        CHECK(util::http_module_present());
        const bool exchange = util::http_function("upstream.exchange") != nullptr;
        CHECK(exchange);
        auto twice = [](int x) { return 2 * x; };
        int (*f)(int) = twice;
        CHECK(util::register_http_function("test.twice", reinterpret_cast<util::AnyFunction>(f)));
        CHECK(util::http_function_as<int (*)(int)>("test.twice")(21) == 42);
        // Where the binary looks for it: LIBDIR/dataflow beside BINDIR, normalised.
        auto path = util::http_module_path();
        CHECK(path.ends_with("/lib/dataflow/dataflow-http.so"));
        CHECK(path.find("/../") == std::string::npos);
    }

    TEST_CASE("MappedFile: the bytes of the file, and changed() once it is written to") {
        test::TempDir dir;
        Mapped m(dir, 100'000);
        CHECK(m.file->bytes() == std::string(100'000, 'x'));
        CHECK_FALSE(m.file->changed());
        std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a later timestamp
        {
            int w = ::open(m.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
            REQUIRE(w >= 0);
            REQUIRE(::write(w, "y", 1) == 1);
            ::close(w);
        }
        CHECK(m.file->changed());
        CHECK(m.file->bytes().size() == 100'000); // what was mapped
    }

    TEST_CASE("MappedFile::drop: the pages leave the resident set and read the same again") {
        test::TempDir dir;
        constexpr std::size_t size = std::size_t{16} << 20;
        Mapped m(dir, size);
        auto resident_pages = [] { // /proc/self/statm: size resident shared ... (pages)
            std::ifstream statm("/proc/self/statm");
            long total = 0;
            long resident = 0;
            statm >> total >> resident;
            return resident;
        };
        const auto bytes = m.file->bytes();
        const long page = ::sysconf(_SC_PAGESIZE);
        const long before = resident_pages(); // mapped with MAP_POPULATE: all resident
        m.file->drop(bytes.data() + 1, bytes.data() + size - 1); // whole pages only
        const long after = resident_pages();
        CHECK(before - after >= static_cast<long>(size) / page - 8);
        // Outside the mapping: nothing.
        m.file->drop(bytes.data() - 4 * page, bytes.data());
        CHECK(bytes.substr(0, 1) == "x"); // the partial first page was kept
        std::size_t xs = 0;
        for (std::size_t i = 0; i < size; i += 4096) {
            xs += bytes[i] == 'x' ? 1 : 0;
        }
        CHECK(xs == size / 4096); // mapped again, the same bytes
        CHECK_FALSE(m.file->changed());
    }

    TEST_CASE("MappedFile: a file truncated while mapped reads as zeros past its end, no SIGBUS") {
        test::TempDir dir;
        Mapped m(dir, 64 * 1024);
        REQUIRE(::truncate(m.path.c_str(), 100) == 0);
        // Pages past the new end would raise SIGBUS; the handler maps zeros there instead.
        auto bytes = m.file->bytes();
        std::size_t zeros = 0;
        for (std::size_t i = 0; i < bytes.size(); i += 512) {
            zeros += bytes[i] == '\0' ? 1 : 0;
        }
        CHECK(bytes[0] == 'x');
        CHECK(bytes[bytes.size() - 1] == '\0');
        CHECK(zeros >= 64 * 2 - 1 - 8); // all but the first page's
        CHECK(m.file->changed());
        // Another mapping of the same file, made afterwards, is repaired on its own.
        Mapped again(dir, 64 * 1024);
        CHECK_FALSE(again.file->changed());
    }

    TEST_CASE("MappedFile: a SIGBUS that is not a mapped file's still ends the process") {
        test::TempDir dir;
        Mapped m(dir, 8192); // installs the handler
        // Sent by a process.
        int status = in_child([] { ::raise(SIGBUS); });
        CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
        // A fault in a mapping of its own (not a MappedFile), of a file truncated meanwhile.
        auto other = dir.file("other.bin", std::string(64 * 1024, 'o'));
        status = in_child([&] {
            int fd = ::open(other.c_str(), O_RDONLY);
            void* p = ::mmap(nullptr, 64 * 1024, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED || ::truncate(other.c_str(), 10) != 0) {
                ::_exit(0);
            }
            volatile char c = static_cast<const char*>(p)[32 * 1024];
            (void)c;
        });
        // (By SIGBUS, or by SIGABRT or exit status 1 where a sanitizer reports it first.)
        CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    }

    TEST_CASE("sha256_hex: FIPS 180-4 vectors, and every length around the block size") {
        CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK(sha256_hex("abc") ==
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
        // The in-house digest (under 64 KiB) and OpenSSL's (from there) on both sides of every
        // padding boundary; the digest of all their digests comes from Python's hashlib.
        std::vector<std::size_t> sizes;
        for (std::size_t n = 0; n < 300; ++n) {
            sizes.push_back(n);
        }
        for (std::size_t n : {1000, 4095, 4096, 65535, 65536, 65537, 200000}) {
            sizes.push_back(n);
        }
        std::string all;
        for (std::size_t n : sizes) {
            std::string msg(n, '\0');
            for (std::size_t i = 0; i < n; ++i) {
                msg[i] = static_cast<char>((i * 7 + n) % 256);
            }
            all += sha256_hex(msg);
        }
        CHECK(sha256_hex(all) ==
              "87459940b725aee7b0b867060f6663553166e9ca570292f5e7e908e206912e2b");
    }

    TEST_CASE("run_in_parallel on the kept helper: same contract, from any number of callers") {
        const cpu_set_t before = affinity();
        if (CPU_COUNT(&before) < 2) {
            MESSAGE("one CPU: keep_helper_ready keeps no thread");
            util::keep_helper_ready(std::chrono::microseconds(500));
            CHECK(util::ready_helper_runs() == 0);
            return;
        }
        util::keep_helper_ready(std::chrono::microseconds(500)); // then asleep between cases
        util::keep_helper_ready(std::chrono::microseconds(500)); // one thread, however often
        const auto runs = util::ready_helper_runs();
        std::thread::id helper_on;
        for (int i = 0; i < 200; ++i) {
            std::atomic<bool> second_ran{false};
            bool told = false;
            util::run_in_parallel(
                [&](bool together) {
                    told = together;
                    while (together && !second_ran.load()) { // at the same time, or never
                        std::this_thread::yield();
                    }
                },
                [&] {
                    helper_on = std::this_thread::get_id();
                    second_ran = true;
                });
            CHECK(second_ran);
            CHECK(told);
            CHECK(helper_on != std::this_thread::get_id());
            if (i % 50 == 0) { // let it fall asleep: it must wake for the next
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
        // The kept thread ran them unless the caller was on its CPU at the time.
        CHECK(util::ready_helper_runs() > runs);
        auto fail = [](const char* what) { throw std::runtime_error(what); };
        CHECK_THROWS_WITH(util::run_in_parallel([](bool) {}, [&] { fail("second"); }), "second");
        CHECK_THROWS_WITH(
            util::run_in_parallel([&](bool) { fail("first"); }, [&] { fail("second"); }), "first");
        // Two callers at once: one has the kept thread, the other starts one; both complete.
        std::atomic<int> done{0};
        auto caller = [&] {
            for (int i = 0; i < 100; ++i) {
                std::atomic<int> halves{0};
                util::run_in_parallel([&](bool) { ++halves; }, [&] { ++halves; });
                done += halves == 2 ? 1 : 0;
            }
        };
        std::thread a(caller);
        std::thread b(caller);
        a.join();
        b.join();
        CHECK(done == 200);
        const cpu_set_t after = affinity();
        CHECK(CPU_EQUAL(&before, &after));
    }

    TEST_CASE("run_in_parallel on one CPU runs the second after the first, on the caller") {
        const cpu_set_t all = affinity();
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu(), &one);
        REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
        std::vector<std::string> order;
        bool told = true;
        std::thread::id second_on;
        util::run_in_parallel(
            [&](bool together) {
                told = together;
                order.emplace_back("first");
            },
            [&] {
                second_on = std::this_thread::get_id();
                order.emplace_back("second");
            });
        REQUIRE(sched_setaffinity(0, sizeof all, &all) == 0);
        CHECK_FALSE(told);
        CHECK(order == std::vector<std::string>{"first", "second"});
        CHECK(second_on == std::this_thread::get_id());
    }

    TEST_CASE("percent_encode keeps RFC 3986 unreserved characters and encodes every other byte") {
        CHECK(percent_encode("") == "");
        CHECK(percent_encode("AZaz09-._~") == "AZaz09-._~");
        CHECK(percent_encode("a b") == "a%20b");
        CHECK(percent_encode("/?#[]@!$&'()*+,;=%") ==
              "%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D%25");
        CHECK(percent_encode("città") == "citt%C3%A0"); // UTF-8 bytes, upper-case hex
        CHECK(percent_encode(std::string("\0\x7f\xff", 3)) == "%00%7F%FF");
    }

    TEST_CASE("resolve_url keeps an absolute URL's scheme and resolves paths on the base") {
        // https -> http is refused by the client, which checks the resolved URL.
        auto from = *util::parse_url("https://example.org/rest/x").url;
        auto to = util::resolve_url(from, "http://example.org/y");
        REQUIRE(to.url);
        CHECK_FALSE(to.url->https());
        CHECK(util::resolve_url(from, "/z").url->str() == "https://example.org/z");
        CHECK(util::resolve_url(from, "w").url->str() == "https://example.org/rest/w");
    }

    TEST_CASE("sha256_hex matches the FIPS 180-2 test vectors") {
        CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        CHECK(sha256_hex("abc") ==
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        CHECK(sha256_hex(std::string("a\0b", 3)) != sha256_hex("ab")); // NUL bytes count
    }

    TEST_CASE("find_invalid_utf8 reports the offset of the first bad byte") {
        CHECK_FALSE(find_invalid_utf8("plain ascii, long enough for the fast path").has_value());
        CHECK_FALSE(find_invalid_utf8("Mortalità e natalità — ok").has_value());
        CHECK(find_invalid_utf8("caf\xE9 au lait") == 3u);           // Latin-1 é
        CHECK(find_invalid_utf8("0123456789abcdef\xC0\xAF") == 16u); // overlong '/'
        CHECK(find_invalid_utf8("ab\xED\xA0\x80") == 2u);            // surrogate
        CHECK(find_invalid_utf8("ab\xF4\x90\x80\x80") == 2u);        // > U+10FFFF
        CHECK(find_invalid_utf8("ab\xE2\x82") == 2u);                // truncated
        CHECK_FALSE(find_invalid_utf8("\xF0\x9F\x98\x80 emoji").has_value());
    }

    TEST_CASE("to_lower is Unicode-aware like Python's str.lower") {
        CHECK(to_lower("MORTALITÀ") == "mortalità");
        CHECK(to_lower("ÉCONOMIE Générale") == "économie générale");
        CHECK(to_lower("ΑΘΗΝΑ") == "αθηνα");
        CHECK(to_lower("МОСКВА") == "москва");
        CHECK(to_lower("İstanbul") == "i\xCC\x87stanbul"); // U+0130 -> i + combining dot
        CHECK(to_lower("ＡＢＣ") == "ａｂｃ");
        CHECK(to_lower("日本 123") == "日本 123");
    }

    TEST_CASE("display width counts columns, not bytes") {
        CHECK(display_width("abc") == 3);
        CHECK(display_width("città") == 5);
        CHECK(display_width("日本") == 4);
        CHECK(display_width("e\xCC\x81") == 1); // e + combining acute
    }

    TEST_CASE("truncate_to_width cuts with an ellipsis and never splits a character") {
        CHECK(truncate_to_width("short", 10) == "short");
        CHECK(truncate_to_width("Popolazione residente", 10) == "Popolazio…");
        CHECK(display_width(truncate_to_width("Popolazione residente", 10)) == 10);
        CHECK(truncate_to_width("àààààà", 4) == "ààà…");
        CHECK(truncate_to_width("日本語テキスト", 5) == "日本…");
        CHECK(truncate_to_width("abc", 0).empty());
    }

    TEST_CASE("position_of gives 1-based line and code-point column") {
        std::string_view text = "ab\ncà\nxyz";
        CHECK(position_of(text, 0).line == 1);
        CHECK(position_of(text, 0).column == 1);
        auto p = position_of(text, 7); // the 'x' after "cà\n" (à is 2 bytes)
        CHECK(p.line == 3);
        CHECK(p.column == 1);
        auto q = position_of(text, 6); // the '\n' after "cà"
        CHECK(q.line == 2);
        CHECK(q.column == 3);
    }

    TEST_CASE("JSON strings are always valid JSON, whatever they contain") {
        std::string out;
        append_json_string(out, std::string_view("q\"b\\s\n\t\x01 é \xFF end"));
        auto parsed = nlohmann::json::parse(out);
        CHECK(parsed.get<std::string>() == "q\"b\\s\n\t\x01 é \xEF\xBF\xBD end");
        CHECK(out.find("\\u0001") != std::string::npos);
    }

    TEST_CASE("JsonWriter writes nested documents that parse back") {
        std::string out;
        JsonWriter w(out, 2);
        w.begin_object();
        w.field("n", 3);
        w.field("x", 0.5133333333333333);
        w.field("whole", 40.0);
        w.field("s", "a\"b");
        w.key("empty").begin_array().end_array();
        w.key("list").begin_array().value(1).value(true).null().end_array();
        w.key("obj").begin_object().field("k", std::optional<std::string>{}).end_object();
        w.end_object();
        auto j = nlohmann::json::parse(out);
        CHECK(j["n"] == 3);
        CHECK(j["x"].get<double>() == doctest::Approx(0.5133333333333333).epsilon(1e-15));
        CHECK(j["whole"].is_number_float());
        CHECK(j["s"] == "a\"b");
        CHECK(j["empty"].empty());
        CHECK(j["list"].size() == 3);
        CHECK(j["obj"]["k"].is_null());
    }

    TEST_CASE("timestamps in both ISTAT forms become UTC RFC 3339") {
        auto a = parse_timestamp("2025-11-14T16:15:51.591Z");
        REQUIRE(a);
        CHECK(format_rfc3339(*a) == "2025-11-14T16:15:51.591Z");
        auto b = parse_timestamp("14/11/2025 16:15:51");
        REQUIRE(b);
        CHECK(format_rfc3339(*b) == "2025-11-14T16:15:51Z");
        auto c = parse_timestamp("2026-05-18T10:20:30.7006994+02:00");
        REQUIRE(c);
        CHECK(format_rfc3339(*c) == "2026-05-18T08:20:30.700Z");
        auto d = parse_timestamp("2020-01-01");
        REQUIRE(d);
        CHECK(format_rfc3339(*d) == "2020-01-01T00:00:00Z");
        auto m = parse_timestamp("03/18/2024 14:26:38", DateOrder::month_first);
        REQUIRE(m);
        CHECK(format_rfc3339(*m) == "2024-03-18T14:26:38Z");
        CHECK_FALSE(parse_timestamp("03/18/2024 14:26:38"));  // day 03, month 18: invalid
        CHECK_FALSE(parse_timestamp("2025-02-30T00:00:00Z")); // no such day
        CHECK_FALSE(parse_timestamp("yesterday"));
        CHECK_FALSE(parse_timestamp("2025-11-14T16:15:51Zjunk"));
    }

    TEST_CASE("slash date order is detected per catalogue") {
        CHECK(detect_date_order({"14/11/2025 16:15:51", "01/02/2020"}) == DateOrder::day_first);
        CHECK(detect_date_order({"03/18/2024 14:26:38", "03/01/2022"}) == DateOrder::month_first);
        CHECK(detect_date_order({"01/02/2020"}) == DateOrder::day_first);
        CHECK(detect_date_order({"2025-11-14T16:15:51Z"}) == DateOrder::day_first);
    }

    TEST_CASE("one table maps error kinds to exit codes and HTTP statuses") {
        CHECK(InputError("x").info().exit_code == ExitCode::failure);
        CHECK(InputError("x").info().http_status == 400);
        CHECK(UsageError("x").info().exit_code == ExitCode::usage);
        CHECK(ConfigError("x").info().exit_code == ExitCode::config);
        CHECK(error_info(ErrorKind::unavailable).exit_code == ExitCode::unavailable);
        CHECK(error_info(ErrorKind::rate_limited).exit_code == ExitCode::rate_limited);
        CHECK(error_info(ErrorKind::rate_limited).http_status == 429);
    }

    TEST_CASE("ascii_lower lowers A to Z only and leaves other bytes as they are") {
        CHECK(ascii_lower("").empty());
        CHECK(ascii_lower("Content-Encoding: GZIP @[`{") == "content-encoding: gzip @[`{");
        CHECK(ascii_lower("\xC3\x80TTIVIT\xC3\x80") == "\xC3\x80ttivit\xC3\x80"); // ÀTTIVITÀ
        CHECK(ascii_lower("\xC3\x89") == "\xC3\x89"); // É stays: Unicode case is to_lower's job
        CHECK(ascii_lower('Q') == 'q');
        CHECK(ascii_lower('\xC0') == '\xC0');
        CHECK(ascii_lower('@') == '@'); // the byte before 'A'
        CHECK(ascii_lower('[') == '['); // the byte after 'Z'
    }

    TEST_CASE("starts_with_ci compares a prefix ignoring ASCII case only") {
        CHECK(starts_with_ci("HTTPS://example.org", "https://"));
        CHECK(starts_with_ci("bearer abc", "Bearer"));
        CHECK(starts_with_ci("anything", ""));
        CHECK(starts_with_ci("", ""));
        CHECK_FALSE(starts_with_ci("http:", "http://"));
        CHECK_FALSE(starts_with_ci("", "h"));
        CHECK_FALSE(starts_with_ci("ftp://x", "http://"));
        CHECK_FALSE(starts_with_ci("\xC3\x89T\xC3\x89", "\xC3\xA9t\xC3\xA9")); // ÉTÉ vs été
    }

    TEST_CASE("trim strips ASCII whitespace at both ends and nothing inside") {
        CHECK(trim("").empty());
        CHECK(trim(" \t\n\v\f\r").empty());
        CHECK(trim("  a \t b\n") == "a \t b");
        CHECK(trim("x") == "x");
        CHECK(trim("\xC2\xA0x\xC2\xA0") == "\xC2\xA0x\xC2\xA0"); // no-break space is not ASCII
        CHECK(trim_left("\t a b ") == "a b ");
        CHECK(trim_right("\t a b \r\n") == "\t a b");
        CHECK(trim_left("   ").empty());
        CHECK(trim_right("   ").empty());
    }

    TEST_CASE("trim with a set of characters strips only those") {
        CHECK(trim("  3600 \t", " ") == "3600 \t"); // Retry-After: spaces only
        CHECK(trim("\f\v x \f", k_space_tab_crlf) == "\f\v x \f");
        CHECK(trim(" \r\n\t", k_space_tab_crlf).empty());
        CHECK(trim_left(" \f01/02/2020", k_space_tab_crlf) == "\f01/02/2020");
        CHECK(trim("xxaxx", "x") == "a");
    }

    TEST_CASE("an all-space text trims to an empty view at the same place") {
        std::string_view text = "ab   ";
        auto rest = text.substr(2);
        CHECK(trim(rest).data() == rest.data() + rest.size());
        CHECK(trim_right(rest).data() == rest.data());
    }

    TEST_CASE("collapse_ws makes one line of space tab CR and LF runs") {
        CHECK(collapse_ws("").empty());
        CHECK(collapse_ws(" \t\r\n ").empty());
        CHECK(collapse_ws("  Popolazione \r\n\t residente  ") == "Popolazione residente");
        CHECK(collapse_ws("a  b   c") == "a b c");
        CHECK(collapse_ws("\fa\vb") == "\fa\vb"); // form feed and vertical tab are kept
        CHECK(collapse_ws("citt\xC3\xA0\n \xC2\xA0x") == "citt\xC3\xA0 \xC2\xA0x");
        CHECK(collapse_ws(trim("\f a \n b \v")) == "a b");
    }

    TEST_CASE("is_sdmx_id accepts letters digits and _ @ $ - up to 255 characters") {
        CHECK(is_sdmx_id("DF_1"));
        CHECK(is_sdmx_id("150_938"));
        CHECK(is_sdmx_id("IT1-x"));
        CHECK(is_sdmx_id("a@b"));
        CHECK(is_sdmx_id("$x"));
        CHECK(is_sdmx_id("-"));
        CHECK(is_sdmx_id(std::string(255, 'a')));
        CHECK_FALSE(is_sdmx_id(std::string(256, 'a')));
        CHECK_FALSE(is_sdmx_id(""));
        CHECK_FALSE(is_sdmx_id("DF.1"));
        CHECK_FALSE(is_sdmx_id("IT1,DF"));
        CHECK_FALSE(is_sdmx_id("a b"));
        CHECK_FALSE(is_sdmx_id("../etc"));
        CHECK_FALSE(is_sdmx_id("citt\xC3\xA0"));
        CHECK_FALSE(is_sdmx_id(std::string_view("a\0b", 3)));
    }

    TEST_CASE("BackgroundThread stop interrupts a long wait at once") {
        BackgroundThread thread;
        std::mutex mutex;
        std::atomic<bool> waiting{false};
        std::atomic<int> result{-1};
        thread.start([&] {
            std::unique_lock lock(mutex);
            waiting = true;
            result = thread.wait_for(lock, std::chrono::hours(1)) ? 1 : 0;
        });
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!waiting && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        REQUIRE(waiting);
        auto before = std::chrono::steady_clock::now();
        thread.stop();
        CHECK(std::chrono::steady_clock::now() - before < std::chrono::seconds(10));
        CHECK_FALSE(thread.running());
        CHECK(result == 0); // the wait reported the stop
    }

    TEST_CASE("BackgroundThread wake makes a waiting body see new work") {
        BackgroundThread thread;
        std::mutex mutex;
        std::deque<int> queue;
        std::atomic<int> done{0};
        thread.start([&] {
            std::unique_lock lock(mutex);
            while (thread.wait(lock, [&] { return !queue.empty(); })) {
                queue.pop_front();
                ++done;
            }
        });
        for (int i = 0; i < 3; ++i) {
            {
                std::lock_guard lock(mutex);
                queue.push_back(i);
            }
            thread.wake();
        }
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (done < 3 && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        CHECK(done == 3);
        thread.stop();
        CHECK_FALSE(thread.running());
    }

    TEST_CASE("BackgroundThread wait reports a stop even when its predicate holds") {
        BackgroundThread thread;
        std::mutex mutex;
        std::atomic<int> result{-1};
        std::atomic<bool> go{false};
        thread.start([&] {
            while (!go) {
                std::this_thread::yield();
            }
            std::unique_lock lock(mutex);
            result = thread.wait(lock, [] { return true; }) ? 1 : 0;
        });
        std::thread stopper([&] { thread.stop(); });
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!thread.stop_requested() && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        go = true;
        stopper.join();
        CHECK(result == 0);
    }

    TEST_CASE("BackgroundThread stop runs stop callbacks and can start again") {
        BackgroundThread thread;
        thread.stop(); // never started: nothing to do
        CHECK_FALSE(thread.running());
        std::atomic<int> woken{0};
        std::atomic<bool> registered{false};
        std::atomic<int> runs{0};
        auto body = [&] {
            std::stop_callback on_stop(thread.stop_token(), [&] { ++woken; });
            registered = true;
            while (!thread.stop_requested()) {
                std::this_thread::yield();
            }
            ++runs;
        };
        for (int round = 1; round <= 2; ++round) {
            registered = false;
            thread.start(body);
            CHECK(thread.running());
            auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (!registered && std::chrono::steady_clock::now() < until) {
                std::this_thread::yield();
            }
            thread.stop();
            thread.stop(); // idempotent
            CHECK_FALSE(thread.running());
            CHECK(woken == round);
            CHECK(runs == round);
        }
    }

    TEST_CASE("find_invalid_utf8 with line starts agrees with a byte-by-byte scan") {
        // Multi-byte sequences, newlines and bad bytes at every position around 16-byte blocks.
        const std::string pieces[] = {
            "a", "\n", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\r\n", "0123456789"};
        const std::string bad[] = {"\xE9", "\xC0\xAF", "\xED\xA0\x80", "\xE2\x82"};
        for (std::size_t seed = 0; seed < 400; ++seed) {
            std::string text;
            std::size_t x = seed * 2654435761u + 1;
            while (text.size() < 20 + seed % 90) {
                x = x * 6364136223846793005u + 1442695040888963407u;
                text += pieces[(x >> 33) % 7];
            }
            if (seed % 3 == 0) {
                text.insert(text.size() / 2 + seed % 7, bad[seed % 4]);
            }
            std::vector<std::size_t> starts;
            auto fused = find_invalid_utf8(text, starts);
            CHECK(fused == find_invalid_utf8(text));
            if (!fused) {
                std::vector<std::size_t> expected;
                for (std::size_t i = 0; i < text.size(); ++i) {
                    if (text[i] == '\n') {
                        expected.push_back(i + 1);
                    }
                }
                CHECK(starts == expected);
            }
        }
    }

    TEST_CASE("format_rfc3339 writes four-digit years by hand and others as before") {
        using std::chrono::milliseconds;
        CHECK(format_rfc3339(SysMillis(milliseconds(0))) == "1970-01-01T00:00:00Z");
        CHECK(format_rfc3339(SysMillis(milliseconds(1700000000007))) == "2023-11-14T22:13:20.007Z");
        CHECK(format_rfc3339(SysMillis(milliseconds(-1))) == "1969-12-31T23:59:59.999Z");
        CHECK(format_rfc3339(SysMillis(milliseconds(253402300799999))) ==
              "9999-12-31T23:59:59.999Z");
        CHECK(format_rfc3339(SysMillis(milliseconds(253402300800000))) == "10000-01-01T00:00:00Z");
        CHECK(format_rfc3339(SysMillis(milliseconds(-62167219200000))) == "0000-01-01T00:00:00Z");
    }
}

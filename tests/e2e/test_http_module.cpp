// End-to-end: the HTTP module (util/http_module.hpp). A command without HTTP neither needs nor
// loads it (nor cpp-httplib, libssl, libcrypto); one with HTTP loads it from beside the binary,
// and says what is missing when it is not there.

#include "support/support.hpp"

#include <doctest/doctest.h>

#include <filesystem>

namespace fs = std::filesystem;
using dataflow::test::run_process;
using dataflow::test::TempDir;

namespace {

const char* const k_http_libraries[] = {"libcpp-httplib", "libssl", "libcrypto", "libbrotli"};

/// The module where the binary looks for it: LIBDIR/dataflow beside BINDIR.
fs::path module_of(const fs::path& binary) {
    return (binary.parent_path() / ".." / "lib" / "dataflow" / "dataflow-http.so")
        .lexically_normal();
}

} // namespace

TEST_SUITE("cli") {
    TEST_CASE("analyze FILE loads neither the HTTP module nor cpp-httplib, libssl or libcrypto") {
        // The dynamic loader's own account of every object it loads.
        auto r =
            run_process({DATAFLOW_BIN, "analyze", dataflow::test::bundled_catalog(), "-o", "json"},
                        {}, {"LD_DEBUG=files"});
        REQUIRE(r.exit_code == 0);
        CHECK(r.err.find("libstdc++") != std::string::npos); // LD_DEBUG did report
        CHECK(r.err.find("dataflow-http.so") == std::string::npos);
        for (const char* lib : k_http_libraries) {
            CAPTURE(lib);
            CHECK(r.err.find(lib) == std::string::npos);
        }
        // `health` needs HTTP: it loads the module, and with it cpp-httplib.
        auto h =
            run_process({DATAFLOW_BIN, "health", "--url", "http://127.0.0.1:1", "--timeout", "1s"},
                        {}, {"LD_DEBUG=files"});
        CHECK(h.exit_code == 1);
        CHECK(h.err.find(module_of(DATAFLOW_BIN).string()) != std::string::npos);
        CHECK(h.err.find("libcpp-httplib") != std::string::npos);
    }

    TEST_CASE("without its HTTP module the binary still analyses files, and names what is "
              "missing for HTTP") {
        TempDir dir;
        auto binary = dir.path() / "bin" / "dataflow";
        fs::create_directories(binary.parent_path());
        fs::copy_file(DATAFLOW_BIN, binary);
        auto module = module_of(binary);

        auto alone = run_process(
            {binary.string(), "analyze", dataflow::test::bundled_catalog(), "-o", "json"});
        auto installed =
            run_process({DATAFLOW_BIN, "analyze", dataflow::test::bundled_catalog(), "-o", "json"});
        CHECK(alone.exit_code == 0);
        CHECK(alone.err.empty());
        // The same report but for the timestamp and the duration.
        auto strip = [](std::string s) {
            for (const char* key : {"\"analysis_timestamp\"", "\"analysis_duration_seconds\""}) {
                auto at = s.find(key);
                REQUIRE(at != std::string::npos);
                s.erase(at, s.find('\n', at) - at);
            }
            return s;
        };
        CHECK(strip(alone.out) == strip(installed.out));

        auto serve = run_process({binary.string(), "serve", "--port", "0", "--metrics-port", "0",
                                  "--log-format", "text"});
        CAPTURE(serve.err);
        CHECK(serve.exit_code == 78); // EX_CONFIG: the installation is incomplete
        CHECK(serve.err.find("cannot load the HTTP module " + module.string()) !=
              std::string::npos);
        CHECK(serve.err.find("installation is incomplete") != std::string::npos);

        auto health = run_process({binary.string(), "health", "--url", "http://127.0.0.1:1"});
        CHECK(health.exit_code == 1); // health exits 0 or 1, nothing else
        CHECK(health.err.find("cannot load the HTTP module") != std::string::npos);

        // Put beside it, the module is found relative to the binary.
        fs::create_directories(module.parent_path());
        fs::copy_file(module_of(DATAFLOW_BIN), module);
        auto found = run_process(
            {binary.string(), "health", "--url", "http://127.0.0.1:1", "--timeout", "1s"});
        CAPTURE(found.err);
        CHECK(found.exit_code == 1);
        CHECK(found.out.find("unreachable at http://127.0.0.1:1") != std::string::npos);
        CHECK(found.err.find("HTTP module") == std::string::npos);
    }
}

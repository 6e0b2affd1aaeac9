// The test binaries' main(): doctest's, plus two guards that keep a green run honest.
//
// 1. A run whose filters select no test case fails. CTest runs each case as
//    `--test-case=<name>`; a name that CMake mangles (it splits at ';') or that a filter no
//    longer matches would otherwise print "test cases: 0 | 0 passed" and exit 0.
// 2. With TEST_CASES_RAN_DIR=<dir>, the name of every case that starts is appended to
//    <dir>/<binary>.<pid>.ran; scripts/check-cases-ran.py compares the union with the cases
//    each binary defines (--list-test-cases) after a whole ctest pass.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

struct RunState {
    bool ran = false;      // a run (not a query such as --list-test-cases) ended
    unsigned selected = 0; // cases that passed the filters
    std::string log_path;  // empty: no log
};

RunState& state() {
    static RunState s;
    return s;
}

class CaseGuard : public doctest::IReporter {
public:
    explicit CaseGuard(const doctest::ContextOptions&) {}

    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats& stats) override {
        state().ran = true;
        state().selected = stats.numTestCasesPassingFilters;
    }
    void test_case_start(const doctest::TestCaseData& data) override {
        if (state().log_path.empty())
            return;
        // Appended and closed at once, so a case that crashes the binary is still recorded.
        if (std::FILE* f = std::fopen(state().log_path.c_str(), "a")) {
            std::fprintf(f, "%s\n", data.m_name);
            std::fclose(f);
        }
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("dataflow_case_guard", 1, CaseGuard);

std::string base_name(const char* path) {
    std::string s = path ? path : "tests";
    auto slash = s.find_last_of('/');
    return slash == std::string::npos ? s : s.substr(slash + 1);
}

} // namespace

int main(int argc, char** argv) {
    // A server that closes a connection its client is still writing to (a refusal) must show up
    // as a failed write in the test, not kill the test binary.
    std::signal(SIGPIPE, SIG_IGN);
    if (const char* dir = std::getenv("TEST_CASES_RAN_DIR"); dir && *dir) {
        state().log_path = std::string(dir) + "/" + base_name(argc > 0 ? argv[0] : nullptr) + "." +
                           std::to_string(::getpid()) + ".ran";
    }
    doctest::Context context(argc, argv);
    int rc = context.run();
    if (context.shouldExit())
        return rc;
    if (state().ran && state().selected == 0) {
        std::fprintf(stderr,
                     "error: the filters given select no test case, so nothing was tested.\n"
                     "  Check the --test-case/--test-suite filter; a CTest entry made from a test\n"
                     "  name with ';' (CMake splits names there) matches nothing.\n");
        return rc == 0 ? 1 : rc;
    }
    return rc;
}

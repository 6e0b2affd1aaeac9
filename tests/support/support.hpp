#pragma once
// Shared test helpers: fixture paths, temporary directories, running the dataflow binary.

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dataflow::test {

/// Path of a file under tests/fixtures/samples/ (the real SDMX messages).
std::string sample(const std::string& relative);
/// The bundled catalogue examples/istat-dataflows-2020.xml: also the real sample
/// ondata__guida-api-istat/rawdata/dataflow.xml, kept only there (tests/fixtures/PROVENANCE.md).
std::string bundled_catalog();

std::string read_file(const std::string& path);
void write_file(const std::filesystem::path& path, const std::string& content);

/// A fresh directory removed (with its content) when the object goes out of scope.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return m_path; }
    std::string file(const std::string& name, const std::string& content) const;

private:
    std::filesystem::path m_path;
};

/// `base` with `overrides` ("NAME=value") replacing entries of the same name.
std::vector<std::string> merge_env(const std::vector<std::string>& base,
                                   const std::vector<std::string>& overrides);

/// A child's environment: this process's (less NO_COLOR and COLUMNS, so tests see a plain
/// terminal) with `overrides`. `storage` keeps the strings the returned pointers point into.
std::vector<char*> child_environment(const std::vector<std::string>& overrides,
                                     std::vector<std::string>& storage);

struct ProcessResult {
    int exit_code = -1; ///< -1 when killed by a signal or timed out
    int signal = 0;
    std::string out;
    std::string err;
    long max_rss_kib = 0; ///< the child's peak resident set
};

/// Runs `argv` (argv[0] is the executable path) with `input` on stdin and the given extra
/// environment entries ("NAME=value"), capturing stdout and stderr; kills it after
/// `timeout_ms`.
/// `interrupt_after_ms` > 0: sends SIGINT at that time (Ctrl-C).
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = {},
                          const std::vector<std::string>& env = {}, int timeout_ms = 60000,
                          int interrupt_after_ms = 0);

/// Runs `argv` with its standard output on a pseudo-terminal (`columns` wide) and stdin and
/// stderr on /dev/null, as a person at a terminal would; returns the exit code and what the
/// terminal showed (the tty turns "\n" into "\r\n"). `env` overrides as for run_process.
ProcessResult run_on_terminal(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env = {}, int columns = 120,
                              int timeout_ms = 60000);

/// Polls `f` every 50 ms until it holds or `within` has passed; returns its last answer.
bool eventually(const std::function<bool()>& f, std::chrono::milliseconds within);

/// A TCP socket connected to 127.0.0.1:`port` (for requests no HTTP client would send), or -1.
int connect_loopback(int port);

/// Runs `f` in a forked child that is not root — uid/gid 65534 ("nobody", no supplementary
/// groups) when this process is root, as it is in CI — and returns what `f` returned, so
/// permission checks are tested for real instead of skipped. Throws when the child fails.
/// Call it only while no other thread runs (fork keeps only the calling thread).
std::string run_unprivileged(const std::function<std::string()>& f);

} // namespace dataflow::test

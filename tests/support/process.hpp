#pragma once
// A child process running alongside a test (a server): its output is collected as it comes,
// the test can wait for a line, send signals and wait for the exit.

#include <chrono>
#include <mutex>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace dataflow::test {

class Process {
public:
    /// Starts argv[0] with the current environment plus `env` ("NAME=value" overrides).
    Process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
    ~Process(); ///< kills the process if it still runs
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    std::string out() const;
    std::string err() const;
    /// Waits until stderr contains `needle`; false on timeout or exit.
    bool wait_for_err(const std::string& needle, std::chrono::milliseconds timeout);
    void signal(int sig);
    /// Waits for the exit; returns the exit code, 128+signal when killed by one, or -1 on
    /// timeout (then the process is killed).
    int wait(std::chrono::milliseconds timeout);
    bool running() const;
    pid_t pid() const { return m_pid; }
    long max_rss_kib() const { return m_max_rss_kib; }

private:
    void reader(int fd, std::string* sink);
    pid_t m_pid = -1;
    int m_exit = -2;
    long m_max_rss_kib = 0;
    mutable std::mutex m_mutex;
    std::string m_out;
    std::string m_err;
    std::thread m_out_thread;
    std::thread m_err_thread;
};

} // namespace dataflow::test

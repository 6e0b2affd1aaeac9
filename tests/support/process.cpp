#include "support/process.hpp"

#include "support/support.hpp"

#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dataflow::test {

Process::Process(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<std::string> env_strings;
    auto envp = child_environment(env, env_strings);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& s : args) {
        argp.push_back(s.data());
    }
    argp.push_back(nullptr);
    int rc = posix_spawn(&m_pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(out[0]);
        ::close(err[0]);
        throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
    }
    m_out_thread = std::thread([this, fd = out[0]] { reader(fd, &m_out); });
    m_err_thread = std::thread([this, fd = err[0]] { reader(fd, &m_err); });
}

Process::~Process() {
    if (running()) {
        ::kill(m_pid, SIGKILL);
        wait(std::chrono::seconds(10));
    }
    if (m_out_thread.joinable()) {
        m_out_thread.join();
    }
    if (m_err_thread.joinable()) {
        m_err_thread.join();
    }
}

void Process::reader(int fd, std::string* sink) {
    char buf[65536];
    while (true) {
        auto n = ::read(fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        std::lock_guard lock(m_mutex);
        sink->append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
}

std::string Process::out() const {
    std::lock_guard lock(m_mutex);
    return m_out;
}

std::string Process::err() const {
    std::lock_guard lock(m_mutex);
    return m_err;
}

bool Process::wait_for_err(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (err().find(needle) != std::string::npos) {
            return true;
        }
        if (!running()) {
            return err().find(needle) != std::string::npos;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

void Process::signal(int sig) {
    if (m_pid > 0 && m_exit == -2) {
        ::kill(m_pid, sig);
    }
}

bool Process::running() const {
    if (m_exit != -2) {
        return false;
    }
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        return false;
    }
    return info.si_pid == 0; // nothing to reap yet: still running
}

int Process::wait(std::chrono::milliseconds timeout) {
    if (m_exit != -2) {
        return m_exit;
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        rusage usage{};
        pid_t r = ::wait4(m_pid, &status, WNOHANG, &usage);
        if (r == m_pid) {
            m_max_rss_kib = usage.ru_maxrss;
            m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(m_pid, SIGKILL);
            ::wait4(m_pid, &status, 0, &usage);
            m_exit = -1;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (m_out_thread.joinable()) {
        m_out_thread.join();
    }
    if (m_err_thread.joinable()) {
        m_err_thread.join();
    }
    return m_exit;
}

} // namespace dataflow::test

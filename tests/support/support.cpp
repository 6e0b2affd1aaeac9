#include "support/support.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <spawn.h>
#include <sstream>
#include <stdexcept>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace dataflow::test {

std::string sample(const std::string& relative) {
    return std::string(DATAFLOW_FIXTURES_DIR) + "/samples/" + relative;
}

std::string bundled_catalog() {
    return std::string(DATAFLOW_EXAMPLES_DIR) + "/istat-dataflows-2020.xml";
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot read " + path);
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary);
    out << content;
    if (!out) {
        throw std::runtime_error("cannot write " + path.string());
    }
}

TempDir::TempDir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
        auto p = base / ("dataflow-test-" + std::to_string(rd()));
        if (std::filesystem::create_directory(p)) {
            m_path = p;
            return;
        }
    }
    throw std::runtime_error("cannot create a temporary directory");
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(m_path, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(m_path, ec);
}

std::string TempDir::file(const std::string& name, const std::string& content) const {
    auto p = m_path / name;
    write_file(p, content);
    return p.string();
}

std::vector<std::string> merge_env(const std::vector<std::string>& base,
                                   const std::vector<std::string>& overrides) {
    auto name = [](const std::string& v) { return v.substr(0, v.find('=')); };
    std::vector<std::string> out;
    for (const auto& v : base) {
        bool replaced = false;
        for (const auto& x : overrides) {
            replaced = replaced || name(x) == name(v);
        }
        if (!replaced) {
            out.push_back(v);
        }
    }
    out.insert(out.end(), overrides.begin(), overrides.end());
    return out;
}

std::vector<char*> child_environment(const std::vector<std::string>& overrides,
                                     std::vector<std::string>& storage) {
    std::vector<std::string> inherited;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        auto name = entry.substr(0, entry.find('='));
        if (name != "NO_COLOR" && name != "COLUMNS") {
            inherited.push_back(std::move(entry));
        }
    }
    storage = merge_env(inherited, overrides);
    std::vector<char*> envp;
    for (auto& s : storage) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    return envp;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input,
                          const std::vector<std::string>& env, int timeout_ms,
                          int interrupt_after_ms) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
        pipe2(err_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);

    std::vector<std::string> env_strings;
    auto envp = child_environment(env, env_strings);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& s : args) {
        argp.push_back(s.data());
    }
    argp.push_back(nullptr);

    pid_t pid = 0;
    int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(in_pipe[0]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    if (rc != 0) {
        close(in_pipe[1]);
        close(out_pipe[0]);
        close(err_pipe[0]);
        throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
    }
    ProcessResult result;
    std::size_t written = 0;
    int in_fd = in_pipe[1];
    if (input.empty()) {
        close(in_fd);
        in_fd = -1;
    } else {
        fcntl(in_fd, F_SETFL, O_NONBLOCK);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto interrupt_at =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(interrupt_after_ms);
    bool interrupt_pending = interrupt_after_ms > 0;
    bool out_open = true, err_open = true;
    char buf[65536];
    std::signal(SIGPIPE, SIG_IGN);
    while (out_open || err_open) {
        std::vector<pollfd> fds;
        if (out_open) {
            fds.push_back({out_pipe[0], POLLIN, 0});
        }
        if (err_open) {
            fds.push_back({err_pipe[0], POLLIN, 0});
        }
        if (in_fd >= 0) {
            fds.push_back({in_fd, POLLOUT, 0});
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (interrupt_pending) {
            auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                             interrupt_at - std::chrono::steady_clock::now())
                             .count();
            if (until <= 0) {
                kill(pid, SIGINT);
                interrupt_pending = false;
                continue;
            }
            left = std::min(left, static_cast<decltype(left)>(until));
        }
        if (poll(fds.data(), fds.size(), static_cast<int>(left)) < 0 && errno != EINTR) {
            break;
        }
        for (auto& p : fds) {
            if (p.revents == 0) {
                continue;
            }
            if (p.fd == in_fd) {
                ssize_t n = write(in_fd, input.data() + written, input.size() - written);
                if (n > 0) {
                    written += static_cast<std::size_t>(n);
                }
                if (n < 0 || written == input.size()) {
                    close(in_fd);
                    in_fd = -1;
                }
                continue;
            }
            ssize_t n = read(p.fd, buf, sizeof buf);
            if (n <= 0) {
                if (p.fd == out_pipe[0]) {
                    out_open = false;
                } else {
                    err_open = false;
                }
            } else if (p.fd == out_pipe[0]) {
                result.out.append(buf, static_cast<std::size_t>(n));
            } else {
                result.err.append(buf, static_cast<std::size_t>(n));
            }
        }
    }
    if (in_fd >= 0) {
        close(in_fd);
    }
    close(out_pipe[0]);
    close(err_pipe[0]);
    int status = 0;
    rusage usage{};
    wait4(pid, &status, 0, &usage);
    result.max_rss_kib = usage.ru_maxrss;
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds within) {
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
        if (f()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return f();
}

ProcessResult run_on_terminal(const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, int columns, int timeout_ms) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
        throw std::runtime_error(std::string("no pseudo-terminal: ") + std::strerror(errno));
    }
    std::string slave = ::ptsname(master);
    winsize ws{};
    ws.ws_row = 50;
    ws.ws_col = static_cast<unsigned short>(columns);
    ::ioctl(master, TIOCSWINSZ, &ws);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, slave.c_str(), O_RDWR | O_NOCTTY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> env_strings;
    auto envp = child_environment(env, env_strings);
    std::vector<std::string> args = argv;
    std::vector<char*> argp;
    for (auto& a : args) {
        argp.push_back(a.data());
    }
    argp.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argp[0], &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        ::close(master);
        throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
    }
    ProcessResult result;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    char buf[65536];
    bool exited = false;
    int status = 0;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd p{master, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 50)));
        if (ready > 0) {
            auto n = ::read(master, buf, sizeof buf);
            if (n > 0) {
                result.out.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (exited) {
                break; // EIO: the child is gone and the terminal drained
            }
        }
        if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) {
            exited = true; // read what is left, then stop at EIO or silence
        } else if (exited && ready == 0) {
            break;
        }
    }
    ::close(master);
    if (!exited) {
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    return result;
}

std::string run_unprivileged(const std::function<std::string()>& f) {
    int fds[2];
    if (::pipe(fds) != 0) {
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::close(fds[0]);
        if (::geteuid() == 0) {
            constexpr uid_t nobody = 65534;
            if (::setgroups(0, nullptr) != 0 || ::setresgid(nobody, nobody, nobody) != 0 ||
                ::setresuid(nobody, nobody, nobody) != 0) {
                ::_exit(3);
            }
        }
        if (::geteuid() == 0 || ::getuid() == 0) {
            ::_exit(4); // still privileged: the check would prove nothing
        }
        std::string out;
        try {
            out = f();
        } catch (...) {
            ::_exit(5);
        }
        std::size_t done = 0;
        while (done < out.size()) {
            auto n = ::write(fds[1], out.data() + done, out.size() - done);
            if (n <= 0) {
                ::_exit(6);
            }
            done += static_cast<std::size_t>(n);
        }
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        auto n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("run_unprivileged: the child failed (status " +
                                 std::to_string(status) +
                                 "; 3: could not drop to uid 65534, 4: still root, 5: threw)");
    }
    return out;
}

int connect_loopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace dataflow::test

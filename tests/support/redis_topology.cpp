#include "support/redis_topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace dataflow::test {

namespace {

using namespace std::chrono_literals;

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log) {
    std::vector<char*> argv;
    std::vector<std::string> copy = args;
    for (auto& a : copy) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, copy.front().c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        throw std::runtime_error("cannot start " + args.front() +
                                 " (install it: scripts/install-deps.sh)");
    }
    return pid;
}

/// One command on a fresh connection; nullptr reply (or error) gives "".
std::string ask(int port, const std::vector<std::string>& args, const std::string& password = {}) {
    timeval tv{0, 500'000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == nullptr || c->err != 0) {
        if (c != nullptr) {
            redisFree(c);
        }
        return {};
    }
    redisSetTimeout(c, tv);
    auto run = [&](const std::vector<std::string>& a) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (const auto& s : a) {
            argv.push_back(s.c_str());
            lens.push_back(s.size());
        }
        return static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    };
    if (!password.empty()) {
        if (auto* r = run({"AUTH", password})) {
            freeReplyObject(r);
        }
    }
    std::string out;
    std::function<void(const redisReply*)> flatten = [&](const redisReply* r) {
        if (r->type == REDIS_REPLY_ARRAY) {
            for (std::size_t i = 0; i < r->elements; ++i) {
                flatten(r->element[i]);
            }
        } else if (r->type == REDIS_REPLY_INTEGER) {
            out += std::to_string(r->integer) + "\n";
        } else if (r->type != REDIS_REPLY_ERROR && r->str != nullptr) {
            out += std::string(r->str, r->len) + "\n";
        }
    };
    if (auto* r = run(args)) {
        flatten(r);
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

void wait_for(const std::function<bool()>& ready, std::chrono::seconds limit, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error(std::string("redis topology: ") + what);
        }
        std::this_thread::sleep_for(50ms);
    }
}

/// (first slot, last slot, master port) per range of CLUSTER SLOTS asked of `port`.
std::vector<std::array<int, 3>> slot_ranges(int port) {
    timeval tv{0, 500'000};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    std::vector<std::array<int, 3>> out;
    if (c == nullptr || c->err != 0) {
        if (c != nullptr) {
            redisFree(c);
        }
        return out;
    }
    redisSetTimeout(c, tv);
    auto* r = static_cast<redisReply*>(redisCommand(c, "CLUSTER SLOTS"));
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
        for (std::size_t i = 0; i < r->elements; ++i) {
            const auto* range = r->element[i];
            if (range->elements >= 3 && range->element[2]->elements >= 2) {
                out.push_back({static_cast<int>(range->element[0]->integer),
                               static_cast<int>(range->element[1]->integer),
                               static_cast<int>(range->element[2]->element[1]->integer)});
            }
        }
    }
    if (r != nullptr) {
        freeReplyObject(r);
    }
    redisFree(c);
    return out;
}

bool port_free(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

} // namespace

int free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool accepts_connections(int port) {
    timeval tv{0, 200'000};
    auto* c = redisConnectWithTimeout("127.0.0.1", port, tv);
    bool up = c != nullptr && c->err == 0;
    if (c != nullptr) {
        redisFree(c);
    }
    return up;
}

ScratchDir::ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dataflow-redis-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        throw std::runtime_error("cannot create a scratch directory");
    }
    m_path = tmpl;
}

ScratchDir::~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

RedisProcess::RedisProcess(std::string program, std::filesystem::path dir, std::string config,
                           std::vector<std::string> args, int port)
    : m_program(std::move(program)), m_dir(std::move(dir)), m_config(std::move(config)),
      m_args(std::move(args)), m_port(port) {
    start();
}

RedisProcess::~RedisProcess() {
    kill();
}

void RedisProcess::start() {
    if (m_pid > 0) {
        return;
    }
    std::vector<std::string> argv{m_program};
    if (!m_config.empty()) {
        auto path = m_dir / fmt::format("{}-{}.conf", m_program, m_port);
        std::ofstream(path) << m_config;
        argv.push_back(path.string());
    }
    argv.insert(argv.end(), m_args.begin(), m_args.end());
    m_pid = spawn(argv, m_dir / fmt::format("log-{}.txt", m_port));
    wait_for([&] { return accepts_connections(m_port); }, 10s, "a node did not start");
}

void RedisProcess::kill() {
    if (m_pid <= 0) {
        return;
    }
    ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
}

RedisClusterSet::RedisClusterSet() {
    std::vector<std::string> create{"redis-cli", "--cluster", "create"};
    for (int i = 0; i < 6; ++i) {
        // A cluster node also listens on port + 10000 (its bus): both must be free, under 65536.
        int port = free_loopback_port();
        while (port > 55000 || !port_free(port + 10000)) {
            port = free_loopback_port();
        }
        m_nodes.push_back(std::make_unique<RedisProcess>(
            "redis-server", m_dir.path(), "",
            std::vector<std::string>{"--port",
                                     std::to_string(port),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     m_dir.path().string(),
                                     "--cluster-enabled",
                                     "yes",
                                     "--cluster-config-file",
                                     fmt::format("nodes-{}.conf", port),
                                     "--cluster-node-timeout",
                                     "1000",
                                     "--cluster-replica-validity-factor",
                                     "0",
                                     "--loglevel",
                                     "warning"},
            port));
        create.push_back(fmt::format("127.0.0.1:{}", port));
    }
    create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
    pid_t pid = spawn(create, m_dir.path() / "cluster-create.txt");
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            throw std::runtime_error("redis-cli --cluster create did not finish in 30 s");
        }
        std::this_thread::sleep_for(50ms);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        throw std::runtime_error("redis-cli --cluster create failed");
    }
    wait_for(
        [&] {
            for (const auto& n : m_nodes) {
                if (ask(n->port(), {"CLUSTER", "INFO"}).find("cluster_state:ok") ==
                    std::string::npos) {
                    return false;
                }
                // Every replica in sync with its master (a failover needs one).
                auto repl = ask(n->port(), {"INFO", "replication"});
                if (repl.find("role:slave") != std::string::npos &&
                    repl.find("master_link_status:up") == std::string::npos) {
                    return false;
                }
            }
            return slot_ranges(seed_port()).size() >= 3;
        },
        30s, "the cluster did not reach cluster_state:ok");
}

std::vector<int> RedisClusterSet::master_ports() const {
    std::vector<int> out;
    for (const auto& n : m_nodes) {
        if (!n->running()) {
            continue;
        }
        for (const auto& r : slot_ranges(n->port())) {
            if (std::find(out.begin(), out.end(), r[2]) == out.end()) {
                out.push_back(r[2]);
            }
        }
        if (!out.empty()) {
            break;
        }
    }
    return out;
}

int RedisClusterSet::kill_master_of(int slot) {
    for (const auto& n : m_nodes) {
        if (!n->running()) {
            continue;
        }
        for (const auto& r : slot_ranges(n->port())) {
            if (slot >= r[0] && slot <= r[1]) {
                for (auto& victim : m_nodes) {
                    if (victim->port() == r[2]) {
                        victim->kill();
                        return r[2];
                    }
                }
            }
        }
    }
    throw std::runtime_error("no master serves slot " + std::to_string(slot));
}

RedisSentinelSet::RedisSentinelSet() {
    auto data_node = [&](std::vector<std::string> extra) {
        int port = free_loopback_port();
        std::vector<std::string> args{"--port",        std::to_string(port),
                                      "--bind",        "127.0.0.1",
                                      "--save",        "",
                                      "--appendonly",  "no",
                                      "--dir",         m_dir.path().string(),
                                      "--requirepass", k_data_password,
                                      "--masterauth",  k_data_password,
                                      "--loglevel",    "warning"};
        args.insert(args.end(), extra.begin(), extra.end());
        return std::make_unique<RedisProcess>("redis-server", m_dir.path(), "", args, port);
    };
    m_master = data_node({});
    m_replica = data_node({"--replicaof", "127.0.0.1", std::to_string(m_master->port())});
    for (int i = 0; i < 3; ++i) {
        int port = free_loopback_port();
        auto conf = fmt::format("port {}\nbind 127.0.0.1\nprotected-mode no\ndir {}\nlogfile \"\"\n"
                                "requirepass {}\n"
                                "sentinel sentinel-pass {}\n"
                                "sentinel monitor {} 127.0.0.1 {} 2\n"
                                "sentinel auth-pass {} {}\n"
                                "sentinel down-after-milliseconds {} 1000\n"
                                "sentinel failover-timeout {} 3000\n"
                                "sentinel parallel-syncs {} 1\n",
                                port, m_dir.path().string(), k_sentinel_password,
                                k_sentinel_password, k_master_name, m_master->port(), k_master_name,
                                k_data_password, k_master_name, k_master_name, k_master_name);
        m_sentinels.push_back(std::make_unique<RedisProcess>("redis-sentinel", m_dir.path(), conf,
                                                             std::vector<std::string>{}, port));
    }
    wait_for(
        [&] {
            auto info = ask(m_master->port(), {"INFO", "replication"}, k_data_password);
            if (info.find("connected_slaves:1") == std::string::npos) {
                return false;
            }
            auto replica = ask(m_replica->port(), {"INFO", "replication"}, k_data_password);
            if (replica.find("master_link_status:up") == std::string::npos) {
                return false;
            }
            for (const auto& s : m_sentinels) {
                // SENTINEL MASTER: field/value lines; the others and the replica seen.
                auto m = ask(s->port(), {"SENTINEL", "MASTER", k_master_name}, k_sentinel_password);
                if (m.find("num-other-sentinels\n2\n") == std::string::npos ||
                    m.find("num-slaves\n1\n") == std::string::npos) {
                    return false;
                }
            }
            return true;
        },
        30s, "the sentinels did not see the master, its replica and each other");
}

std::vector<int> RedisSentinelSet::sentinel_ports() const {
    std::vector<int> out;
    for (const auto& s : m_sentinels) {
        out.push_back(s->port());
    }
    return out;
}

std::string RedisSentinelSet::sentinel_list() const {
    std::string out;
    for (const auto& s : m_sentinels) {
        out += fmt::format("{}127.0.0.1:{}", out.empty() ? "" : ",", s->port());
    }
    return out;
}

int RedisSentinelSet::current_master_port() const {
    for (const auto& s : m_sentinels) {
        auto a = ask(s->port(), {"SENTINEL", "get-master-addr-by-name", k_master_name},
                     k_sentinel_password);
        auto nl = a.find('\n');
        if (nl != std::string::npos) {
            return std::atoi(a.c_str() + nl + 1);
        }
    }
    return 0;
}

} // namespace dataflow::test

#include "support/redis_server.hpp"

#include "support/redis_topology.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace dataflow::test {

RedisServer::RedisServer(std::string password) : m_password(std::move(password)) {
    m_port = free_loopback_port();
    start();
}

RedisServer::~RedisServer() {
    stop();
}

void RedisServer::start() {
    if (m_pid > 0) {
        return;
    }
    std::vector<std::string> args = {
        "redis-server", "--port", std::to_string(m_port), "--bind",  "127.0.0.1", "--save",   "",
        "--appendonly", "no",     "--loglevel",           "warning", "--logfile", "/dev/null"};
    if (!m_password.empty()) {
        args.push_back("--requirepass");
        args.push_back(m_password);
    }
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&m_pid, "redis-server", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        m_pid = -1;
        throw std::runtime_error("cannot start redis-server (install it: scripts/install-deps.sh)");
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (accepts_connections(m_port)) {
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop();
    throw std::runtime_error("redis-server did not start on port " + std::to_string(m_port));
}

void RedisServer::stop() {
    if (m_pid <= 0) {
        return;
    }
    ::kill(m_pid, SIGKILL);
    int status = 0;
    ::waitpid(m_pid, &status, 0);
    m_pid = -1;
}

} // namespace dataflow::test

#pragma once
// A real redis-server for tests, on a random loopback port, without persistence; stopped (and
// its data gone) when the object is destroyed. Can be stopped and restarted on the same port.

#include <string>
#include <sys/types.h>

namespace dataflow::test {

class RedisServer {
public:
    /// `password`: requirepass, when not empty.
    explicit RedisServer(std::string password = {});
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const { return m_port; }
    void start();
    void stop();
    bool running() const { return m_pid > 0; }

private:
    std::string m_password;
    int m_port = 0;
    pid_t m_pid = -1;
};

} // namespace dataflow::test

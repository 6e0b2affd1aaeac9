#pragma once
// Real Redis topologies for tests, on random loopback ports, without persistence, in a scratch
// directory removed at the end:
//   RedisClusterSet: a Redis Cluster of 3 masters and 3 replicas, made with
//     `redis-cli --cluster create` (cluster-node-timeout 1000 ms, so a failover takes seconds);
//   RedisSentinelSet: 1 master + 1 replica + 3 sentinels (redis-sentinel), quorum 2,
//     down-after-milliseconds 1000, with separate passwords for the data nodes and the sentinels.

#include <filesystem>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace dataflow::test {

/// One redis-server or redis-sentinel process.
class RedisProcess {
public:
    /// `program`: redis-server or redis-sentinel; `config`: a config file to write and pass
    /// first (sentinels need one they can rewrite); `args` follow it.
    RedisProcess(std::string program, std::filesystem::path dir, std::string config,
                 std::vector<std::string> args, int port);
    ~RedisProcess();
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;

    int port() const { return m_port; }
    void start();
    void kill(); ///< SIGKILL: a crash, not a shutdown
    bool running() const { return m_pid > 0; }

private:
    std::string m_program;
    std::filesystem::path m_dir;
    std::string m_config;
    std::vector<std::string> m_args;
    int m_port;
    pid_t m_pid = -1;
};

int free_loopback_port();
/// Whether something accepts a connection on 127.0.0.1:`port` now (200 ms at most).
bool accepts_connections(int port);

/// A scratch directory, removed with everything in it.
class ScratchDir {
public:
    ScratchDir();
    ~ScratchDir();
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

class RedisClusterSet {
public:
    RedisClusterSet();                     ///< throws when the cluster does not form within 30 s
    std::vector<int> master_ports() const; ///< asked of the cluster now
    int seed_port() const { return m_nodes.front()->port(); }
    /// Kills the master serving `slot`; returns its port.
    int kill_master_of(int slot);
    std::vector<std::unique_ptr<RedisProcess>>& nodes() { return m_nodes; }

private:
    ScratchDir m_dir;
    std::vector<std::unique_ptr<RedisProcess>> m_nodes;
};

class RedisSentinelSet {
public:
    static constexpr const char* k_master_name = "dfmaster";
    static constexpr const char* k_data_password = "data-node-secret-2f9c";
    static constexpr const char* k_sentinel_password = "sentinel-secret-7d1e";

    RedisSentinelSet(); ///< throws when the sentinels do not see the master within 30 s
    int master_port() const { return m_master->port(); }
    int replica_port() const { return m_replica->port(); }
    std::vector<int> sentinel_ports() const;
    /// "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
    std::string sentinel_list() const;
    RedisProcess& master() { return *m_master; }
    RedisProcess& sentinel(std::size_t i) { return *m_sentinels.at(i); }
    /// The port the sentinels name as master now (0 when they do not answer).
    int current_master_port() const;

private:
    ScratchDir m_dir;
    std::unique_ptr<RedisProcess> m_master;
    std::unique_ptr<RedisProcess> m_replica;
    std::vector<std::unique_ptr<RedisProcess>> m_sentinels;
};

} // namespace dataflow::test

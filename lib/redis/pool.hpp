#pragma once
/// A small Redis connection pool over hiredis 0.14: N contexts (hiredis contexts are not
/// thread-safe), connect and command timeouts, AUTH and SELECT on connect, TCP keep-alive, and
/// reconnection with exponential backoff. No TLS (Debian's hiredis 0.14 has none): encrypt with
/// the platform (a sidecar or a service mesh). The Redis layer: below both cache/ (the Redis
/// backend) and resilience/ (the cluster-wide rate limiter), which share one pool.

#include "util/clock.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace dataflow::redis {

/// How Redis is deployed (redis.mode): see client.hpp.
enum class Mode { standalone, cluster, sentinel };

struct Endpoint {
    std::string host;
    int port = 0;
    std::string str() const; ///< host:port ([host]:port for IPv6)
    bool operator==(const Endpoint&) const = default;
};

struct Settings {
    Mode mode = Mode::standalone;
    std::string host = "localhost"; ///< standalone: the node; cluster: a seed node
    int port = 6379;
    std::vector<Endpoint> nodes;     ///< cluster: more seed nodes
    std::vector<Endpoint> sentinels; ///< sentinel: the sentinels to ask
    std::string sentinel_master;     ///< sentinel: the master's name
    std::string sentinel_username;   ///< AUTH for the sentinels (may differ from the nodes')
    std::string sentinel_password;   ///< never logged
    int max_redirects = 5;           ///< cluster: MOVED/ASK followed per command
    int db = 0;
    std::string username;                    ///< Redis 6 ACL user; empty: the default user
    std::string password;                    ///< never logged
    std::string auth_key = "redis.password"; ///< the setting named when AUTH is refused
    std::chrono::milliseconds connect_timeout{100};
    std::chrono::milliseconds command_timeout{500};
    int pool_size = 8;
};

/// A reply, copied out of hiredis.
struct Value {
    enum class Type { nil, string, integer, array, status, error };
    Type type = Type::nil;
    std::string str; ///< string, status, error
    long long integer = 0;
    std::vector<Value> elements;

    bool is_error() const { return type == Type::error; }
    bool is_nil() const { return type == Type::nil; }
};

/// Redis could not be reached or answered garbage (not a Redis error reply).
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// No connection could be made (refused, timed out, backing off): the command was not sent, so
/// it may be sent elsewhere. After an Error of another kind it may have run.
class Unreachable : public Error {
public:
    using Error::Error;
};

class Pool {
public:
    Pool(Settings settings, const util::Clock& clock);
    ~Pool();
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    /// Runs one command (binary-safe arguments). Throws Error when Redis is unreachable;
    /// a Redis error reply comes back as a value of type error.
    Value command(const std::vector<std::string>& args);
    /// Runs several commands on one connection, in order (one round trip).
    std::vector<Value> pipeline(const std::vector<std::vector<std::string>>& commands);

    /// "host:port" (no credentials), for messages and metrics.
    std::string endpoint() const;
    const Settings& settings() const { return m_settings; }
    /// The last connection error, empty while connected (or never tried).
    std::string last_error() const;
    std::uint64_t reconnects() const;

private:
    struct Slot {
        redisContext* ctx = nullptr;
        bool busy = false;
    };
    std::size_t acquire();
    void release(std::size_t slot, bool broken);
    redisContext* connect_locked_free(); ///< connects outside the lock
    void backoff_locked(const std::string& why);

    Settings m_settings;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::condition_variable m_cv;
    std::vector<Slot> m_slots;
    std::chrono::steady_clock::time_point m_retry_at{};
    std::chrono::milliseconds m_backoff{0};
    std::string m_last_error;
    std::uint64_t m_reconnects = 0;
};

} // namespace dataflow::redis

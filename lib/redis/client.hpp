#pragma once
/// The Redis client the rest of the product talks to: one interface over the three ways
/// production runs Redis (redis.mode).
///
/// - standalone: one node, one Pool.
/// - cluster: the slot map from CLUSTER SLOTS (asked of the seed nodes, then of any known node),
///   one Pool per node, commands routed by the CRC16 slot of their key; MOVED updates the slot
///   and refreshes the map, ASK is followed once with ASKING; redirects are bounded; a node that
///   stops answering makes the map refresh (a replica promoted after a master's failure).
/// - sentinel: the master of redis.sentinel_master asked of the sentinels
///   (SENTINEL get-master-addr-by-name) and confirmed with ROLE; asked again on connection loss,
///   on READONLY / LOADING / MASTERDOWN replies and on the sentinels' +switch-master message
///   (one background subscription).
///
/// Nothing connects before the first command: no network on any startup or probe path.
/// Multi-key commands and scripts must use keys of one hash slot (cache/ and resilience/ choose
/// their key layout so: see docs/CACHE.md); keyless commands (PING, INFO, SCAN) go to one
/// master, and masters() gives every master for the commands that must visit them all.

#include "redis/pool.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::redis {

/// The hash slot of a key (CRC16 mod 16384), honouring {hash tags}.
std::uint16_t key_slot(std::string_view key);
/// The key a command is routed by: its first key (EVAL/EVALSHA: KEYS[1]); nullopt for
/// keyless commands (PING, INFO, SCAN, SCRIPT, ...).
std::optional<std::string_view> routing_key(const std::vector<std::string>& args);
/// "host:port" or "[v6addr]:port" (a bare host takes `default_port`); nullopt when malformed.
std::optional<Endpoint> parse_endpoint(std::string_view text, int default_port);

/// A node as the client last saw it, for /health/status and `cache stats`.
struct NodeStatus {
    std::string endpoint; ///< host:port, never credentials
    std::string role;     ///< master, replica, sentinel
    std::string slots;    ///< cluster masters: "0-5460"; empty otherwise
    bool reachable = true;
    std::string error; ///< why it is not reachable
};

/// What the routing layer did, since start.
struct TopologyCounters {
    std::uint64_t moved = 0;     ///< MOVED redirects followed
    std::uint64_t ask = 0;       ///< ASK redirects followed
    std::uint64_t refreshes = 0; ///< slot maps read / masters asked of the sentinels
    std::uint64_t failovers = 0; ///< a new master seen after the old one failed or moved
};

class Client {
public:
    virtual ~Client() = default;

    /// Runs one command where its key lives. Throws Error when Redis cannot be reached (after
    /// one attempt at the new topology); a Redis error reply comes back as a value of type error.
    virtual Value command(const std::vector<std::string>& args) = 0;
    /// Runs several commands, each where its key lives (one round trip per node), replies in
    /// order.
    virtual std::vector<Value> pipeline(const std::vector<std::vector<std::string>>& commands) = 0;
    /// Runs `args` on the node serving `key` (SCRIPT LOAD before a script runs on that key).
    virtual Value command_for(std::string_view key, const std::vector<std::string>& args) = 0;
    /// Every master (cluster: one per shard, from the slot map; otherwise the one), for the
    /// commands that must visit them all: SCAN, INFO. Reads the topology first if unknown.
    virtual std::vector<std::shared_ptr<Pool>> masters() = 0;

    virtual Mode mode() const = 0;
    /// For messages: "host:port", "cluster host:port,..." or "sentinel NAME host:port".
    virtual std::string endpoint() const = 0;
    /// The nodes as last seen (no network).
    virtual std::vector<NodeStatus> nodes() const = 0;
    TopologyCounters counters() const;
    std::uint64_t reconnects() const;

protected:
    virtual std::vector<std::shared_ptr<Pool>> all_pools() const = 0;
    std::atomic<std::uint64_t> m_moved{0};
    std::atomic<std::uint64_t> m_ask{0};
    std::atomic<std::uint64_t> m_refreshes{0};
    std::atomic<std::uint64_t> m_failovers{0};
};

/// The client for `settings.mode`. Does not connect.
std::unique_ptr<Client> make_client(const Settings& settings, const util::Clock& clock);

std::string_view to_string(Mode mode);

} // namespace dataflow::redis

#pragma once
/// redis.mode = cluster: commands routed to the master serving their key's hash slot, over one
/// Pool per node. See client.hpp for the behaviour; docs/CACHE.md for the key layout.

#include "redis/client.hpp"

#include <map>
#include <mutex>

namespace dataflow::redis {

/// The slot and node of a "MOVED 3999 127.0.0.1:6381" or "ASK ..." reply. Redis writes an IPv6
/// address without brackets ("::1:6381": the port follows the last colon) and "?" or nothing
/// for a node of unknown address (then `from`, the node that answered).
std::optional<std::pair<std::size_t, Endpoint>> parse_redirect(std::string_view reply,
                                                               const std::string& from);

class ClusterClient final : public Client {
public:
    ClusterClient(Settings settings, const util::Clock& clock);

    Value command(const std::vector<std::string>& args) override;
    std::vector<Value> pipeline(const std::vector<std::vector<std::string>>& commands) override;
    Value command_for(std::string_view key, const std::vector<std::string>& args) override;
    std::vector<std::shared_ptr<Pool>> masters() override;
    Mode mode() const override { return Mode::cluster; }
    std::string endpoint() const override;
    std::vector<NodeStatus> nodes() const override;

protected:
    std::vector<std::shared_ptr<Pool>> all_pools() const override;

private:
    struct Master {
        std::shared_ptr<Pool> pool;
        std::string slots; ///< "0-5460,10923"
    };
    struct Route {
        std::shared_ptr<Pool> pool;
        std::uint64_t epoch = 0;
    };
    /// Why the map is read again: none yet or a routing doubt, a MOVED (the map is wrong: read
    /// at once), a node that stopped answering (a changed owner then counts as a failover).
    enum class Refresh { unknown, moved, after_failure };
    /// Runs `args` for `key` (nullopt: any master), following redirects.
    Value execute(const std::vector<std::string>& args, std::optional<std::string_view> key);
    /// The node for `key`; a keyless command goes to master number `skip_masters` (modulo).
    Route route(std::optional<std::string_view> key, std::size_t skip_masters = 0);
    std::size_t masters_count() const;
    /// Reads the slot map again unless someone did since `seen_epoch`, or within 100 ms (but
    /// for a MOVED). Throws Error when no node answers.
    void refresh(std::uint64_t seen_epoch, Refresh why);
    std::shared_ptr<Pool> pool_locked(const Endpoint& at);

    Settings m_settings;
    const util::Clock& m_clock;
    std::vector<Endpoint> m_seeds;
    std::mutex m_refresh_mutex; ///< one refresh at a time
    mutable std::mutex m_mutex;
    std::map<std::string, std::shared_ptr<Pool>> m_pools; ///< by endpoint, kept across maps
    std::vector<std::shared_ptr<Pool>> m_owner;           ///< by slot; empty until read
    std::vector<Master> m_masters;
    std::uint64_t m_epoch = 0;
    std::chrono::steady_clock::time_point m_refreshed_at{};
    std::string m_map_error;
};

} // namespace dataflow::redis

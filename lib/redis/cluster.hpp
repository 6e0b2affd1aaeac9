#pragma once
/// redis.mode = cluster: commands routed to the master serving their key's hash slot, over one
/// Pool per node. See client.hpp for the behaviour; docs/CACHE.md for the key layout.

#include "redis/client.hpp"

#include <map>
#include <mutex>

namespace dataflow::redis {

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
    /// Runs `args` for `key` (nullopt: any master), following redirects.
    Value execute(const std::vector<std::string>& args, std::optional<std::string_view> key);
    Route route(std::optional<std::string_view> key);
    /// Reads the slot map again unless someone did since `seen_epoch`. `after_failure`: a node
    /// stopped answering (a changed owner is then counted as a failover). Throws Error when no
    /// node answers.
    void refresh(std::uint64_t seen_epoch, bool after_failure);
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
    std::string m_map_error;
};

} // namespace dataflow::redis

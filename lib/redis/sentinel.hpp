#pragma once
/// redis.mode = sentinel: the master of redis.sentinel_master, as the sentinels name it, over
/// one Pool; asked again when it stops answering, answers READONLY / LOADING / MASTERDOWN, or a
/// sentinel announces +switch-master (a background subscription, started by the first command).

#include "redis/client.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace dataflow::redis {

class SentinelClient final : public Client {
public:
    SentinelClient(Settings settings, const util::Clock& clock);
    ~SentinelClient() override;

    Value command(const std::vector<std::string>& args) override;
    std::vector<Value> pipeline(const std::vector<std::vector<std::string>>& commands) override;
    Value command_for(std::string_view key, const std::vector<std::string>& args) override;
    std::vector<std::shared_ptr<Pool>> masters() override;
    Mode mode() const override { return Mode::sentinel; }
    std::string endpoint() const override;
    std::vector<NodeStatus> nodes() const override;

protected:
    std::vector<std::shared_ptr<Pool>> all_pools() const override;

private:
    struct Current {
        std::shared_ptr<Pool> pool;
        std::uint64_t epoch = 0;
    };
    Current current();
    /// Asks the sentinels for the master unless someone did since `seen_epoch` (or, unless
    /// `forced`, a discovery failed within 100 ms); throws Error when none names a reachable
    /// master.
    void discover(std::uint64_t seen_epoch, bool forced);
    /// `run` on the master, asking the sentinels again (once) when it fails or refuses writes.
    template <typename F>
    auto on_master(F&& run);
    void watch(); ///< the +switch-master subscription (its own thread)
    void start_watcher();

    Settings m_settings;
    const util::Clock& m_clock;
    std::vector<std::shared_ptr<Pool>> m_sentinels; ///< one connection each (asked rarely)
    std::mutex m_discover_mutex;
    mutable std::mutex m_mutex;
    std::shared_ptr<Pool> m_master;
    Endpoint m_master_at;
    std::uint64_t m_epoch = 0;
    std::size_t m_good_sentinel = 0;            ///< asked first next time
    std::vector<std::string> m_sentinel_errors; ///< per sentinel, empty when it answered
    std::string m_error; ///< why the last discovery failed; empty after a success
    std::chrono::steady_clock::time_point m_failed_at{};
    bool m_stop = false;
    std::condition_variable m_stop_cv;
    std::thread m_watcher;
};

} // namespace dataflow::redis

#pragma once
/// Hot reload: the running configuration as an atomically swapped immutable snapshot, a reloader
/// that loads, validates and applies only valid configurations (debounced), and a watcher that
/// notices changes in the config and secrets directories (inotify, plus a periodic re-check).

#include "config/loader.hpp"
#include "util/background.hpp"
#include "util/clock.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dataflow::config {

/// The running configuration. Readers call current() and keep the snapshot for the duration of
/// one request. A mutex, not std::atomic<std::shared_ptr>: libstdc++ 12's version releases its
/// internal lock with relaxed order, which ThreadSanitizer reports as a race (an uncontended
/// lock costs tens of nanoseconds per request).
class ConfigStore {
public:
    using Subscriber = std::function<void(const std::shared_ptr<const Config>&)>;

    explicit ConfigStore(std::shared_ptr<const Config> initial);

    std::shared_ptr<const Config> current() const {
        std::lock_guard lock(m_current_mutex);
        return m_current;
    }

    /// Called after each applied change, on the reloading thread.
    std::size_t subscribe(Subscriber subscriber);
    void unsubscribe(std::size_t id);

    /// Swaps in `config` and notifies subscribers (exceptions they throw are logged).
    void publish(std::shared_ptr<const Config> config);

private:
    mutable std::mutex m_current_mutex;
    std::shared_ptr<const Config> m_current;
    std::mutex m_mutex;
    std::vector<std::pair<std::size_t, Subscriber>> m_subscribers;
    std::size_t m_next_id = 1;
};

enum class ReloadOutcome {
    applied,   ///< a valid, different configuration is now running
    unchanged, ///< valid and the same as the running one
    rejected,  ///< invalid: the running configuration is kept
};

struct ReloadStats {
    std::uint64_t applied = 0;
    std::uint64_t unchanged = 0;
    std::uint64_t rejected = 0;
    /// The last valid load: the start-up configuration until a reload is applied.
    std::chrono::system_clock::time_point last_good_time{};
    std::string last_good_hash;
    std::vector<Finding> last_rejection; ///< the findings of the last rejected load
    std::chrono::system_clock::time_point last_rejection_time{};
};

class Reloader {
public:
    using LoadFn = std::function<LoadResult()>;

    /// `debounce`: a burst of changes is applied once, `debounce` after the last of them (but
    /// no later than `max_delay` after the first).
    Reloader(ConfigStore& store, LoadFn load, const util::Clock& clock,
             std::chrono::milliseconds debounce, std::chrono::milliseconds max_delay);

    /// Records that something changed (thread-safe; cheap).
    void notify();
    /// Reloads if a change is pending and the debounce time has passed.
    std::optional<ReloadOutcome> poll();
    /// Reloads now (SIGHUP, tests). A valid candidate gets the running values of the keys that
    /// need a restart, and that combination, the one applied, is validated again.
    ReloadOutcome reload();
    /// When poll() should next be called, if a change is pending.
    std::optional<std::chrono::steady_clock::time_point> due() const;

    ReloadStats stats() const;
    /// Changes the debounce and max_delay (thread-safe): a pending change is due by the new ones.
    void set_debounce(std::chrono::milliseconds debounce, std::chrono::milliseconds max_delay);
    std::chrono::milliseconds debounce() const;

private:
    /// Logs `findings`' errors, records the rejection, and keeps `running`.
    ReloadOutcome reject(std::vector<Finding> findings, const Config& running);

    ConfigStore& m_store;
    LoadFn m_load;
    const util::Clock& m_clock;
    mutable std::mutex m_mutex;
    std::chrono::milliseconds m_debounce;
    std::chrono::milliseconds m_max_delay;
    std::optional<std::chrono::steady_clock::time_point> m_first_change;
    std::chrono::steady_clock::time_point m_last_change{};
    std::mutex m_reload_mutex; ///< one reload at a time
    ReloadStats m_stats;
};

/// Watches directories (and single files) on a background thread and feeds the reloader.
class ConfigWatcher {
public:
    struct Options {
        std::vector<std::string> dirs;  ///< every change in them counts
        std::vector<std::string> files; ///< changes to these names (or Kubernetes' ..data)
        std::chrono::milliseconds recheck_interval{30'000};
        bool use_inotify = true; ///< false: the periodic re-check only
    };

    ConfigWatcher(Reloader& reloader, Options options);
    ~ConfigWatcher();
    ConfigWatcher(const ConfigWatcher&) = delete;
    ConfigWatcher& operator=(const ConfigWatcher&) = delete;

    void start();
    void stop();
    /// Reload as soon as possible (the SIGHUP path); async-signal-unsafe: call from a thread.
    void trigger();
    /// False when inotify is unavailable and only the periodic re-check runs.
    bool using_inotify() const { return m_inotify_fd >= 0; }
    /// Changes the periodic re-check interval (thread-safe): the next wait uses it, counted
    /// from the last re-check.
    void set_recheck_interval(std::chrono::milliseconds interval);
    std::chrono::milliseconds recheck_interval() const;

private:
    void run();
    void add_watches();
    bool handle_events();
    std::string fingerprint() const;

    Reloader& m_reloader;
    Options m_options;
    int m_inotify_fd = -1;
    int m_wake_fd = -1;
    std::map<int, std::set<std::string>> m_watches; ///< wd -> names ("" = all)
    std::string m_last_fingerprint;
    std::atomic<bool> m_triggered{false};
    std::atomic<std::chrono::milliseconds::rep> m_recheck_ms;
    util::BackgroundThread m_thread; ///< last: stopped before the state it reads goes
};

/// serve's max_delay for a burst of changes: this many times reload.debounce.
inline constexpr int k_reload_max_delay_factor = 10;

/// Re-applies the reloadable reload.* settings after each applied reload: reload.debounce to
/// `reloader` (max_delay k_reload_max_delay_factor times it) and reload.recheck_interval to
/// `watcher` (if any). Returns the subscription id.
std::size_t follow_reload_settings(ConfigStore& store, Reloader& reloader, ConfigWatcher* watcher);

} // namespace dataflow::config

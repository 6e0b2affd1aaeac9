#include "config/reload.hpp"

#include "util/hash.hpp"

#include <climits>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

namespace dataflow::config {

namespace fs = std::filesystem;

namespace {

/// The errors of `applied` as a load finds them. A reload validates the candidate as loaded,
/// and then restart-only keys take their running values back: the loader's checks span keys
/// (the production profile: environment with auth.mode, api.admin_enabled, log.level, …), so
/// the combination applied must be checked again. Every value that is not a default is given
/// to an otherwise empty load as a flag (format_value reads back through parse_value); the
/// rule set is left out (it is reloadable and was checked with the candidate). Each finding is
/// placed at the applied value's origin.
std::vector<Finding> check_applied(const Config& applied) {
    LoadOptions options;
    options.default_config_dir.clear();
    options.default_secrets_dir.clear();
    for (const auto& key : schema()) {
        if (key.type == KeyType::rules || key.name == "analysis.rules_file" ||
            applied.origin(key).kind == SourceKind::default_value) {
            continue;
        }
        options.flags.push_back(FlagValue{std::string(key.name),
                                          format_value(key, applied.value(key)),
                                          "--" + std::string(key.name)});
    }
    std::vector<Finding> errors;
    for (auto& f : load(options).findings) {
        if (f.severity != Severity::error) {
            continue;
        }
        if (const KeyDef* key = f.key.empty() ? nullptr : find_key(f.key)) {
            f.where = applied.origin(*key);
        }
        errors.push_back(std::move(f));
    }
    return errors;
}

} // namespace

ConfigStore::ConfigStore(std::shared_ptr<const Config> initial) : m_current(std::move(initial)) {}

std::size_t ConfigStore::subscribe(Subscriber subscriber) {
    std::lock_guard lock(m_mutex);
    m_subscribers.emplace_back(m_next_id, std::move(subscriber));
    return m_next_id++;
}

void ConfigStore::unsubscribe(std::size_t id) {
    std::lock_guard lock(m_mutex);
    std::erase_if(m_subscribers, [id](const auto& s) { return s.first == id; });
}

void ConfigStore::publish(std::shared_ptr<const Config> config) {
    {
        std::lock_guard lock(m_current_mutex);
        m_current = config;
    }
    std::vector<Subscriber> subscribers;
    {
        std::lock_guard lock(m_mutex);
        for (const auto& [id, s] : m_subscribers) {
            subscribers.push_back(s);
        }
    }
    for (const auto& s : subscribers) {
        try {
            s(config);
        } catch (const std::exception& e) {
            spdlog::error("applying the new configuration: {}", e.what());
        }
    }
}

Reloader::Reloader(ConfigStore& store, LoadFn load, const util::Clock& clock,
                   std::chrono::milliseconds debounce, std::chrono::milliseconds max_delay)
    : m_store(store), m_load(std::move(load)), m_clock(clock), m_debounce(debounce),
      m_max_delay(std::max(max_delay, debounce)) {
    // The configuration the process started with is the first good load.
    m_stats.last_good_time = m_clock.system();
    if (auto current = m_store.current()) {
        m_stats.last_good_hash = current->hash();
    }
}

void Reloader::notify() {
    std::lock_guard lock(m_mutex);
    auto now = m_clock.steady();
    if (!m_first_change) {
        m_first_change = now;
    }
    m_last_change = now;
}

std::optional<std::chrono::steady_clock::time_point> Reloader::due() const {
    std::lock_guard lock(m_mutex);
    if (!m_first_change) {
        return std::nullopt;
    }
    return std::min(m_last_change + m_debounce, *m_first_change + m_max_delay);
}

void Reloader::set_debounce(std::chrono::milliseconds debounce,
                            std::chrono::milliseconds max_delay) {
    std::lock_guard lock(m_mutex);
    m_debounce = debounce;
    m_max_delay = std::max(max_delay, debounce);
}

std::chrono::milliseconds Reloader::debounce() const {
    std::lock_guard lock(m_mutex);
    return m_debounce;
}

std::optional<ReloadOutcome> Reloader::poll() {
    auto when = due();
    if (!when || m_clock.steady() < *when) {
        return std::nullopt;
    }
    return reload();
}

ReloadOutcome Reloader::reject(std::vector<Finding> findings, const Config& running) {
    std::size_t errors = 0;
    for (const auto& f : findings) {
        if (f.severity == Severity::error) {
            spdlog::error("{}", f.text());
            ++errors;
        }
    }
    spdlog::error("configuration reload rejected ({} errors); keeping the running "
                  "configuration {}",
                  errors, running.hash().substr(0, 12));
    std::lock_guard lock(m_mutex);
    ++m_stats.rejected;
    m_stats.last_rejection = std::move(findings);
    m_stats.last_rejection_time = m_clock.system();
    return ReloadOutcome::rejected;
}

ReloadOutcome Reloader::reload() {
    std::lock_guard reload_lock(m_reload_mutex);
    {
        std::lock_guard lock(m_mutex);
        m_first_change.reset();
    }
    auto result = m_load();
    auto running = m_store.current();
    if (!result.ok()) {
        return reject(std::move(result.findings), *running);
    }
    for (const auto& f : result.findings) {
        spdlog::warn("{}", f.text());
    }
    // Keys that cannot change while running keep their running value.
    auto next = std::make_shared<Config>(*result.config);
    std::vector<std::string> kept;
    for (const auto& key : schema()) {
        if (key.reloadable || key.type == KeyType::rules) {
            continue;
        }
        if (next->value(key) != running->value(key)) {
            if (key.secret) {
                spdlog::warn("{} changed: requires a restart; keeping the running value", key.name);
            } else {
                spdlog::warn("{} changed to {}: requires a restart; keeping {}", key.name,
                             format_value(key, next->value(key)),
                             format_value(key, running->value(key)));
            }
            next->set(key, running->value(key), running->origin(key));
            kept.emplace_back(key.name);
        }
    }
    next->finish();
    // What is applied is what must pass the checks, not only the candidate that was loaded.
    if (!kept.empty()) {
        if (auto errors = check_applied(*next); !errors.empty()) {
            auto note = fmt::format(" (with the running value of {}, which changes only on a "
                                    "restart)",
                                    fmt::join(kept, ", "));
            for (auto& f : errors) {
                f.message += note;
            }
            return reject(std::move(errors), *running);
        }
    }
    {
        std::lock_guard lock(m_mutex);
        m_stats.last_good_time = m_clock.system();
        m_stats.last_good_hash = next->hash();
        if (!next->differs_from(*running)) {
            ++m_stats.unchanged;
            spdlog::debug("configuration reloaded: unchanged");
            return ReloadOutcome::unchanged;
        }
        ++m_stats.applied;
    }
    spdlog::info("configuration reloaded: {} -> {}", running->hash().substr(0, 12),
                 next->hash().substr(0, 12));
    // Outside m_mutex: subscribers may call back into stats().
    m_store.publish(std::move(next));
    return ReloadOutcome::applied;
}

ReloadStats Reloader::stats() const {
    std::lock_guard lock(m_mutex);
    return m_stats;
}

// ---- ConfigWatcher

ConfigWatcher::ConfigWatcher(Reloader& reloader, Options options)
    : m_reloader(reloader), m_options(std::move(options)),
      m_recheck_ms(m_options.recheck_interval.count()) {}

void ConfigWatcher::set_recheck_interval(std::chrono::milliseconds interval) {
    if (m_recheck_ms.exchange(interval.count()) != interval.count() && m_wake_fd >= 0) {
        std::uint64_t one = 1; // run() recomputes its wait
        [[maybe_unused]] auto n = ::write(m_wake_fd, &one, sizeof one);
    }
}

std::chrono::milliseconds ConfigWatcher::recheck_interval() const {
    return std::chrono::milliseconds(m_recheck_ms.load());
}

ConfigWatcher::~ConfigWatcher() {
    stop();
}

void ConfigWatcher::start() {
    if (m_thread.running()) {
        return;
    }
    m_wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m_inotify_fd = m_options.use_inotify ? ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK) : -1;
    if (m_inotify_fd < 0 && m_options.use_inotify) {
        spdlog::warn("inotify unavailable ({}); configuration changes are noticed by the "
                     "periodic re-check only",
                     std::strerror(errno));
    } else {
        add_watches();
    }
    // Taken before start() returns, so a change made right after it is seen.
    m_last_fingerprint = fingerprint();
    m_thread.start([this] { run(); });
}

void ConfigWatcher::stop() {
    m_thread.stop(); // run()'s stop callback wakes its poll()
    if (m_inotify_fd >= 0) {
        ::close(m_inotify_fd);
        m_inotify_fd = -1;
    }
    if (m_wake_fd >= 0) {
        ::close(m_wake_fd);
        m_wake_fd = -1;
    }
    m_watches.clear();
}

void ConfigWatcher::trigger() {
    m_triggered = true;
    if (m_wake_fd >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(m_wake_fd, &one, sizeof one);
    }
}

void ConfigWatcher::add_watches() {
    constexpr std::uint32_t mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                   IN_MOVED_TO | IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF |
                                   IN_MOVE_SELF;
    for (const auto& [wd, filter] : m_watches) {
        ::inotify_rm_watch(m_inotify_fd, wd);
    }
    m_watches.clear();
    // `name` nullptr: the whole directory. (Not a std::optional<std::string>: GCC 12 warns,
    // wrongly, that a std::nullopt argument may be used uninitialized.)
    auto watch = [&](const std::string& dir, const std::string* name) {
        int wd = ::inotify_add_watch(m_inotify_fd, dir.c_str(), mask);
        if (wd < 0) {
            spdlog::debug("cannot watch {}: {}", dir, std::strerror(errno));
            return;
        }
        auto& filters = m_watches[wd];
        if (!name) {
            filters.insert(""); // everything in the directory
        } else {
            filters.insert(*name);
        }
    };
    for (const auto& d : m_options.dirs) {
        watch(d, nullptr);
    }
    for (const auto& f : m_options.files) {
        fs::path p(f);
        auto name = p.filename().string();
        watch(p.parent_path().empty() ? "." : p.parent_path().string(), &name);
    }
}

bool ConfigWatcher::handle_events() {
    alignas(inotify_event) char buffer[8192];
    bool relevant = false;
    bool rewatch = false;
    while (true) {
        auto n = ::read(m_inotify_fd, buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        for (char* p = buffer; p < buffer + n;) {
            auto* ev = reinterpret_cast<inotify_event*>(p);
            p += sizeof(inotify_event) + ev->len;
            if ((ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) != 0) {
                rewatch = true;
                relevant = true;
                continue;
            }
            auto it = m_watches.find(ev->wd);
            if (it == m_watches.end()) {
                continue;
            }
            std::string name = ev->len > 0 ? std::string(ev->name) : std::string();
            // A directory watched for one file: only that file, or Kubernetes' atomic
            // ..data swap, matters.
            if (it->second.count("") != 0 || it->second.count(name) != 0 ||
                name.rfind("..", 0) == 0) {
                relevant = true;
            }
        }
    }
    if (rewatch) {
        add_watches();
    }
    return relevant;
}

std::string ConfigWatcher::fingerprint() const {
    std::string state;
    auto add_file = [&state](const fs::path& path) {
        std::ifstream in(path, std::ios::binary);
        std::string content;
        if (in) {
            content.resize(k_max_config_file_bytes);
            in.read(content.data(), static_cast<std::streamsize>(content.size()));
            content.resize(static_cast<std::size_t>(in.gcount()));
        }
        state += path.string();
        state += '\0';
        state += util::sha256_hex(content);
        state += '\n';
    };
    for (const auto& d : m_options.dirs) {
        std::error_code ec;
        std::vector<fs::path> entries;
        for (fs::directory_iterator it(d, ec); !ec && it != fs::directory_iterator();
             it.increment(ec)) {
            auto name = it->path().filename().string();
            if (!name.empty() && name[0] != '.' && entries.size() < k_max_dir_entries) {
                entries.push_back(it->path());
            }
        }
        std::sort(entries.begin(), entries.end());
        for (const auto& e : entries) {
            add_file(e);
        }
    }
    for (const auto& f : m_options.files) {
        add_file(f);
    }
    return state;
}

void ConfigWatcher::run() {
    auto last = m_last_fingerprint;
    auto last_recheck = std::chrono::steady_clock::now();
    // poll() waits on file descriptors, not on the thread's condition variable: a stop wakes
    // it through the eventfd.
    std::stop_callback wake_on_stop(m_thread.stop_token(), [this] {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(m_wake_fd, &one, sizeof one);
    });
    while (!m_thread.stop_requested()) {
        auto now = std::chrono::steady_clock::now();
        // Read on every pass: set_recheck_interval() takes effect at the next wait.
        auto next_recheck = last_recheck + recheck_interval();
        auto wake = next_recheck;
        if (m_reloader.due()) {
            // A change is pending: come back soon to see whether the burst is over (the
            // reloader decides with its own clock).
            wake = std::min(wake, now + std::chrono::milliseconds(20));
        }
        int timeout = static_cast<int>(std::clamp<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count(), 0, INT_MAX));
        pollfd fds[2] = {{m_wake_fd, POLLIN, 0}, {m_inotify_fd, POLLIN, 0}};
        int n = ::poll(fds, m_inotify_fd >= 0 ? 2 : 1, timeout);
        if (m_thread.stop_requested()) {
            break;
        }
        if (n > 0 && (fds[0].revents & POLLIN) != 0) {
            std::uint64_t value = 0;
            [[maybe_unused]] auto r = ::read(m_wake_fd, &value, sizeof value);
        }
        if (m_triggered.exchange(false)) {
            m_reloader.reload();
            last = fingerprint();
            continue;
        }
        if (n > 0 && m_inotify_fd >= 0 && (fds[1].revents & POLLIN) != 0 && handle_events()) {
            m_reloader.notify();
        }
        if (std::chrono::steady_clock::now() >= last_recheck + recheck_interval()) {
            last_recheck = std::chrono::steady_clock::now();
            auto current = fingerprint();
            if (current != last) {
                last = current;
                m_reloader.notify();
            }
            if (m_inotify_fd >= 0 &&
                m_watches.size() < m_options.dirs.size() + m_options.files.size()) {
                add_watches(); // a directory that was missing may exist now
            }
        }
        if (m_reloader.poll()) {
            last = fingerprint();
        }
    }
}

std::size_t follow_reload_settings(ConfigStore& store, Reloader& reloader, ConfigWatcher* watcher) {
    return store.subscribe([&reloader, watcher](const std::shared_ptr<const Config>& c) {
        const auto& reload = c->settings().reload;
        reloader.set_debounce(reload.debounce, reload.debounce * k_reload_max_delay_factor);
        if (watcher != nullptr) {
            watcher->set_recheck_interval(reload.recheck_interval);
        }
    });
}

} // namespace dataflow::config

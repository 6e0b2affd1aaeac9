// `dataflow serve`: the composition root of the HTTP service, signals and lifecycle. Built into
// the HTTP module (util/http_module.hpp); its options are http_args.cpp's.

#include "cache/setup.hpp"
#include "commands.hpp"
#include "service/service.hpp"
#include "util/error.hpp"
#include "util/http_module.hpp"
#include "util/log.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <malloc.h>

namespace dataflow::cli {

namespace {

/// Memory returns to the system after large uploads: buffers of 1 MiB and more are mapped (and
/// unmapped when freed), and two arenas bound the per-thread pools of 16+ workers.
/// GLIBC_TUNABLES, when set, was applied before this and is kept.
void tune_malloc() {
    if (std::getenv("GLIBC_TUNABLES") == nullptr) {
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
        mallopt(M_ARENA_MAX, 2);
    }
}

/// Signals are handled by this thread alone: blocks them before any thread starts.
sigset_t block_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    return signals;
}

/// Watches the configuration's files and directories when reload.enabled and there are any.
std::unique_ptr<config::ConfigWatcher> make_watcher(const config::Config& config,
                                                    const config::LoadResult& loaded,
                                                    config::Reloader& reloader) {
    const auto& reload = config.settings().reload;
    if (!reload.enabled) {
        return nullptr;
    }
    config::ConfigWatcher::Options w;
    if (loaded.config_dir) {
        w.dirs.push_back(*loaded.config_dir);
    }
    if (loaded.secrets_dir) {
        w.dirs.push_back(*loaded.secrets_dir);
    }
    if (loaded.config_file) {
        w.files.push_back(*loaded.config_file);
    }
    w.recheck_interval = reload.recheck_interval;
    if (w.dirs.empty() && w.files.empty()) {
        return nullptr;
    }
    return std::make_unique<config::ConfigWatcher>(reloader, w);
}

/// Reloads on SIGHUP until SIGTERM or SIGINT, which it returns.
int wait_for_stop(const sigset_t& signals, config::ConfigWatcher* watcher,
                  config::Reloader& reloader) {
    while (true) {
        timespec tick{0, 200'000'000};
        int sig = sigtimedwait(&signals, nullptr, &tick);
        if (sig == SIGHUP) {
            spdlog::info("SIGHUP: reloading the configuration");
            if (watcher) {
                watcher->trigger();
            } else {
                reloader.reload();
            }
            continue;
        }
        if (sig == SIGTERM || sig == SIGINT) {
            return sig;
        }
    }
}

/// Keeps serving for `drain` while endpoints are removed; a second SIGINT shortens the wait.
void wait_while_draining(const sigset_t& signals, std::chrono::milliseconds drain) {
    auto until = std::chrono::steady_clock::now() + drain;
    while (std::chrono::steady_clock::now() < until) {
        auto left = until - std::chrono::steady_clock::now();
        auto ms = std::min<long long>(
            200, std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
        timespec wait{0, static_cast<long>(std::max<long long>(ms, 1)) * 1'000'000};
        if (sigtimedwait(&signals, nullptr, &wait) == SIGINT) {
            break;
        }
    }
}

} // namespace

int run_serve(const config::LoadOptions& options, const config::LoadResult& loaded) {
    auto started = std::chrono::steady_clock::now();
    tune_malloc();
    sigset_t signals = block_signals();

    const auto& clock = util::SystemClock::instance();
    config::ConfigStore store(loaded.config);
    const auto& config = *loaded.config;
    const auto& settings = config.settings();
    config::Reloader reloader(
        store, [options] { return config::load(options); }, clock, settings.reload.debounce,
        settings.reload.debounce * config::k_reload_max_delay_factor);
    auto watcher = make_watcher(config, loaded, reloader);
    // A reload that changes reload.debounce or reload.recheck_interval re-applies them.
    auto follow = config::follow_reload_settings(store, reloader, watcher.get());

    auto cache = cache::make_cache(settings, clock);
    upstream::Upstream up(settings, clock, cache->redis_client());
    service::Registry metrics;
    service::Service service({store, &reloader, *cache, up, metrics, clock});
    service.bind(settings.server.host, settings.server.port, settings.server.metrics_port);
    service.start();
    if (watcher) {
        watcher->start();
    }
    auto ready_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    spdlog::info("listening on http://{}:{} (metrics on port {}); ready in {:.1f} ms",
                 settings.server.host, service.api_port(), service.metrics_port(), ready_ms);

    int sig = wait_for_stop(signals, watcher.get(), reloader);
    // Read from the running snapshot: both are reloadable.
    auto current = store.current();
    auto drain = current->settings().server.drain_delay;
    auto timeout = current->settings().server.shutdown_timeout;
    spdlog::info("{}: draining for {} ms (readiness now fails), then stopping",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", drain.count());
    service.begin_drain();
    wait_while_draining(signals, drain);
    if (watcher) {
        watcher->stop();
    }
    store.unsubscribe(follow);
    bool clean = service.stop(timeout);
    if (!clean) {
        spdlog::warn("stopped with requests still running after server.shutdown_timeout ({} ms)",
                     timeout.count());
        spdlog::default_logger()->flush();
        std::fflush(nullptr);
        std::_Exit(1); // worker threads still use the service: no destructors
    }
    spdlog::info("stopped");
    spdlog::default_logger()->flush();
    return 0;
}

namespace {

[[maybe_unused]] const bool g_registered =
    util::register_http_function("cli.serve", reinterpret_cast<util::AnyFunction>(&run_serve));

} // namespace

} // namespace dataflow::cli

#include "live.hpp"

#include "analysis/render.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>

namespace dataflow::cli {

namespace {

std::atomic<upstream::Client*> g_client{nullptr};
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_interrupt(int) {
    g_interrupted = 1;
    if (auto* c = g_client.load()) {
        c->cancel(); // an atomic store: async-signal-safe
    }
}

struct sigaction g_old_int {};
struct sigaction g_old_term {};

} // namespace

InterruptGuard::InterruptGuard(upstream::Client& client) {
    g_client = &client;
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &g_old_int);
    sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
    sigaction(SIGINT, &g_old_int, nullptr);
    sigaction(SIGTERM, &g_old_term, nullptr);
    g_client = nullptr;
}

bool InterruptGuard::interrupted() {
    return g_interrupted != 0;
}

analysis::ProbeResults probe_all(upstream::Upstream& up, live::CachedProber& prober,
                                 const std::vector<std::string>& flows, const Terminal& terminal,
                                 bool quiet) {
    analysis::ProbeResults results;
    bool progress = terminal.stderr_tty && !quiet;
    for (std::size_t i = 0; i < flows.size(); ++i) {
        if (InterruptGuard::interrupted()) {
            break;
        }
        if (progress) {
            std::string wait;
            for (const auto& s : up.limiter().status()) {
                if (s.tokens < 1.0) {
                    double seconds = (1.0 - s.tokens) * 60.0 / s.limit.per_minute;
                    wait = fmt::format(" (next request slot in {:.0f} s)", seconds);
                }
            }
            std::fprintf(stderr, "\r\x1b[Kprobing %zu/%zu %s%s", i + 1, flows.size(),
                         flows[i].c_str(), wait.c_str());
            std::fflush(stderr);
        }
        auto [p, from_cache] = prober.measure(flows[i]);
        if (p.outcome == analysis::ProbeOutcome::cancelled) {
            break;
        }
        if (from_cache) {
            spdlog::debug("probe {}: from the cache (measured {})", flows[i], p.tested_at);
        }
        spdlog::debug("probe {}: {}", flows[i],
                      p.error_message.value_or(analysis::probe_summary(p)));
        results[flows[i]] = std::move(p);
    }
    if (progress) {
        std::fprintf(stderr, "\r\x1b[K");
        std::fflush(stderr);
    }
    if (InterruptGuard::interrupted()) {
        spdlog::warn("interrupted: {} of {} dataflows probed; the report shows what was measured",
                     results.size(), flows.size());
    }
    return results;
}

int probe_exit_code(const analysis::ProbeResults& results) {
    bool limited = false;
    bool unavailable = false;
    for (const auto& [id, p] : results) {
        using analysis::ProbeOutcome;
        limited = limited || p.outcome == ProbeOutcome::rate_limited;
        unavailable = unavailable || p.outcome == ProbeOutcome::timeout ||
                      p.outcome == ProbeOutcome::network ||
                      p.outcome == ProbeOutcome::server_error ||
                      p.outcome == ProbeOutcome::breaker_open;
    }
    if (limited) {
        return static_cast<int>(ExitCode::rate_limited);
    }
    return unavailable ? static_cast<int>(ExitCode::unavailable) : 0;
}

bool is_url(const std::string& s) {
    return util::starts_with_ci(s, "http://") || util::starts_with_ci(s, "https://");
}

void check_source_scheme(const std::string& source) {
    if (auto scheme = source.find("://");
        scheme != std::string::npos && scheme > 0 && !is_url(source) &&
        std::all_of(
            source.begin(), source.begin() + static_cast<long>(scheme),
            [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '.' || c == '-'; })) {
        throw UsageError(source + ": unsupported URL scheme '" + source.substr(0, scheme) +
                         "'; give an http:// or https:// URL, a file path, or - for standard "
                         "input");
    }
}

} // namespace dataflow::cli

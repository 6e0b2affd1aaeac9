#include "live.hpp"

#include "analysis/probe_codec.hpp"
#include "analysis/render.hpp"
#include "sdmx/source.hpp"
#include "upstream/sdmx_rest.hpp"
#include "util/error.hpp"
#include "util/time.hpp"
#include "util/units.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
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

std::optional<std::string> fetch_catalogue(upstream::Client& client, const util::Url& url,
                                           std::uint64_t max_bytes) {
    upstream::StringSink sink;
    spdlog::debug("GET {}", url.str());
    auto r = client.get(url, upstream::OpClass::structure, sink, upstream::k_structure_accept,
                        max_bytes);
    switch (r.outcome) {
    case upstream::Outcome::success:
        spdlog::debug("GET {}: {} in {} ms ({} on the wire)", r.url,
                      sdmx::format_bytes(r.body_bytes), r.duration.count(),
                      sdmx::format_bytes(r.wire_bytes));
        return std::move(sink.body);
    case upstream::Outcome::too_large:
        throw InputError(fmt::format("{}: the catalogue is larger than the limit of {}; raise "
                                     "--max-input-bytes if it is expected",
                                     url.str(), sdmx::format_bytes(max_bytes)));
    case upstream::Outcome::cancelled:
        return std::nullopt;
    default:
        break;
    }
    std::string hint;
    if (r.retry_at) {
        hint = "; try again after " + util::format_rfc3339(*r.retry_at);
    } else if (r.outcome == upstream::Outcome::no_data) {
        hint = "; check upstream.agency and the URL";
    } else if (upstream::error_kind(r.outcome) == ErrorKind::unavailable) {
        hint = "; the upstream may be down, try again later";
    }
    throw Error(upstream::error_kind(r.outcome),
                fmt::format("GET {}: {}{}", r.url, r.message, hint));
}

std::optional<util::Url> service_root(const util::Url& catalogue) {
    auto path = catalogue.target.substr(0, catalogue.target.find('?'));
    auto at = path.rfind("/dataflow");
    if (at == std::string::npos) {
        return std::nullopt;
    }
    util::Url root = catalogue;
    root.target = path.substr(0, at);
    if (root.target.empty()) {
        root.target = "/";
    }
    return root;
}

std::optional<FetchedCatalogue> fetch_catalogue_cached(upstream::Client& client,
                                                       const util::Url& url,
                                                       std::uint64_t max_bytes,
                                                       const CacheUse& use) {
    if (use.cache == nullptr) {
        auto body = fetch_catalogue(client, url, max_bytes);
        if (!body) {
            return std::nullopt;
        }
        return FetchedCatalogue{std::move(*body), false, false, std::nullopt};
    }
    auto key = cache::make_key("catalog", {url.str()});
    auto policy = use.catalog;
    policy.refresh = !use.read;
    bool interrupted = false;
    auto fetched = use.computer->get(key, policy, [&]() -> cache::Computed {
        auto body = fetch_catalogue(client, url, max_bytes);
        if (!body) {
            interrupted = true;
            return cache::Computed{{}, {}, false, {}, false};
        }
        return cache::Computed{std::move(*body), "application/xml", false, {"catalog"}, true};
    });
    if (interrupted) {
        return std::nullopt;
    }
    if (fetched.stale) {
        spdlog::warn("serving the catalogue cached {:.0f} s ago: {}", fetched.age_seconds,
                     fetched.stale_reason.empty() ? "it is stale" : fetched.stale_reason);
    } else if (fetched.cache_hit) {
        spdlog::debug("catalogue from the cache ({:.0f} s old)", fetched.age_seconds);
    }
    FetchedCatalogue out{std::move(fetched.entry.value), fetched.cache_hit, fetched.stale,
                         std::nullopt};
    if (fetched.cache_hit) {
        out.age_seconds = fetched.age_seconds;
    }
    return out;
}

namespace {

analysis::ProbeResult probe_cached(upstream::Prober& prober, const std::string& flow,
                                   const CacheUse& use, bool& from_cache) {
    from_cache = false;
    if (use.cache == nullptr) {
        return prober.probe(flow);
    }
    auto key = cache::make_key("probe", {prober.url_for(flow)});
    auto policy = use.probe;
    policy.refresh = !use.read;
    analysis::ProbeResult measured;
    bool fresh_measure = false;
    auto fetched = use.computer->get(key, policy, [&]() -> cache::Computed {
        measured = prober.probe(flow);
        fresh_measure = true;
        // Only measurements are worth keeping; failures of ours (budget, Ctrl-C) are not.
        return cache::Computed{analysis::probe_to_json(measured),
                               "application/json",
                               !measured.is_successful(),
                               {"probe"},
                               analysis::worth_caching(measured.outcome)};
    });
    if (fresh_measure && !fetched.cache_hit) {
        return measured;
    }
    auto decoded = analysis::probe_from_json(fetched.entry.value);
    if (!decoded) {
        return prober.probe(flow);
    }
    from_cache = true;
    return *decoded;
}

} // namespace

analysis::ProbeResults probe_all(upstream::Upstream& up, upstream::Prober& prober,
                                 const std::vector<std::string>& flows, const Terminal& terminal,
                                 bool quiet, const CacheUse& cache) {
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
        bool from_cache = false;
        auto p = probe_cached(prober, flows[i], cache, from_cache);
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

} // namespace dataflow::cli

#include "redis/sentinel.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <hiredis/hiredis.h>
#include <poll.h>

namespace dataflow::redis {

namespace {

/// A master that cannot take writes now: ask the sentinels who can.
bool refuses_writes(const Value& v) {
    auto s = std::string_view(v.str);
    return v.is_error() &&
           (s.starts_with("READONLY") || s.starts_with("LOADING") || s.starts_with("MASTERDOWN"));
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

Settings sentinel_settings(const Settings& s, const Endpoint& at) {
    Settings out = s;
    out.host = at.host;
    out.port = at.port;
    out.db = 0;
    out.username = s.sentinel_username;
    out.password = s.sentinel_password;
    out.auth_key = "redis.sentinel_password";
    out.pool_size = 1;
    return out;
}

} // namespace

SentinelClient::SentinelClient(Settings settings, const util::Clock& clock)
    : m_settings(std::move(settings)), m_clock(clock),
      m_sentinel_errors(m_settings.sentinels.size()) {
    for (const auto& at : m_settings.sentinels) {
        m_sentinels.push_back(std::make_shared<Pool>(sentinel_settings(m_settings, at), clock));
    }
}

SentinelClient::~SentinelClient() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_stop_cv.notify_all();
    if (m_watcher.joinable()) {
        m_watcher.join();
    }
}

std::string SentinelClient::endpoint() const {
    std::lock_guard lock(m_mutex);
    return fmt::format("sentinel {} {}", m_settings.sentinel_master,
                       m_master ? m_master_at.str() : std::string("(master not yet asked)"));
}

std::vector<NodeStatus> SentinelClient::nodes() const {
    std::lock_guard lock(m_mutex);
    std::vector<NodeStatus> out;
    if (m_master) {
        auto error = m_master->last_error();
        out.push_back({m_master_at.str(), "master", "", error.empty(), error});
    } else if (!m_error.empty()) {
        out.push_back({"?", "master", "", false, m_error});
    }
    for (std::size_t i = 0; i < m_settings.sentinels.size(); ++i) {
        const auto& error = m_sentinel_errors[i];
        out.push_back({m_settings.sentinels[i].str(), "sentinel", "", error.empty(), error});
    }
    return out;
}

std::vector<std::shared_ptr<Pool>> SentinelClient::all_pools() const {
    std::lock_guard lock(m_mutex);
    if (m_master) {
        return {m_master};
    }
    return {};
}

void SentinelClient::discover(std::uint64_t seen_epoch, bool forced) {
    std::lock_guard serial(m_discover_mutex);
    std::size_t first = 0;
    Endpoint known;
    std::shared_ptr<Pool> known_pool;
    {
        std::lock_guard lock(m_mutex);
        if (m_epoch != seen_epoch) {
            return;
        }
        // While no master can be found, ask at most every 100 ms (not once per command).
        if (!forced && !m_error.empty() &&
            m_clock.steady() - m_failed_at < std::chrono::milliseconds(100)) {
            throw Error(fmt::format("Redis sentinel: no reachable master for '{}' ({})",
                                    m_settings.sentinel_master, m_error));
        }
        first = m_good_sentinel;
        known = m_master_at;
        known_pool = m_master;
    }
    const auto& sentinels = m_sentinels;
    std::vector<std::string> errors(sentinels.size());
    std::string why = "no sentinel configured (redis.sentinels)";
    for (std::size_t k = 0; k < sentinels.size(); ++k) {
        auto i = (first + k) % sentinels.size();
        const auto& sentinel = sentinels[i];
        Value v;
        try {
            v = sentinel->command(
                {"SENTINEL", "get-master-addr-by-name", m_settings.sentinel_master});
        } catch (const Error& e) {
            errors[i] = why = e.what();
            continue;
        }
        int port = 0;
        if (v.type != Value::Type::array || v.elements.size() != 2 ||
            std::from_chars(v.elements[1].str.data(),
                            v.elements[1].str.data() + v.elements[1].str.size(), port)
                    .ec != std::errc()) {
            errors[i] = why =
                fmt::format("sentinel {} does not know a master named '{}'{}", sentinel->endpoint(),
                            m_settings.sentinel_master, v.is_error() ? ": " + v.str : "");
            continue;
        }
        Endpoint at{v.elements[0].str, port};
        auto pool = at == known && known_pool ? known_pool : nullptr;
        if (!pool) {
            Settings s = m_settings;
            s.host = at.host;
            s.port = at.port;
            pool = std::make_shared<Pool>(s, m_clock);
        }
        try {
            auto role = pool->command({"ROLE"});
            if (role.type != Value::Type::array || role.elements.empty() ||
                role.elements[0].str != "master") {
                why = fmt::format("{} (named by sentinel {}) is not a master yet", at.str(),
                                  sentinel->endpoint());
                continue;
            }
        } catch (const Error& e) {
            why = e.what();
            continue;
        }
        std::lock_guard lock(m_mutex);
        if (m_master && !(at == m_master_at)) {
            ++m_failovers;
            spdlog::info("Redis sentinel: the master of {} is now {} (was {})",
                         m_settings.sentinel_master, at.str(), m_master_at.str());
        }
        m_master = pool;
        m_master_at = at;
        ++m_epoch;
        ++m_refreshes;
        m_good_sentinel = i;
        m_sentinel_errors = errors;
        m_error.clear();
        return;
    }
    std::lock_guard lock(m_mutex);
    m_sentinel_errors = errors;
    m_error = why;
    m_failed_at = m_clock.steady();
    throw Error(fmt::format("Redis sentinel: no reachable master for '{}' ({})",
                            m_settings.sentinel_master, why));
}

SentinelClient::Current SentinelClient::current() {
    start_watcher();
    std::uint64_t epoch = 0;
    {
        std::lock_guard lock(m_mutex);
        if (m_master) {
            return {m_master, m_epoch};
        }
        epoch = m_epoch;
    }
    discover(epoch, false);
    std::lock_guard lock(m_mutex);
    if (!m_master) {
        throw Error("Redis sentinel: no master known for '" + m_settings.sentinel_master + "'");
    }
    return {m_master, m_epoch};
}

template <typename F>
auto SentinelClient::on_master(F&& run) {
    auto cur = current();
    try {
        auto result = run(*cur.pool);
        bool refused = false;
        if constexpr (std::is_same_v<decltype(result), Value>) {
            refused = refuses_writes(result);
        } else {
            for (const auto& v : result) {
                refused = refused || refuses_writes(v);
            }
        }
        if (!refused) {
            return result;
        }
    } catch (const Unreachable&) {
        // Not sent: ask for the master again and send it there (below).
    } catch (const Error&) {
        // Sent, perhaps run: never twice. The next command goes to whoever is master then.
        try {
            discover(cur.epoch, false);
        } catch (const Error&) {
        }
        throw;
    }
    discover(cur.epoch, false); // throws when no master can be found
    return run(*current().pool);
}

Value SentinelClient::command(const std::vector<std::string>& args) {
    return on_master([&](Pool& p) { return p.command(args); });
}

std::vector<Value> SentinelClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
    return on_master([&](Pool& p) { return p.pipeline(commands); });
}

Value SentinelClient::command_for(std::string_view, const std::vector<std::string>& args) {
    return command(args);
}

std::vector<std::shared_ptr<Pool>> SentinelClient::masters() {
    return {current().pool};
}

void SentinelClient::start_watcher() {
    std::lock_guard lock(m_mutex);
    if (!m_watcher.joinable() && !m_stop && !m_settings.sentinels.empty()) {
        m_watcher = std::thread([this] { watch(); });
    }
}

void SentinelClient::watch() {
    std::size_t next = 0;
    auto stopped = [&](std::chrono::milliseconds wait) {
        std::unique_lock lock(m_mutex);
        return m_stop_cv.wait_for(lock, wait, [&] { return m_stop; });
    };
    auto rediscover = [&] {
        std::uint64_t epoch = 0;
        {
            std::lock_guard lock(m_mutex);
            epoch = m_epoch;
        }
        try {
            discover(epoch, true);
        } catch (const Error& e) {
            spdlog::warn("{}", e.what());
        }
    };
    bool warned = false;
    while (!stopped(std::chrono::milliseconds(0))) {
        const auto& at = m_settings.sentinels[next++ % m_settings.sentinels.size()];
        redisContext* ctx = redisConnectWithTimeout(at.host.c_str(), at.port,
                                                    to_timeval(m_settings.connect_timeout));
        bool ok = ctx != nullptr && ctx->err == 0;
        std::string why = ok ? "" : (ctx != nullptr ? ctx->errstr : "cannot allocate");
        auto ask = [&](std::vector<std::string> args) {
            std::vector<const char*> argv;
            std::vector<std::size_t> lens;
            for (const auto& a : args) {
                argv.push_back(a.c_str());
                lens.push_back(a.size());
            }
            auto* r = static_cast<redisReply*>(
                redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data()));
            bool good = r != nullptr && r->type != REDIS_REPLY_ERROR;
            if (r != nullptr && r->type == REDIS_REPLY_ERROR) {
                why = std::string(r->str, r->len); // the server's words: never the password
            }
            if (r != nullptr) {
                freeReplyObject(r);
            }
            return good;
        };
        if (ok) {
            redisSetTimeout(ctx, to_timeval(m_settings.command_timeout));
            redisEnableKeepAlive(ctx);
            if (!m_settings.sentinel_password.empty()) {
                ok =
                    m_settings.sentinel_username.empty()
                        ? ask({"AUTH", m_settings.sentinel_password})
                        : ask({"AUTH", m_settings.sentinel_username, m_settings.sentinel_password});
            }
            ok = ok && ask({"SUBSCRIBE", "+switch-master"});
        }
        if (ok) {
            warned = false;
            rediscover(); // a switch while no sentinel was listened to is not lost
        } else if (!warned) {
            spdlog::warn("Redis sentinel {}: cannot subscribe to +switch-master ({}); trying the "
                         "next sentinel every second",
                         at.str(), why);
            warned = true;
        }
        auto last_ping = std::chrono::steady_clock::now();
        while (ok && !stopped(std::chrono::milliseconds(0))) {
            void* raw = nullptr;
            int got = REDIS_OK;
            while ((got = redisReaderGetReply(ctx->reader, &raw)) == REDIS_OK && raw != nullptr) {
                auto* r = static_cast<redisReply*>(raw);
                if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                    r->element[2]->type == REDIS_REPLY_STRING &&
                    std::string_view(r->element[2]->str, r->element[2]->len)
                        .starts_with(m_settings.sentinel_master + " ")) {
                    rediscover();
                }
                freeReplyObject(raw);
                raw = nullptr;
            }
            ok = got == REDIS_OK; // a protocol error: drop the connection, take the next
            // A PING now and then (allowed while subscribed) finds a connection that died
            // without a word; its answer ("pong") is read and ignored above.
            if (ok && std::chrono::steady_clock::now() - last_ping > std::chrono::seconds(5)) {
                const char* ping[] = {"PING"};
                redisAppendCommandArgv(ctx, 1, ping, nullptr);
                int done = 0;
                ok = redisBufferWrite(ctx, &done) == REDIS_OK;
                last_ping = std::chrono::steady_clock::now();
            }
            pollfd p{ctx->fd, POLLIN, 0};
            int n = ok ? ::poll(&p, 1, 200) : 0;
            if (n > 0) {
                ok = redisBufferRead(ctx) == REDIS_OK;
            } else if (n < 0 && errno != EINTR) {
                ok = false;
            }
        }
        if (ctx != nullptr) {
            redisFree(ctx);
        }
        stopped(std::chrono::milliseconds(1000)); // then the next sentinel
    }
}

} // namespace dataflow::redis

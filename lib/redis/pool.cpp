#include "redis/pool.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <hiredis/hiredis.h>

namespace dataflow::redis {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

Value convert(const redisReply* r) {
    Value v;
    if (r == nullptr) {
        return v;
    }
    switch (r->type) {
    case REDIS_REPLY_STRING:
        v.type = Value::Type::string;
        v.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_STATUS:
        v.type = Value::Type::status;
        v.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        v.type = Value::Type::error;
        v.str.assign(r->str, r->len);
        break;
    case REDIS_REPLY_INTEGER:
        v.type = Value::Type::integer;
        v.integer = r->integer;
        break;
    case REDIS_REPLY_ARRAY:
        v.type = Value::Type::array;
        for (std::size_t i = 0; i < r->elements; ++i) {
            v.elements.push_back(convert(r->element[i]));
        }
        break;
    default:
        break;
    }
    return v;
}

void append(redisContext* ctx, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data());
}

} // namespace

Pool::Pool(Settings settings, const util::Clock& clock)
    : m_settings(std::move(settings)), m_clock(clock),
      m_slots(static_cast<std::size_t>(std::max(1, m_settings.pool_size))) {}

Pool::~Pool() {
    for (auto& s : m_slots) {
        if (s.ctx != nullptr) {
            redisFree(s.ctx);
        }
    }
}

std::string Endpoint::str() const {
    if (host.find(':') != std::string::npos) {
        return fmt::format("[{}]:{}", host, port);
    }
    return fmt::format("{}:{}", host, port);
}

std::string Pool::endpoint() const {
    return Endpoint{m_settings.host, m_settings.port}.str();
}

std::string Pool::last_error() const {
    std::lock_guard lock(m_mutex);
    return m_last_error;
}

std::uint64_t Pool::reconnects() const {
    std::lock_guard lock(m_mutex);
    return m_reconnects;
}

void Pool::backoff_locked(const std::string& why) {
    m_backoff = m_backoff.count() == 0 ? std::chrono::milliseconds(100)
                                       : std::min(m_backoff * 2, std::chrono::milliseconds(5000));
    m_retry_at = m_clock.steady() + m_backoff;
    if (why != m_last_error) {
        spdlog::warn("Redis {}: {}; reconnecting with backoff", endpoint(), why);
    }
    m_last_error = why;
}

std::size_t Pool::acquire() {
    std::unique_lock lock(m_mutex);
    auto deadline = std::chrono::steady_clock::now() + m_settings.command_timeout;
    while (true) {
        for (std::size_t i = 0; i < m_slots.size(); ++i) {
            if (!m_slots[i].busy && m_slots[i].ctx != nullptr) {
                m_slots[i].busy = true;
                return i;
            }
        }
        for (std::size_t i = 0; i < m_slots.size(); ++i) {
            if (!m_slots[i].busy) {
                if (m_clock.steady() < m_retry_at) {
                    throw Unreachable(
                        fmt::format("Redis {} is unreachable ({}); next attempt in "
                                    "{} ms",
                                    endpoint(), m_last_error,
                                    std::chrono::duration_cast<std::chrono::milliseconds>(
                                        m_retry_at - m_clock.steady())
                                        .count()));
                }
                m_slots[i].busy = true;
                lock.unlock();
                redisContext* ctx = nullptr;
                std::string why;
                try {
                    ctx = connect_locked_free();
                } catch (const Error& e) {
                    why = e.what();
                }
                lock.lock();
                if (ctx == nullptr) {
                    m_slots[i].busy = false;
                    backoff_locked(why);
                    throw Unreachable(fmt::format("Redis {}: {}", endpoint(), why));
                }
                m_slots[i].ctx = ctx;
                if (m_backoff.count() != 0) {
                    spdlog::info("Redis {}: connected again", endpoint());
                    ++m_reconnects;
                }
                m_backoff = std::chrono::milliseconds(0);
                m_last_error.clear();
                return i;
            }
        }
        if (m_cv.wait_until(lock, deadline) == std::cv_status::timeout) {
            throw Error(fmt::format("Redis {}: all {} connections busy for {} ms", endpoint(),
                                    m_slots.size(), m_settings.command_timeout.count()));
        }
    }
}

redisContext* Pool::connect_locked_free() {
    redisContext* ctx = redisConnectWithTimeout(m_settings.host.c_str(), m_settings.port,
                                                to_timeval(m_settings.connect_timeout));
    if (ctx == nullptr) {
        throw Error("cannot allocate a connection");
    }
    if (ctx->err != 0) {
        std::string why = ctx->errstr;
        redisFree(ctx);
        throw Error("cannot connect: " + why);
    }
    redisSetTimeout(ctx, to_timeval(m_settings.command_timeout));
    redisEnableKeepAlive(ctx);
    auto run = [&](const std::vector<std::string>& args, const std::string& what) {
        append(ctx, args);
        void* raw = nullptr;
        if (redisGetReply(ctx, &raw) != REDIS_OK) {
            std::string why = ctx->errstr;
            redisFree(ctx);
            throw Error(fmt::format("{} failed: {}", what, why));
        }
        auto value = convert(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
        if (value.is_error()) {
            redisFree(ctx);
            // The server's message never contains the password.
            throw Error(fmt::format("{} refused: {}", what, value.str));
        }
    };
    if (!m_settings.password.empty()) {
        if (m_settings.username.empty()) {
            run({"AUTH", m_settings.password}, fmt::format("AUTH ({})", m_settings.auth_key));
        } else {
            run({"AUTH", m_settings.username, m_settings.password},
                fmt::format("AUTH ({}, {})",
                            m_settings.auth_key == "redis.password" ? "redis.username"
                                                                    : "redis.sentinel_username",
                            m_settings.auth_key));
        }
    }
    if (m_settings.db != 0) {
        run({"SELECT", std::to_string(m_settings.db)}, "SELECT (redis.db)");
    }
    return ctx;
}

void Pool::release(std::size_t slot, bool broken) {
    {
        std::lock_guard lock(m_mutex);
        if (broken && m_slots[slot].ctx != nullptr) {
            redisFree(m_slots[slot].ctx);
            m_slots[slot].ctx = nullptr;
        }
        m_slots[slot].busy = false;
    }
    m_cv.notify_one();
}

Value Pool::command(const std::vector<std::string>& args) {
    return pipeline({args}).front();
}

std::vector<Value> Pool::pipeline(const std::vector<std::vector<std::string>>& commands) {
    auto slot = acquire();
    redisContext* ctx = m_slots[slot].ctx;
    for (const auto& c : commands) {
        append(ctx, c);
    }
    std::vector<Value> out;
    out.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx, &raw) != REDIS_OK) {
            std::string why = ctx->errstr;
            release(slot, true);
            {
                std::lock_guard lock(m_mutex);
                // The others are most likely dead too (a restart): reconnect them all.
                for (auto& s : m_slots) {
                    if (!s.busy && s.ctx != nullptr) {
                        redisFree(s.ctx);
                        s.ctx = nullptr;
                    }
                }
                backoff_locked(why);
            }
            throw Error(fmt::format("Redis {}: {}", endpoint(), why));
        }
        out.push_back(convert(static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
    }
    release(slot, false);
    return out;
}

} // namespace dataflow::redis

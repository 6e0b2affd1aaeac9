#include "redis/cluster.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <thread>

namespace dataflow::redis {

namespace {

constexpr std::size_t k_slots = 16384;

bool starts_with(const Value& v, std::string_view prefix) {
    return v.is_error() && std::string_view(v.str).starts_with(prefix);
}

} // namespace

std::optional<std::pair<std::size_t, Endpoint>> parse_redirect(std::string_view text,
                                                               const std::string& from) {
    auto first = text.find(' ');
    auto second = first == std::string_view::npos ? first : text.find(' ', first + 1);
    if (second == std::string_view::npos) {
        return std::nullopt;
    }
    std::size_t slot = 0;
    for (char c : text.substr(first + 1, second - first - 1)) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        slot = slot * 10 + static_cast<std::size_t>(c - '0');
    }
    auto address = text.substr(second + 1);
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos || slot >= k_slots) {
        return std::nullopt;
    }
    Endpoint at;
    at.host = std::string(address.substr(0, colon));
    if (at.host.size() > 2 && at.host.front() == '[' && at.host.back() == ']') {
        at.host = at.host.substr(1, at.host.size() - 2);
    }
    if (at.host.empty() || at.host == "?") {
        at.host = from;
    }
    auto port = address.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), at.port);
    if (ec != std::errc() || end != port.data() + port.size() || at.port < 1 || at.port > 65535) {
        return std::nullopt;
    }
    return std::make_pair(slot, at);
}

namespace {

bool is_redirect(const Value& v) {
    return starts_with(v, "MOVED ") || starts_with(v, "ASK ") || starts_with(v, "TRYAGAIN") ||
           starts_with(v, "CLUSTERDOWN");
}

std::string join_ranges(const std::vector<std::pair<long long, long long>>& ranges) {
    std::string out;
    for (const auto& [a, b] : ranges) {
        out += fmt::format("{}{}", out.empty() ? "" : ",",
                           a == b ? fmt::format("{}", a) : fmt::format("{}-{}", a, b));
    }
    return out;
}

} // namespace

ClusterClient::ClusterClient(Settings settings, const util::Clock& clock)
    : m_settings(std::move(settings)), m_clock(clock) {
    m_settings.db = 0; // a cluster has database 0 only (the loader refuses another)
    m_seeds.push_back({m_settings.host, m_settings.port});
    for (const auto& n : m_settings.nodes) {
        if (std::find(m_seeds.begin(), m_seeds.end(), n) == m_seeds.end()) {
            m_seeds.push_back(n);
        }
    }
}

std::string ClusterClient::endpoint() const {
    std::string out = "cluster ";
    for (std::size_t i = 0; i < m_seeds.size(); ++i) {
        out.append(i == 0 ? "" : ",").append(m_seeds[i].str());
    }
    return out;
}

std::shared_ptr<Pool> ClusterClient::pool_locked(const Endpoint& at) {
    auto key = at.str();
    auto it = m_pools.find(key);
    if (it != m_pools.end()) {
        return it->second;
    }
    Settings s = m_settings;
    s.host = at.host;
    s.port = at.port;
    auto pool = std::make_shared<Pool>(s, m_clock);
    m_pools.emplace(key, pool);
    return pool;
}

void ClusterClient::refresh(std::uint64_t seen_epoch, Refresh why) {
    std::lock_guard serial(m_refresh_mutex);
    std::vector<std::shared_ptr<Pool>> ask;
    {
        std::lock_guard lock(m_mutex);
        if (m_epoch != seen_epoch) {
            return; // another thread read the map meanwhile
        }
        // At most every 100 ms unless a MOVED proved the map wrong (or there is none).
        if (why != Refresh::moved && !m_owner.empty() &&
            m_clock.steady() - m_refreshed_at < std::chrono::milliseconds(100)) {
            return;
        }
        for (const auto& m : m_masters) {
            ask.push_back(m.pool);
        }
        for (const auto& s : m_seeds) {
            ask.push_back(pool_locked(s));
        }
        for (const auto& [name, p] : m_pools) {
            ask.push_back(p);
        }
    }
    std::string last_error = "no node to ask";
    for (const auto& pool : ask) {
        Value v;
        try {
            v = pool->command({"CLUSTER", "SLOTS"});
        } catch (const Error& e) {
            last_error = e.what();
            continue;
        }
        if (v.type != Value::Type::array || v.elements.empty()) {
            last_error = fmt::format("Redis {}: CLUSTER SLOTS: {}", pool->endpoint(),
                                     v.is_error() ? v.str : "no slots (is it a cluster node?)");
            continue;
        }
        std::vector<std::shared_ptr<Pool>> owner(k_slots);
        std::map<std::string,
                 std::pair<std::shared_ptr<Pool>, std::vector<std::pair<long long, long long>>>>
            masters;
        std::lock_guard lock(m_mutex);
        for (const auto& range : v.elements) {
            if (range.elements.size() < 3 || range.elements[2].elements.size() < 2) {
                continue;
            }
            auto first = range.elements[0].integer;
            auto last = range.elements[1].integer;
            const auto& node = range.elements[2].elements;
            Endpoint at{node[0].str, static_cast<int>(node[1].integer)};
            if (at.host.empty() || at.host == "?") {
                at.host = pool->settings().host; // the node we asked
            }
            if (first < 0 || last >= static_cast<long long>(k_slots) || first > last) {
                continue;
            }
            auto p = pool_locked(at);
            for (auto s = first; s <= last; ++s) {
                owner[static_cast<std::size_t>(s)] = p;
            }
            auto& m = masters[at.str()];
            m.first = p;
            m.second.emplace_back(first, last);
        }
        // A failover: slots left a master that no longer answers.
        bool failover = false;
        for (std::size_t s = 0; s < k_slots && !m_owner.empty() && !failover; ++s) {
            failover = m_owner[s] && owner[s] != m_owner[s] && !m_owner[s]->last_error().empty();
        }
        m_owner = std::move(owner);
        m_masters.clear();
        for (auto& [name, m] : masters) {
            std::sort(m.second.begin(), m.second.end());
            m_masters.push_back({m.first, join_ranges(m.second)});
        }
        ++m_epoch;
        m_refreshed_at = m_clock.steady();
        m_map_error.clear();
        ++m_refreshes;
        if (failover) {
            ++m_failovers;
            spdlog::info("Redis cluster: the slot map changed after a node failed; {} masters",
                         m_masters.size());
        }
        return;
    }
    std::lock_guard lock(m_mutex);
    m_map_error = last_error;
    throw Error("Redis cluster: no node answered CLUSTER SLOTS (last: " + last_error + ")");
}

ClusterClient::Route ClusterClient::route(std::optional<std::string_view> key,
                                          std::size_t skip_masters) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::uint64_t epoch = 0;
        {
            std::lock_guard lock(m_mutex);
            epoch = m_epoch;
            if (!m_owner.empty()) {
                if (!key) {
                    if (!m_masters.empty()) {
                        return {m_masters[skip_masters % m_masters.size()].pool, epoch};
                    }
                } else if (auto p = m_owner[key_slot(*key)]) {
                    return {p, epoch};
                }
            }
            if (attempt == 1) {
                break; // the map was just read and still has no owner
            }
        }
        refresh(epoch, Refresh::unknown);
    }
    throw Error(fmt::format("Redis cluster: no master serves slot {} (is the cluster down?)",
                            key ? key_slot(*key) : 0));
}

Value ClusterClient::execute(const std::vector<std::string>& args,
                             std::optional<std::string_view> key) {
    auto where = route(key);
    bool asking = false;
    bool moved = false;
    bool unreachable_once = false;
    bool down_once = false;
    std::size_t keyless_tries = 0;
    for (int hop = 0; hop <= m_settings.max_redirects; ++hop) {
        Value v;
        try {
            v = asking ? where.pool->pipeline({{"ASKING"}, args}).back()
                       : where.pool->command(args);
        } catch (const Unreachable&) {
            // Not sent: another node may take it. A keyless command tries the next master; a
            // key's master is looked up again (a replica may have been promoted), once.
            if (!key && ++keyless_tries < std::max<std::size_t>(1, masters_count())) {
                where = route(key, keyless_tries);
                asking = false;
                continue;
            }
            if (unreachable_once || !key) {
                throw;
            }
            unreachable_once = true;
            refresh(where.epoch, Refresh::after_failure);
            where = route(key);
            asking = false;
            continue;
        } catch (const Error&) {
            // Sent, and perhaps run (a timeout, a dropped connection): never sent twice. The map
            // is read again for the next command, at most every 100 ms.
            try {
                refresh(where.epoch, Refresh::after_failure);
            } catch (const Error&) {
            }
            throw;
        }
        asking = false;
        if (starts_with(v, "MOVED ") || starts_with(v, "ASK ")) {
            auto redirect = parse_redirect(v.str, where.pool->settings().host);
            if (!redirect) {
                return v;
            }
            std::lock_guard lock(m_mutex);
            auto to = pool_locked(redirect->second);
            if (v.str[0] == 'M') {
                ++m_moved;
                moved = true;
                if (!m_owner.empty()) {
                    m_owner[redirect->first] = to; // now; the whole map below
                }
            } else {
                ++m_ask; // a slot being migrated: temporary, the map is not read for it
                asking = true;
            }
            where = {to, m_epoch};
            continue;
        }
        if (starts_with(v, "TRYAGAIN") || (starts_with(v, "CLUSTERDOWN") && !down_once)) {
            // A multi-key command during a migration, or a cluster failing over: once more
            // after a short wait, bounded by the redirect count and the command timeout.
            down_once = down_once || starts_with(v, "CLUSTERDOWN");
            std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
                std::chrono::milliseconds(20 << std::min(hop, 3)), m_settings.command_timeout));
            try {
                refresh(where.epoch, Refresh::unknown);
            } catch (const Error&) {
            }
            where = route(key);
            continue;
        }
        if (moved) {
            try {
                refresh(where.epoch, Refresh::moved); // the map was stale: read it whole
            } catch (const Error&) {
            }
        }
        return v;
    }
    throw Error(fmt::format("Redis cluster: more than {} redirects for one command (the slots "
                            "are moving, or the cluster is failing over)",
                            m_settings.max_redirects));
}

std::size_t ClusterClient::masters_count() const {
    std::lock_guard lock(m_mutex);
    return m_masters.size();
}

Value ClusterClient::command(const std::vector<std::string>& args) {
    return execute(args, routing_key(args));
}

Value ClusterClient::command_for(std::string_view key, const std::vector<std::string>& args) {
    return execute(args, key);
}

std::vector<Value> ClusterClient::pipeline(const std::vector<std::vector<std::string>>& commands) {
    std::vector<Value> out(commands.size());
    // Group by node, one round trip each; whatever was redirected or failed runs on its own.
    std::map<Pool*, std::pair<std::shared_ptr<Pool>, std::vector<std::size_t>>> groups;
    for (std::size_t i = 0; i < commands.size(); ++i) {
        auto where = route(routing_key(commands[i]));
        auto& g = groups[where.pool.get()];
        g.first = where.pool;
        g.second.push_back(i);
    }
    std::vector<std::size_t> again;
    for (auto& [raw, group] : groups) {
        std::vector<std::vector<std::string>> batch;
        for (auto i : group.second) {
            batch.push_back(commands[i]);
        }
        try {
            auto replies = group.first->pipeline(batch);
            for (std::size_t j = 0; j < replies.size(); ++j) {
                auto i = group.second[j];
                if (is_redirect(replies[j])) {
                    again.push_back(i);
                } else {
                    out[i] = std::move(replies[j]);
                }
            }
        } catch (const Error&) {
            again.insert(again.end(), group.second.begin(), group.second.end());
        }
    }
    std::sort(again.begin(), again.end());
    for (auto i : again) {
        out[i] = command(commands[i]);
    }
    return out;
}

std::vector<std::shared_ptr<Pool>> ClusterClient::masters() {
    route(std::nullopt); // reads the map if unknown
    std::lock_guard lock(m_mutex);
    std::vector<std::shared_ptr<Pool>> out;
    for (const auto& m : m_masters) {
        out.push_back(m.pool);
    }
    return out;
}

std::vector<NodeStatus> ClusterClient::nodes() const {
    std::lock_guard lock(m_mutex);
    std::vector<NodeStatus> out;
    for (const auto& m : m_masters) {
        auto error = m.pool->last_error();
        out.push_back({m.pool->endpoint(), "master", m.slots, error.empty(), error});
    }
    if (out.empty()) {
        for (const auto& s : m_seeds) {
            out.push_back({s.str(), "seed", "", m_map_error.empty(), m_map_error});
        }
    }
    return out;
}

std::vector<std::shared_ptr<Pool>> ClusterClient::all_pools() const {
    std::lock_guard lock(m_mutex);
    std::vector<std::shared_ptr<Pool>> out;
    for (const auto& [name, p] : m_pools) {
        out.push_back(p);
    }
    return out;
}

} // namespace dataflow::redis

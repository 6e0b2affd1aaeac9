#include "redis/cluster.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>

namespace dataflow::redis {

namespace {

constexpr std::size_t k_slots = 16384;

bool starts_with(const Value& v, std::string_view prefix) {
    return v.is_error() && std::string_view(v.str).starts_with(prefix);
}

/// "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node.
std::optional<std::pair<std::size_t, Endpoint>> redirect_of(const Value& v) {
    auto text = std::string_view(v.str);
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
    auto at = parse_endpoint(text.substr(second + 1), 0);
    if (!at || slot >= k_slots || at->port == 0) {
        return std::nullopt;
    }
    return std::make_pair(slot, *at);
}

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

void ClusterClient::refresh(std::uint64_t seen_epoch, bool after_failure) {
    std::lock_guard serial(m_refresh_mutex);
    std::vector<std::shared_ptr<Pool>> ask;
    {
        std::lock_guard lock(m_mutex);
        if (m_epoch != seen_epoch) {
            return; // another thread read the map meanwhile
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
        bool changed = false;
        for (std::size_t s = 0; s < k_slots && !m_owner.empty(); ++s) {
            changed = changed || owner[s] != m_owner[s];
        }
        m_owner = std::move(owner);
        m_masters.clear();
        for (auto& [name, m] : masters) {
            std::sort(m.second.begin(), m.second.end());
            m_masters.push_back({m.first, join_ranges(m.second)});
        }
        ++m_epoch;
        m_map_error.clear();
        ++m_refreshes;
        if (changed && after_failure) {
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

ClusterClient::Route ClusterClient::route(std::optional<std::string_view> key) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::uint64_t epoch = 0;
        {
            std::lock_guard lock(m_mutex);
            epoch = m_epoch;
            if (!m_owner.empty()) {
                if (!key) {
                    if (!m_masters.empty()) {
                        return {m_masters.front().pool, epoch};
                    }
                } else if (auto p = m_owner[key_slot(*key)]) {
                    return {p, epoch};
                }
            }
        }
        refresh(epoch, false);
    }
    throw Error(fmt::format("Redis cluster: no master serves slot {} (is the cluster down?)",
                            key ? key_slot(*key) : 0));
}

Value ClusterClient::execute(const std::vector<std::string>& args,
                             std::optional<std::string_view> key) {
    auto where = route(key);
    bool asking = false;
    bool failed_once = false;
    for (int hop = 0; hop <= m_settings.max_redirects; ++hop) {
        Value v;
        try {
            v = asking ? where.pool->pipeline({{"ASKING"}, args}).back()
                       : where.pool->command(args);
        } catch (const Error&) {
            if (failed_once) {
                throw;
            }
            failed_once = true;
            refresh(where.epoch, true); // the node is gone: a replica may have been promoted
            where = route(key);
            asking = false;
            continue;
        }
        asking = false;
        if (starts_with(v, "MOVED ") || starts_with(v, "ASK ")) {
            auto redirect = redirect_of(v);
            if (!redirect) {
                return v;
            }
            std::lock_guard lock(m_mutex);
            auto to = pool_locked(redirect->second);
            if (v.str[0] == 'M') {
                ++m_moved;
                if (!m_owner.empty()) {
                    m_owner[redirect->first] = to; // now; the whole map below
                }
                where = {to, m_epoch};
            } else {
                ++m_ask;
                where = {to, m_epoch};
                asking = true;
            }
            continue;
        }
        if (starts_with(v, "TRYAGAIN") || starts_with(v, "CLUSTERDOWN")) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20 << std::min(hop, 4)));
            try {
                refresh(where.epoch, false);
            } catch (const Error&) {
            }
            where = route(key);
            continue;
        }
        if (hop > 0 && !failed_once) {
            try {
                refresh(where.epoch, false); // the map was stale: read it whole once
            } catch (const Error&) {
            }
        }
        return v;
    }
    throw Error(fmt::format("Redis cluster: more than {} redirects for one command (the slots "
                            "are moving, or the cluster is failing over)",
                            m_settings.max_redirects));
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

#include "redis/client.hpp"

#include "redis/cluster.hpp"
#include "redis/sentinel.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace dataflow::redis {

namespace {

/// CRC16-CCITT (XMODEM), the cluster's key hash.
constexpr std::array<std::uint16_t, 256> crc16_table() {
    std::array<std::uint16_t, 256> t{};
    for (unsigned i = 0; i < 256; ++i) {
        auto crc = static_cast<std::uint16_t>(i << 8);
        for (int b = 0; b < 8; ++b) {
            crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        }
        t[i] = crc;
    }
    return t;
}

constexpr auto k_crc16 = crc16_table();

std::uint16_t crc16(std::string_view s) {
    std::uint16_t crc = 0;
    for (unsigned char c : s) {
        crc = static_cast<std::uint16_t>((crc << 8) ^ k_crc16[((crc >> 8) ^ c) & 0xff]);
    }
    return crc;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) ==
                      std::toupper(static_cast<unsigned char>(y));
           });
}

/// One node, one pool.
class StandaloneClient final : public Client {
public:
    StandaloneClient(const Settings& settings, const util::Clock& clock)
        : m_pool(std::make_shared<Pool>(settings, clock)) {}

    Value command(const std::vector<std::string>& args) override { return m_pool->command(args); }
    std::vector<Value> pipeline(const std::vector<std::vector<std::string>>& commands) override {
        return m_pool->pipeline(commands);
    }
    Value command_for(std::string_view, const std::vector<std::string>& args) override {
        return m_pool->command(args);
    }
    std::vector<std::shared_ptr<Pool>> masters() override { return {m_pool}; }
    Mode mode() const override { return Mode::standalone; }
    std::string endpoint() const override { return m_pool->endpoint(); }
    std::vector<NodeStatus> nodes() const override {
        auto error = m_pool->last_error();
        return {NodeStatus{m_pool->endpoint(), "master", "", error.empty(), error}};
    }

protected:
    std::vector<std::shared_ptr<Pool>> all_pools() const override { return {m_pool}; }

private:
    std::shared_ptr<Pool> m_pool;
};

} // namespace

std::uint16_t key_slot(std::string_view key) {
    auto open = key.find('{');
    if (open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<std::uint16_t>(crc16(key) & 16383);
}

std::optional<std::string_view> routing_key(const std::vector<std::string>& args) {
    if (args.size() < 2) {
        return std::nullopt;
    }
    const auto& name = args[0];
    if (iequals(name, "EVAL") || iequals(name, "EVALSHA")) {
        if (args.size() >= 4 && args[2] != "0") {
            return args[3];
        }
        return std::nullopt;
    }
    static constexpr std::array<std::string_view, 14> keyless{
        "PING", "INFO", "SCAN",     "SCRIPT", "CLUSTER", "DBSIZE", "ASKING",
        "ROLE", "AUTH", "SENTINEL", "SELECT", "TIME",    "CLIENT", "READONLY"};
    for (auto k : keyless) {
        if (iequals(name, k)) {
            return std::nullopt;
        }
    }
    return args[1];
}

std::optional<Endpoint> parse_endpoint(std::string_view text, int default_port) {
    Endpoint e;
    std::string_view port;
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return std::nullopt;
        }
        e.host = std::string(text.substr(1, close - 1));
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                return std::nullopt;
            }
            port = rest.substr(1);
        }
    } else {
        auto colon = text.rfind(':');
        if (colon != std::string_view::npos && text.find(':') != colon) {
            return std::nullopt; // a bare IPv6 address: write [addr]:port
        }
        e.host = std::string(text.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
        }
    }
    if (e.host.empty() || e.host.find_first_of(" \t\r\n/@") != std::string::npos) {
        return std::nullopt;
    }
    e.port = default_port;
    if (!port.empty() || text.ends_with(':')) {
        int p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc() || end != port.data() + port.size() || p < 1 || p > 65535) {
            return std::nullopt;
        }
        e.port = p;
    }
    return e;
}

TopologyCounters Client::counters() const {
    return {m_moved.load(), m_ask.load(), m_refreshes.load(), m_failovers.load()};
}

std::uint64_t Client::reconnects() const {
    std::uint64_t n = 0;
    for (const auto& p : all_pools()) {
        n += p->reconnects();
    }
    return n;
}

std::unique_ptr<Client> make_client(const Settings& settings, const util::Clock& clock) {
    switch (settings.mode) {
    case Mode::cluster:
        return std::make_unique<ClusterClient>(settings, clock);
    case Mode::sentinel:
        return std::make_unique<SentinelClient>(settings, clock);
    case Mode::standalone:
        break;
    }
    return std::make_unique<StandaloneClient>(settings, clock);
}

std::string_view to_string(Mode mode) {
    switch (mode) {
    case Mode::cluster:
        return "cluster";
    case Mode::sentinel:
        return "sentinel";
    case Mode::standalone:
        break;
    }
    return "standalone";
}

} // namespace dataflow::redis

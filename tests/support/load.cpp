#include "support/load.hpp"

#include <httplib.h>

namespace dataflow::test {

LoadGenerator::LoadGenerator(int port, std::vector<LoadRequest> mix, double rate, int threads,
                             std::string bearer)
    : m_port(port), m_mix(std::move(mix)),
      m_interval(std::chrono::nanoseconds(static_cast<long long>(1e9 * threads / rate))),
      m_bearer(std::move(bearer)), m_thread_count(threads) {
    for (int i = 0; i < threads; ++i) {
        m_threads.emplace_back([this, i] { worker(i); });
    }
}

LoadGenerator::~LoadGenerator() {
    stop();
}

void LoadGenerator::stop() {
    m_stop = true;
    for (auto& t : m_threads) {
        if (t.joinable()) {
            t.join();
        }
    }
}

void LoadGenerator::worker(int index) {
    // Workers start spread over one interval (m_threads is still growing here: not its size).
    auto next = std::chrono::steady_clock::now() + m_interval * index / m_thread_count;
    httplib::Client client("127.0.0.1", m_port);
    client.set_connection_timeout(std::chrono::seconds(2));
    client.set_read_timeout(std::chrono::seconds(30));
    client.set_keep_alive(true);
    client.set_tcp_nodelay(true);
    if (!m_bearer.empty()) {
        client.set_bearer_token_auth(m_bearer.c_str());
    }
    while (!m_stop) {
        std::this_thread::sleep_until(next);
        next += m_interval;
        const auto& req = m_mix[m_next++ % m_mix.size()];
        LoadOutcome o;
        o.path = req.path;
        o.sent = std::chrono::steady_clock::now();
        auto r = req.method == "POST" ? client.Post(req.path, req.body, req.content_type.c_str())
                                      : client.Get(req.path);
        o.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - o.sent);
        if (r) {
            o.status = r->status;
            o.body_head = r->body.substr(0, 300);
            if (r->status == 503 && r->has_header("Retry-After")) {
                o.error = "shed";
            }
        } else {
            o.error = httplib::to_string(r.error());
        }
        std::lock_guard lock(m_mutex);
        m_outcomes.push_back(std::move(o));
    }
}

std::vector<LoadOutcome> LoadGenerator::outcomes() const {
    std::lock_guard lock(m_mutex);
    return m_outcomes;
}

LoadSummary LoadGenerator::summary(std::chrono::steady_clock::time_point from,
                                   std::chrono::steady_clock::time_point to) const {
    LoadSummary s;
    for (const auto& o : outcomes()) {
        if (o.sent < from || o.sent >= to) {
            continue;
        }
        ++s.sent;
        s.max_latency = std::max(s.max_latency, o.latency);
        auto problem = [&](const std::string& what) {
            if (s.first_problem.empty()) {
                s.first_problem = o.path + ": " + what;
            }
        };
        if (o.status == 0) {
            ++s.transport;
            problem("transport: " + o.error);
        } else if (o.status >= 500) {
            ++s.server_err;
            s.shed += o.error == "shed" ? 1 : 0;
            problem("status " + std::to_string(o.status) + ": " + o.body_head);
        } else if (o.status >= 400) {
            ++s.client_err;
        } else {
            ++s.ok;
        }
    }
    return s;
}

} // namespace dataflow::test

#pragma once
/// A steady-rate load generator for fault tests: worker threads send a mix of requests to one
/// server at a fixed total rate and record every outcome (status, latency, transport error).

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dataflow::test {

struct LoadRequest {
    std::string method = "GET";
    std::string path;
    std::string body;
    std::string content_type = "application/json";
};

struct LoadOutcome {
    std::chrono::steady_clock::time_point sent;
    std::chrono::milliseconds latency{0};
    std::string path;
    int status = 0;        ///< 0: no response
    std::string error;     ///< transport error, if no response
    std::string body_head; ///< the first bytes of the body, for messages
};

struct LoadSummary {
    std::size_t sent = 0;
    std::size_t ok = 0;         ///< 2xx
    std::size_t client_err = 0; ///< 4xx
    std::size_t server_err = 0; ///< 5xx
    std::size_t shed = 0;       ///< 503 with Retry-After among server_err
    std::size_t transport = 0;  ///< no response
    std::chrono::milliseconds max_latency{0};
    std::string first_problem; ///< the first 5xx or transport error, described
};

class LoadGenerator {
public:
    /// `mix` is cycled through; `rate` requests per second in total over `threads` workers.
    LoadGenerator(int port, std::vector<LoadRequest> mix, double rate, int threads = 4,
                  std::string bearer = {});
    ~LoadGenerator();
    LoadGenerator(const LoadGenerator&) = delete;
    LoadGenerator& operator=(const LoadGenerator&) = delete;

    void stop();
    std::vector<LoadOutcome> outcomes() const;
    /// Outcomes sent in [from, to).
    LoadSummary summary(std::chrono::steady_clock::time_point from = {},
                        std::chrono::steady_clock::time_point to =
                            std::chrono::steady_clock::time_point::max()) const;

private:
    void worker(int index);

    int m_port;
    std::vector<LoadRequest> m_mix;
    std::chrono::nanoseconds m_interval;
    std::string m_bearer;
    int m_thread_count;
    std::atomic<bool> m_stop{false};
    std::atomic<std::size_t> m_next{0};
    mutable std::mutex m_mutex;
    std::vector<LoadOutcome> m_outcomes;
    std::vector<std::thread> m_threads;
};

} // namespace dataflow::test

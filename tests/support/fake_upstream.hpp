#pragma once
// A fake SDMX REST upstream for tests: a small HTTP/1.1 server on 127.0.0.1 (port 0) serving
// fixture bodies, with injectable faults (latency, slow drip, error statuses, 429 with and
// without Retry-After, connection reset, truncated or close-delimited bodies, gzip, hanging),
// validators (ETag, Last-Modified) and 304 to a matching conditional request. Every request is
// recorded with its arrival time. One request per connection.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace dataflow::test {

struct FakeResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/xml";
    std::vector<std::pair<std::string, std::string>> headers;
    /// Streams a generated body instead of `body`: called with a write function until it
    /// returns false (close-delimited, constant memory).
    std::function<bool(const std::function<bool(std::string_view)>&)> generator;
    /// When set, a 200 carries ETag / Last-Modified, and a request whose If-None-Match is
    /// `etag` (or, without If-None-Match, whose If-Modified-Since is `last_modified`: the same
    /// string) is answered 304 Not Modified without a body.
    std::string etag{};
    std::string last_modified{};
};

struct Faults {
    std::chrono::milliseconds latency{0}; ///< before the status line
    std::chrono::milliseconds drip_interval{0};
    std::size_t drip_bytes = 0; ///< with drip_interval: body sent in pieces
    int fail_next = 0;          ///< the next N requests get fail_status
    int fail_status = 500;
    std::string fail_retry_after;           ///< Retry-After on those failures, if not empty
    bool reset = false;                     ///< close with RST instead of answering
    std::optional<std::size_t> truncate_at; ///< announce the full length, send this much
    bool close_delimited = false;           ///< no Content-Length: the body ends at close
    bool gzip = false;
    std::string content_type; ///< overrides the route's
    bool hang = false;        ///< never answer
    /// As Eurostat's SDMX 2.1 API: a structure query on the `all` resource (a path segment
    /// exactly "all") with references= other than "none" is answered 400 with an SDMX error.
    bool reject_references_on_all = false;
};

struct RecordedRequest {
    std::chrono::steady_clock::time_point at;
    std::string target;
    std::map<std::string, std::string> headers; ///< lower-case names
};

class FakeUpstream {
public:
    FakeUpstream();
    ~FakeUpstream();
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    int port() const { return m_port; }
    /// "http://127.0.0.1:PORT/rest"
    std::string base() const;
    /// Serves `response` for requests whose path (without the query) is `path`; a path ending
    /// in '*' is a prefix.
    void route(const std::string& path, FakeResponse response);
    void set_faults(const Faults& faults);
    std::vector<RecordedRequest> requests() const;
    std::size_t request_count() const;
    /// The requests answered 304 Not Modified so far.
    std::size_t not_modified_count() const;
    void clear_requests();
    /// The most requests being answered at the same time so far.
    int max_concurrent() const;

private:
    void accept_loop();
    void handle(int fd);

    int m_listen = -1;
    int m_port = 0;
    int m_wake[2] = {-1, -1};
    std::atomic<bool> m_stop{false};
    mutable std::mutex m_mutex;
    std::map<std::string, FakeResponse> m_routes;
    Faults m_faults;
    std::vector<RecordedRequest> m_requests;
    std::size_t m_not_modified = 0;
    int m_active = 0;
    int m_max_active = 0;
    std::vector<int> m_open;
    std::vector<std::thread> m_workers;
    std::thread m_acceptor;
};

} // namespace dataflow::test

#pragma once
/// Bounds per connection and per request under cpp-httplib 0.11, whose own limits cannot be
/// changed (its CPPHTTPLIB_* macros are compiled into libcpp-httplib.so). GuardedServer takes
/// over the connection loop (process_and_close_socket, a virtual of httplib::Server) and hands
/// the library a GuardedStream, which enforces on the bytes themselves:
///
/// - the request head: at most `max_header_bytes` and `max_headers` lines → 431;
/// - a whole-request deadline, head and body (`request_timeout`), not a per-read timeout → 408;
/// - `Connection: close` in any response closes the connection: a refusal never leaves the
///   rest of an unread body to be parsed as another request;
/// - open connections: beyond `max_connections` a fast 503 without reading; under pressure
///   (three quarters of the workers busy) idle keep-alive connections are closed and a head
///   must keep arriving (a read waits at most `k_pressure_read_timeout`).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <httplib.h>
#include <string>

namespace dataflow::service {

struct ConnectionLimits {
    std::size_t max_header_bytes = 32 * 1024;
    std::size_t max_headers = 100;
    std::chrono::milliseconds request_timeout{60'000};
    std::chrono::milliseconds read_timeout{30'000};
    std::chrono::milliseconds write_timeout{30'000};
    std::chrono::milliseconds keep_alive_timeout{5'000};
    std::size_t keep_alive_max_count = 100;
    std::size_t max_connections = 512;        ///< open at once on this listener
    std::size_t max_threads = 256;            ///< its workers: pressure is 3/4 of them busy
    std::uint64_t linger_bytes = 64ULL << 20; ///< dropped at most after a refusal
};

/// Under pressure a request head (or an idle keep-alive connection) waits at most this long for
/// its next bytes: a slow client then gives its worker back within a second.
inline constexpr std::chrono::milliseconds k_pressure_read_timeout{1000};

/// A connection closed while its client may still be sending (a refusal) is closed gently:
/// our side is shut, and what arrives is read and dropped for at most this long (and at most
/// the body limit), so that the client reads the answer instead of a reset. Not under
/// pressure.
inline constexpr std::chrono::milliseconds k_linger{2000};

/// What went wrong with the connection of the request being handled on this thread.
enum class ConnectionFault { none, head_too_large, timed_out };
/// For handlers: the fault of the current connection (a body read cut short by the deadline).
ConnectionFault current_connection_fault();
/// For handlers: the rest of the current request must arrive within `within` (a refused
/// request's body is drained for at most that long, then the connection is closed).
void limit_current_request(std::chrono::milliseconds within);

class GuardedServer : public httplib::Server {
public:
    /// `limits` is asked once per connection (request_timeout is reloadable).
    explicit GuardedServer(std::function<ConnectionLimits()> limits);

    /// Connections being served now (each holds a worker).
    std::size_t active() const { return m_active.load(); }
    /// Connections refused with 503 for being beyond max_connections (or the pool's queue).
    std::uint64_t refused() const { return m_refused.load(); }
    /// Serves one connection on the calling thread as an accepted socket is served, and closes
    /// it (for the fuzz target and tests: a socketpair end). The server must be bound.
    bool serve_socket(socket_t sock) { return process_and_close_socket(sock); }

    /// While alive on a thread, connections handed to process_and_close_socket on it are
    /// refused at once (the worker pool's queue is full: no worker will take them soon).
    class RejectScope {
    public:
        RejectScope();
        ~RejectScope();
        RejectScope(const RejectScope&) = delete;
        RejectScope& operator=(const RejectScope&) = delete;
    };

private:
    bool process_and_close_socket(socket_t sock) override;
    /// True when the connection ended on a refusal (its client may still be sending).
    bool serve(socket_t sock, const ConnectionLimits& limits);
    void linger(socket_t sock, const ConnectionLimits& limits) const;

    std::function<ConnectionLimits()> m_limits;
    std::atomic<std::size_t> m_active{0};
    std::atomic<std::uint64_t> m_refused{0};
};

} // namespace dataflow::service

#include "service/connection.hpp"

#include "service/router.hpp"
#include "util/strings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace dataflow::service {

namespace {

using Clock = std::chrono::steady_clock;

/// Longest chunk-size or trailer line of a body (real ones are a few bytes).
constexpr std::size_t k_max_framing_line = 4096;

thread_local bool t_reject = false;

/// Waits up to `wait` for `events` on `sock`; true when ready (or an error to be read).
bool wait_for(socket_t sock, short events, std::chrono::milliseconds wait) {
    pollfd p{sock, events, 0};
    auto ms = static_cast<int>(std::clamp<long long>(wait.count(), 0, 24LL * 3600 * 1000));
    while (true) {
        int n = ::poll(&p, 1, ms);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n > 0;
    }
}

void ip_and_port(const sockaddr_storage& addr, std::string& ip, int& port) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
        ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
        port = ntohs(a.sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
        ::inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
        port = ntohs(a.sin6_port);
    }
    ip = buf;
}

/// A minimal response written by the guard itself (the library never saw a request).
std::string refusal(int status, std::string_view reason, std::string_view code,
                    std::string_view detail) {
    // The one error shape, with a request id of its own (no request reached the router).
    auto body = error_json(code, code, detail, new_request_id());
    return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
                       "Connection: close\r\n{}\r\n{}",
                       status, reason, body.size(), status == 503 ? "Retry-After: 1\r\n" : "",
                       body);
}

} // namespace

/// The socket as the library sees it: buffered reads within the request's deadline, the head
/// counted byte by byte (the library reads it one byte at a time), writes with a timeout, and
/// `Connection: close` noticed in what is written.
class GuardedStream final : public httplib::Stream {
public:
    GuardedStream(socket_t sock, const ConnectionLimits& limits,
                  const std::atomic<std::size_t>& active)
        : m_sock(sock), m_limits(limits), m_active(active) {}

    /// Before each request of the connection.
    void begin_request() {
        m_started = false;
        m_in_head = true;
        m_head_bytes = 0;
        m_head_lines = 0;
        m_tail = 0;
        m_response_head = true;
        m_fault = ConnectionFault::none;
        m_line = 0;
    }

    bool under_pressure() const {
        return m_active.load() * 4 >= m_limits.max_threads * 3 && m_limits.max_threads >= 4;
    }
    /// A response said `Connection: close`, or the guard refused the request.
    bool must_close() const { return m_close || m_swallow || m_refusal; }
    /// The last answer was a 4xx or 5xx, or the guard's own: the client may still be sending.
    bool refused() const { return m_refusal || m_swallow; }
    ConnectionFault fault() const { return m_fault; }
    void limit(std::chrono::milliseconds within) {
        auto until = Clock::now() + within;
        if (!m_started || until < m_deadline) {
            m_started = true;
            m_deadline = until;
        }
    }
    bool has_buffered() const { return m_off < m_len; }

    bool is_readable() const override {
        return m_off < m_len || wait_for(m_sock, POLLIN, read_wait());
    }
    /// write() waits for room itself, within server.write_timeout.
    bool is_writable() const override { return !m_swallow; }

    ssize_t read(char* ptr, std::size_t size) override {
        if (m_swallow) {
            return -1;
        }
        if (!m_started) {
            m_started = true;
            m_deadline = Clock::now() + m_limits.request_timeout;
        }
        if (m_off >= m_len && !fill()) {
            return -1;
        }
        auto n = std::min(size, m_len - m_off);
        if (m_in_head) {
            n = count_head(m_buf + m_off, n);
            if (n == 0) {
                return -1; // refused: the head is too large
            }
        } else if (size == 1) {
            // The library reads chunk-size and trailer lines a byte at a time into a buffer
            // that grows: bound each such line (body data comes in larger reads).
            m_line = m_buf[m_off] == '\n' ? 0 : m_line + 1;
            if (m_line > k_max_framing_line) {
                m_swallow = true;
                return -1;
            }
        }
        std::memcpy(ptr, m_buf + m_off, n);
        m_off += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, std::size_t size) override {
        if (m_swallow) {
            return static_cast<ssize_t>(size); // the guard answered already
        }
        if (m_response_head) {
            std::string_view data(ptr, size);
            auto head = data.substr(0, data.find("\r\n\r\n"));
            // An interim "100 Continue" comes before the response itself.
            m_response_head = head.substr(0, 12) == "HTTP/1.1 100";
            m_close = m_close || says_close(head);
            m_refusal = m_refusal || (head.size() > 12 && head[9] >= '4' && head[9] <= '5');
        }
        return send_some(ptr, size);
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getpeername(m_sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            ip_and_port(addr, ip, port);
        }
    }
    void get_local_ip_and_port(std::string& ip, int& port) const override {
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        if (::getsockname(m_sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            ip_and_port(addr, ip, port);
        }
    }
    socket_t socket() const override { return m_sock; }

    /// Writes the guard's own answer (nothing of the request reaches a handler) and stops
    /// reading and writing for the library.
    void refuse(const std::string& response) {
        if (!m_swallow) {
            send_all(response);
            m_swallow = true;
        }
    }

private:
    std::chrono::milliseconds read_wait() const {
        auto wait = m_limits.read_timeout;
        if (m_in_head && under_pressure()) {
            wait = std::min(wait, k_pressure_read_timeout);
        }
        if (m_started) {
            // Rounded up: a wait that ends before the deadline is a read timeout, not it.
            auto left = std::chrono::ceil<std::chrono::milliseconds>(m_deadline - Clock::now());
            wait = std::min(wait, std::max(left, std::chrono::milliseconds(0)));
        }
        return wait;
    }

    void time_out() {
        m_fault = ConnectionFault::timed_out;
        if (m_in_head) {
            refuse(refusal(408, "Request Timeout", "request_timeout",
                           "the request did not arrive within server.request_timeout"));
        }
    }

    /// Reads what has arrived (one call when bytes are waiting), else waits for it within the
    /// read timeout and the request's deadline.
    bool fill() {
        if (m_started && Clock::now() >= m_deadline) {
            time_out();
            return false;
        }
        while (true) {
            auto n = ::recv(m_sock, m_buf, sizeof m_buf, MSG_DONTWAIT);
            if (n > 0) {
                m_off = 0;
                m_len = static_cast<std::size_t>(n);
                return true;
            }
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                return false; // closed, or an error
            }
            if (errno != EINTR && !wait_for(m_sock, POLLIN, read_wait())) {
                if (m_started && Clock::now() >= m_deadline) {
                    time_out();
                }
                return false;
            }
        }
    }

    /// How many of the `n` head bytes at `p` may be handed on (up to the end of the head);
    /// 0 after refusing the request for a head over the limits.
    std::size_t count_head(const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            ++m_head_bytes;
            m_tail = (m_tail << 8) | static_cast<unsigned char>(p[i]);
            if (p[i] == '\n') {
                ++m_head_lines;
            }
            if ((m_tail & 0xFFFFFFFFu) == 0x0D0A0D0Au) {
                m_in_head = false;
                return i + 1;
            }
            if (m_head_bytes > m_limits.max_header_bytes ||
                m_head_lines > m_limits.max_headers + 1) {
                m_fault = ConnectionFault::head_too_large;
                refuse(refusal(431, "Request Header Fields Too Large", "header_too_large",
                               fmt::format("the request head is over {} bytes or {} header lines "
                                           "(server.max_header_bytes, server.max_headers)",
                                           m_limits.max_header_bytes, m_limits.max_headers)));
                return 0;
            }
        }
        return n;
    }

    static bool says_close(std::string_view head) {
        std::size_t at = 0;
        while ((at = head.find('\n', at)) != std::string_view::npos) {
            ++at;
            auto line = head.substr(at, head.find('\r', at) - at);
            if (util::starts_with_ci(line, "connection:") &&
                util::ascii_lower(util::trim(line.substr(11))) == "close") {
                return true;
            }
        }
        return false;
    }

    /// Sends what the socket takes now, waiting for room at most server.write_timeout in all;
    /// -1 on an error or when the time is up (a client that does not read).
    ssize_t send_some(const char* ptr, std::size_t size) {
        auto until = Clock::now() + m_limits.write_timeout;
        while (true) {
            auto n = ::send(m_sock, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                return n;
            }
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return -1;
            }
            auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
            if (left.count() <= 0 || !wait_for(m_sock, POLLOUT, left)) {
                return -1;
            }
        }
    }

    void send_all(const std::string& data) {
        std::size_t off = 0;
        while (off < data.size()) {
            auto n = send_some(data.data() + off, data.size() - off);
            if (n <= 0) {
                break;
            }
            off += static_cast<std::size_t>(n);
        }
    }

    socket_t m_sock;
    const ConnectionLimits& m_limits;
    const std::atomic<std::size_t>& m_active;
    char m_buf[16384];
    std::size_t m_off = 0;
    std::size_t m_len = 0;
    bool m_started = false;
    Clock::time_point m_deadline{};
    bool m_in_head = true;
    std::size_t m_head_bytes = 0;
    std::size_t m_head_lines = 0;
    std::uint32_t m_tail = 0;
    bool m_response_head = true;
    std::size_t m_line = 0; ///< bytes of the current framing line after the head
    bool m_close = false;
    bool m_refusal = false;
    bool m_swallow = false;
    ConnectionFault m_fault = ConnectionFault::none;
};

namespace {
thread_local GuardedStream* t_current = nullptr;
}

ConnectionFault current_connection_fault() {
    return t_current != nullptr ? t_current->fault() : ConnectionFault::none;
}

void limit_current_request(std::chrono::milliseconds within) {
    if (t_current != nullptr) {
        t_current->limit(within);
    }
}

GuardedServer::RejectScope::RejectScope() {
    t_reject = true;
}

GuardedServer::RejectScope::~RejectScope() {
    t_reject = false;
}

GuardedServer::GuardedServer(std::function<ConnectionLimits()> limits)
    : m_limits(std::move(limits)) {}

bool GuardedServer::process_and_close_socket(socket_t sock) {
    auto limits = m_limits();
    if (t_reject || m_active.fetch_add(1) >= limits.max_connections) {
        if (!t_reject) {
            --m_active;
        }
        ++m_refused;
        // Fast and without reading: whoever sent a request gets a clear answer at once.
        auto answer =
            refusal(503, "Service Unavailable", "busy", "too many connections; retry in a second");
        [[maybe_unused]] auto n =
            ::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return false;
    }
    bool refused = serve(sock, limits);
    if (refused) {
        linger(sock, limits);
    }
    --m_active;
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return true;
}

void GuardedServer::linger(socket_t sock, const ConnectionLimits& limits) const {
    if (m_active.load() * 4 >= limits.max_threads * 3 && limits.max_threads >= 4) {
        return; // under pressure the worker is worth more than a polite close
    }
    ::shutdown(sock, SHUT_WR);
    auto until = Clock::now() + k_linger;
    std::uint64_t dropped = 0;
    char buf[16384];
    while (dropped < limits.linger_bytes && Clock::now() < until &&
           wait_for(sock, POLLIN,
                    std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()))) {
        auto n = ::recv(sock, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        dropped += static_cast<std::uint64_t>(n);
    }
}

bool GuardedServer::serve(socket_t sock, const ConnectionLimits& limits) {
    GuardedStream stream(sock, limits, m_active);
    t_current = &stream;
    bool refused = false;
    for (std::size_t count = limits.keep_alive_max_count; count > 0; --count) {
        // Wait for the next request (the first one too), in slices so that rising pressure is
        // noticed. Under pressure an idle keep-alive connection is closed
        // at once and a new one gets k_pressure_read_timeout to start its request.
        bool first = count == limits.keep_alive_max_count;
        auto started = Clock::now();
        // As the library does, a stopping server is noticed between requests only: a request
        // that arrives on an open connection while the listener closes is still answered
        // (with Connection: close), never cut off.
        if (svr_sock_ == INVALID_SOCKET) {
            break;
        }
        bool ready = stream.has_buffered();
        while (!ready) {
            auto wait = first ? std::max(limits.keep_alive_timeout, k_pressure_read_timeout)
                              : limits.keep_alive_timeout;
            if (stream.under_pressure()) {
                wait =
                    first ? std::min(wait, k_pressure_read_timeout) : std::chrono::milliseconds(0);
            }
            if (Clock::now() - started >= wait) {
                break;
            }
            ready = wait_for(sock, POLLIN, std::chrono::milliseconds(50));
        }
        if (!ready) {
            break;
        }
        stream.begin_request();
        bool closed = false;
        bool last = count == 1 || svr_sock_ == INVALID_SOCKET;
        bool ok = process_request(stream, last, closed, nullptr);
        if (!ok || closed || stream.must_close() || last) {
            refused = stream.must_close() && stream.refused();
            break;
        }
    }
    t_current = nullptr;
    return refused;
}

} // namespace dataflow::service

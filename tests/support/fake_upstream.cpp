#include "support/fake_upstream.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

namespace dataflow::test {

namespace {

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string gzip(const std::string& in) {
    z_stream zs{};
    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, in.size()) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

std::string reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

std::string header(const RecordedRequest& req, const std::string& name) {
    auto it = req.headers.find(name);
    return it == req.headers.end() ? std::string() : it->second;
}

/// Whether a conditional request matches the response's validators (If-None-Match first).
bool unchanged(const RecordedRequest& req, const FakeResponse& response) {
    if (req.headers.count("if-none-match") > 0) {
        return !response.etag.empty() && header(req, "if-none-match") == response.etag;
    }
    return !response.last_modified.empty() &&
           header(req, "if-modified-since") == response.last_modified;
}

/// Eurostat's refusal: a path segment "all" with references= other than "none".
bool references_on_all(const std::string& target) {
    auto q = target.find('?');
    std::string path = target.substr(0, q);
    std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    bool all = false;
    for (std::size_t at = 0; at <= path.size();) {
        auto end = std::min(path.find('/', at), path.size());
        all = all || path.compare(at, end - at, "all") == 0;
        at = end + 1;
    }
    for (std::size_t at = 0; all && at <= query.size();) {
        auto end = std::min(query.find('&', at), query.size());
        auto param = query.substr(at, end - at);
        if (param.rfind("references=", 0) == 0 && param != "references=none") {
            return true;
        }
        at = end + 1;
    }
    return false;
}

const char* const k_references_on_all_error =
    R"(<?xml version="1.0"?><message:Error xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"><message:ErrorMessage code="140"><common:Text>Syntax error: references are not supported for the 'all' resource; use references=none</common:Text></message:ErrorMessage></message:Error>)";

} // namespace

FakeUpstream::FakeUpstream() {
    m_listen = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(m_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(m_listen, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(m_listen, 64) != 0) {
        throw std::runtime_error("fake upstream: cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof addr;
    ::getsockname(m_listen, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
    if (::pipe2(m_wake, O_CLOEXEC) != 0) {
        throw std::runtime_error("fake upstream: pipe failed");
    }
    m_acceptor = std::thread([this] { accept_loop(); });
}

FakeUpstream::~FakeUpstream() {
    m_stop = true;
    [[maybe_unused]] auto n = ::write(m_wake[1], "x", 1);
    m_acceptor.join();
    {
        std::lock_guard lock(m_mutex);
        for (int fd : m_open) {
            ::shutdown(fd, SHUT_RDWR);
        }
    }
    for (auto& t : m_workers) {
        t.join();
    }
    ::close(m_listen);
    ::close(m_wake[0]);
    ::close(m_wake[1]);
}

std::string FakeUpstream::base() const {
    return "http://127.0.0.1:" + std::to_string(m_port) + "/rest";
}

void FakeUpstream::route(const std::string& path, FakeResponse response) {
    std::lock_guard lock(m_mutex);
    m_routes[path] = std::move(response);
}

void FakeUpstream::set_faults(const Faults& faults) {
    std::lock_guard lock(m_mutex);
    m_faults = faults;
}

std::vector<RecordedRequest> FakeUpstream::requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
}

std::size_t FakeUpstream::request_count() const {
    std::lock_guard lock(m_mutex);
    return m_requests.size();
}

std::size_t FakeUpstream::not_modified_count() const {
    std::lock_guard lock(m_mutex);
    return m_not_modified;
}

int FakeUpstream::max_concurrent() const {
    std::lock_guard lock(m_mutex);
    return m_max_active;
}

void FakeUpstream::clear_requests() {
    std::lock_guard lock(m_mutex);
    m_requests.clear();
}

void FakeUpstream::accept_loop() {
    while (!m_stop) {
        pollfd fds[2] = {{m_listen, POLLIN, 0}, {m_wake[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) <= 0 || m_stop) {
            continue;
        }
        int fd = ::accept4(m_listen, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::lock_guard lock(m_mutex);
        m_open.push_back(fd);
        m_workers.emplace_back([this, fd] { handle(fd); });
    }
}

void FakeUpstream::handle(int fd) {
    bool counted = false; // in m_active
    auto done = [&] {
        std::lock_guard lock(m_mutex);
        if (counted) {
            --m_active;
        }
        m_open.erase(std::remove(m_open.begin(), m_open.end(), fd), m_open.end());
        ::close(fd);
    };
    // Read the request head.
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            done();
            return;
        }
        head.append(buf, static_cast<std::size_t>(n));
    }
    RecordedRequest req;
    req.at = std::chrono::steady_clock::now();
    auto line_end = head.find("\r\n");
    auto line = head.substr(0, line_end);
    auto sp1 = line.find(' ');
    auto sp2 = line.find(' ', sp1 + 1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t pos = line_end + 2;
    while (pos < head.size()) {
        auto eol = head.find("\r\n", pos);
        if (eol == std::string::npos || eol == pos) {
            break;
        }
        auto h = head.substr(pos, eol - pos);
        auto colon = h.find(':');
        if (colon != std::string::npos) {
            std::string name = h.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(),
                           [](char c) { return static_cast<char>(std::tolower(c)); });
            auto value = h.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            req.headers[name] = value;
        }
        pos = eol + 2;
    }
    Faults f;
    FakeResponse response;
    {
        std::lock_guard lock(m_mutex);
        m_requests.push_back(req);
        counted = true;
        m_max_active = std::max(m_max_active, ++m_active);
        f = m_faults;
        if (m_faults.fail_next > 0) {
            --m_faults.fail_next;
        } else {
            f.fail_next = 0;
        }
        auto path = req.target.substr(0, req.target.find('?'));
        auto it = m_routes.find(path);
        if (it == m_routes.end()) {
            // A route ending in '*' serves every path that starts with what precedes it.
            for (auto r = m_routes.begin(); r != m_routes.end(); ++r) {
                const auto& key = r->first;
                if (!key.empty() && key.back() == '*' &&
                    path.compare(0, key.size() - 1, key, 0, key.size() - 1) == 0) {
                    it = r;
                }
            }
        }
        if (it != m_routes.end()) {
            response = it->second;
        } else {
            response.status = 404;
            response.body =
                R"(<?xml version="1.0"?><message:Error xmlns:message="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message" xmlns:common="http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common"><message:ErrorMessage code="100"><common:Text>No Results Found</common:Text></message:ErrorMessage></message:Error>)";
        }
        if (f.reject_references_on_all && references_on_all(req.target)) {
            response = FakeResponse{400, k_references_on_all_error, "application/xml", {}, {}};
        }
        if (f.fail_next == 0 && response.status == 200) {
            if (unchanged(req, response)) {
                ++m_not_modified;
                response.status = 304;
                response.body.clear();
                response.generator = nullptr;
            }
            if (!response.etag.empty()) {
                response.headers.emplace_back("ETag", response.etag);
            }
            if (!response.last_modified.empty()) {
                response.headers.emplace_back("Last-Modified", response.last_modified);
            }
        }
    }
    auto wait = [&](std::chrono::milliseconds d) {
        auto until = std::chrono::steady_clock::now() + d;
        while (!m_stop && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    };
    if (f.hang) {
        while (!m_stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        done();
        return;
    }
    wait(f.latency);
    if (f.reset) {
        linger l{1, 0}; // RST on close
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        done();
        return;
    }
    if (f.fail_next > 0) {
        response = FakeResponse{};
        response.status = f.fail_status;
        response.body = "<html><body>failure injected</body></html>";
        response.content_type = "text/html";
        if (!f.fail_retry_after.empty()) {
            response.headers.emplace_back("Retry-After", f.fail_retry_after);
        }
    }
    std::string body = response.body;
    bool gzipped = f.gzip && !response.generator && response.status != 304; // 304: no body
    if (gzipped) {
        body = gzip(body);
    }
    std::string out =
        "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) + "\r\n";
    out += "Content-Type: " + (f.content_type.empty() ? response.content_type : f.content_type) +
           "\r\n";
    out += "Connection: close\r\n";
    if (gzipped) {
        out += "Content-Encoding: gzip\r\n";
    }
    for (const auto& [k, v] : response.headers) {
        out += k + ": " + v + "\r\n";
    }
    if (!f.close_delimited && !response.generator) {
        out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    out += "\r\n";
    if (!send_all(fd, out)) {
        done();
        return;
    }
    if (response.generator) {
        response.generator([&](std::string_view chunk) { return !m_stop && send_all(fd, chunk); });
        done();
        return;
    }
    std::string_view rest(body);
    if (f.truncate_at) {
        rest = rest.substr(0, std::min(*f.truncate_at, rest.size()));
    }
    if (f.drip_interval.count() > 0 && f.drip_bytes > 0) {
        while (!rest.empty() && !m_stop) {
            auto piece = rest.substr(0, f.drip_bytes);
            if (!send_all(fd, piece)) {
                break;
            }
            rest.remove_prefix(piece.size());
            wait(f.drip_interval);
        }
    } else {
        send_all(fd, rest);
    }
    ::shutdown(fd, SHUT_WR);
    // Let the client read everything before the socket closes.
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    done();
}

} // namespace dataflow::test

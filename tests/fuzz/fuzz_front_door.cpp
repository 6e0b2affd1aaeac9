// libFuzzer target: the front door, bytes as a client would send them on one connection. The
// input is written to one end of a socketpair and the other end is served as an accepted
// connection by GuardedServer + Router: the head guard (bytes, lines, 431), the early refusals
// (a body where no route reads one, an unknown Content-Encoding), keep-alive, chunked and
// compressed bodies read through Body with a cap. Never a crash or a hang; a handler never
// sees more body bytes than its cap; whatever is answered is HTTP/1.1.
#include "config/config.hpp"
#include "config/reload.hpp"
#include "service/connection.hpp"
#include "service/metrics.hpp"
#include "service/router.hpp"
#include "util/clock.hpp"

#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace dataflow;
using namespace dataflow::service;

constexpr std::uint64_t k_body_cap = 512;

struct FrontDoor {
    config::ConfigStore store{std::make_shared<const config::Config>()};
    Registry registry;
    Family& requests = registry.counter("fuzz_requests_total", "r", {"route", "method", "code"});
    Family& duration = registry.histogram("fuzz_duration_seconds", "d", {"route"}, http_buckets());
    std::atomic<bool> draining{false};
    std::atomic<int> in_flight{0};
    std::atomic<long long> progress{0};
    Router router{RouterParts{store, util::SystemClock::instance(), requests, duration, draining,
                              in_flight, progress}};
    GuardedServer server{[] {
        ConnectionLimits l;
        l.max_header_bytes = 1024;
        l.max_headers = 10;
        l.request_timeout = std::chrono::milliseconds(500);
        l.read_timeout = std::chrono::milliseconds(50);
        l.write_timeout = std::chrono::milliseconds(50);
        l.keep_alive_timeout = std::chrono::milliseconds(0);
        l.keep_alive_max_count = 4;
        return l;
    }};

    FrontDoor() {
        spdlog::set_level(spdlog::level::off);
        router.probe("/health/live", [](Request&) { return Reply::text("ok\n"); });
        router.post(
            "/body", Scope::none,
            [](Request& req) {
                auto body = req.body->read(k_body_cap, "the cap");
                if (body.size() > k_body_cap) {
                    __builtin_trap();
                }
                return Reply::text(std::to_string(body.size()) + "\n");
            },
            true);
        router.post(
            "/form", Scope::none,
            [](Request& req) {
                std::uint64_t total = 0;
                for (const auto& part : req.body->read_multipart(k_body_cap, "the cap")) {
                    total += part.content.size();
                }
                if (total > k_body_cap) {
                    __builtin_trap();
                }
                return Reply::text(std::to_string(total) + "\n");
            },
            true);
        router.post("/nobody", Scope::none, [](Request&) { return Reply::text("done\n"); });
        router.install(server);
        // The connection loop runs while the server has a listening socket.
        server.bind_to_any_port("127.0.0.1");
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static FrontDoor door;
    int fds[2];
    if (size > 64 * 1024 || ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        return 0;
    }
    // The whole request fits the socket buffer; then the client stops sending.
    std::size_t off = 0;
    while (off < size) {
        auto n = ::send(fds[0], data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        off += static_cast<std::size_t>(n);
    }
    ::shutdown(fds[0], SHUT_WR);
    door.server.serve_socket(fds[1]); // closes fds[1]
    std::string answer;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fds[0], buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        answer.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (!answer.empty() && answer.compare(0, 9, "HTTP/1.1 ") != 0) {
        __builtin_trap();
    }
    return 0;
}

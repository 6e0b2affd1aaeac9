// `dataflow health`: an exec probe and a diagnostic. Exits 0 when healthy, 1 otherwise —
// nothing else (Docker's HEALTHCHECK reserves 2). Built into the HTTP module
// (util/http_module.hpp); its options are http_args.cpp's.

#include "commands.hpp"
#include "util/http_module.hpp"
#include "util/json_writer.hpp"
#include "util/units.hpp"
#include "util/url.hpp"

#include <cstdio>
#include <functional>
#include <httplib.h>

namespace dataflow::cli {

namespace {

/// One compact JSON object on stdout.
void print_json(const std::function<void(util::JsonWriter&)>& write) {
    std::string out;
    util::JsonWriter w(out);
    w.begin_object();
    write(w);
    w.end_object();
    std::printf("%s\n", out.c_str());
}

} // namespace

int run_health(const HealthArgs& args, const config::Config& config) {
    // The probes are served on the metrics port (their own listener) unless it is 0.
    const auto& server = config.settings().server;
    auto base = args.url.empty() ? "http://127.0.0.1:" + std::to_string(server.metrics_port != 0
                                                                            ? server.metrics_port
                                                                            : server.port)
                                 : args.url;
    auto parsed = util::parse_url(base);
    auto timeout = util::parse_duration_ms(args.timeout);
    if (!parsed.url || !timeout) {
        std::fprintf(stderr, "dataflow: error: %s\n",
                     !parsed.url ? ("--url " + parsed.error).c_str()
                                 : "--timeout is not a duration (e.g. 2s, 500ms)");
        return 1;
    }
    std::string path = args.probe == "status" ? "/health/status" : "/health/" + args.probe;
    if (args.probe == "status" && args.output == "text") {
        path += "?verbose";
    } else if (args.probe != "status") {
        path += "?verbose";
    }
    httplib::Client client(parsed.url->origin());
    auto t = std::chrono::milliseconds(*timeout);
    client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
    client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(t));
    client.set_tcp_nodelay(true);
    auto prefix = parsed.url->target == "/" ? std::string() : parsed.url->target;
    auto res = client.Get((prefix + path).c_str());
    if (!res) {
        if (args.output == "json") {
            print_json([&](util::JsonWriter& w) {
                w.field("healthy", false);
                w.field("error", httplib::to_string(res.error()));
            });
        } else {
            std::printf("%s: unreachable at %s (%s)\n", args.probe.c_str(), base.c_str(),
                        httplib::to_string(res.error()).c_str());
        }
        return 1;
    }
    bool healthy = res->status == 200;
    if (args.output == "json" && args.probe == "status") {
        std::fwrite(res->body.data(), 1, res->body.size(), stdout);
    } else if (args.output == "json") {
        print_json([&](util::JsonWriter& w) {
            w.field("probe", args.probe);
            w.field("healthy", healthy);
            w.field("status", res->status);
        });
    } else {
        std::fwrite(res->body.data(), 1, res->body.size(), stdout);
    }
    std::fflush(stdout);
    return healthy ? 0 : 1;
}

namespace {

[[maybe_unused]] const bool g_registered =
    util::register_http_function("cli.health", reinterpret_cast<util::AnyFunction>(&run_health));

} // namespace

} // namespace dataflow::cli

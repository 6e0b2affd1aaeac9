#include "support/serve.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace dataflow::test {

ServeProcess::ServeProcess(std::vector<std::string> env, std::vector<std::string> args) {
    fs::create_directories(config_dir());
    fs::create_directories(secrets_dir());
    std::vector<std::string> base = {
        "DATAFLOW_CONFIG_DIR=" + config_dir().string(),
        "DATAFLOW_SECRETS_DIR=" + secrets_dir().string(),
        // Never the real upstream: probes go to a closed loopback port.
        "DATAFLOW_UPSTREAM_BASE_URL=http://127.0.0.1:1/rest",
        "DATAFLOW_SERVER_DRAIN_DELAY=300ms",
        "DATAFLOW_LOG_FORMAT=json",
    };
    base = merge_env(base, env);
    std::vector<std::string> argv = {DATAFLOW_BIN, "serve", "--port", "0", "--host", "127.0.0.1"};
    if (std::find(args.begin(), args.end(), "--metrics-port") == args.end()) {
        argv.push_back("--metrics-port");
        argv.push_back("0");
    }
    if (std::find(args.begin(), args.end(), "--no-catalog") == args.end()) {
        argv.push_back("--catalog");
        argv.push_back(bundled_catalog());
    }
    for (const auto& a : args) {
        if (a != "--no-catalog") {
            argv.push_back(a);
        }
    }
    process = std::make_unique<Process>(argv, base);
    bool listening = process->wait_for_err("listening on", 20s);
    INFO(process->err());
    REQUIRE(listening);
    auto err = process->err();
    auto at = err.find("listening on http://127.0.0.1:");
    port = std::stoi(err.substr(at + 30));
}

httplib::Client ServeProcess::client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(std::chrono::seconds(30));
    return c;
}

} // namespace dataflow::test

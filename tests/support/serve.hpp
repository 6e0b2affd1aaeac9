#pragma once
/// A `dataflow serve` child process on loopback ports with its own temp config and secrets
/// directories, for end-to-end, bad-input, cluster and fault tests.

#include "support/process.hpp"
#include "support/support.hpp"

#include <filesystem>
#include <httplib.h>
#include <memory>
#include <string>
#include <vector>

namespace dataflow::test {

struct ServeProcess {
    TempDir dir;
    std::unique_ptr<Process> process;
    int port = 0;

    /// `env`: "NAME=value" entries over the defaults (upstream at a closed loopback port, short
    /// drain, JSON logs). `args`: extra serve arguments; "--no-catalog" leaves out the bundled
    /// `--catalog`; "--metrics-port" given replaces the default 0.
    explicit ServeProcess(std::vector<std::string> env = {}, std::vector<std::string> args = {});

    std::filesystem::path config_dir() const { return dir.path() / "cfg"; }
    std::filesystem::path secrets_dir() const { return dir.path() / "secrets"; }
    httplib::Client client() const;
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

} // namespace dataflow::test

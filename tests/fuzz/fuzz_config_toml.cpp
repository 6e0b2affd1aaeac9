// libFuzzer target: the configuration loader on an arbitrary --config file. Bad files must
// become findings (FILE:LINE:COL), never an exception or a crash.
#include "config/loader.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::string path =
        "/tmp/dataflow-fuzz-config-" + std::to_string(getpid()) + ".toml";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        return 0;
    }
    std::fwrite(data, 1, size, f);
    std::fclose(f);
    dataflow::config::LoadOptions options;
    options.config_file = path;
    options.default_config_dir = "/nonexistent";
    options.default_secrets_dir = "/nonexistent";
    auto result = dataflow::config::load(options);
    if (!result.config) {
        __builtin_trap(); // load() always returns a configuration
    }
    for (const auto& finding : result.findings) {
        (void)finding.text(false);
    }
    return 0;
}

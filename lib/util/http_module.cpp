#include "util/http_module.hpp"

#include "util/error.hpp"

#include <fmt/format.h>

#include <dlfcn.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <string_view>
#include <unistd.h>

#ifndef DATAFLOW_HTTP_MODULE_RELPATH
#define DATAFLOW_HTTP_MODULE_RELPATH "../lib/dataflow/dataflow-http.so"
#endif

namespace dataflow::util {

namespace {

struct Registry {
    std::mutex mutex;
    std::map<std::string, AnyFunction, std::less<>> functions;
};

Registry& registry() {
    static auto* r = new Registry; // used by static initialisers; never destroyed
    return *r;
}

AnyFunction find(std::string_view name) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.functions.find(name);
    return it == r.functions.end() ? nullptr : it->second;
}

/// The directory of the running binary (with its trailing '/'), or "" when unknown.
std::string binary_dir() {
    std::string path(4096, '\0');
    auto n = ::readlink("/proc/self/exe", path.data(), path.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= path.size()) {
        return {};
    }
    path.resize(static_cast<std::size_t>(n));
    return path.substr(0, path.rfind('/') + 1);
}

std::once_flag g_load_once;
std::string g_load_error; ///< written once, under g_load_once

void load() {
    auto path = http_module_path();
    if (path.empty()) { // never a path relative to the working directory
        g_load_error = "cannot load the HTTP module: the binary's own path is unknown "
                       "(/proc/self/exe cannot be read; is /proc mounted?)";
        return;
    }
    // RTLD_NOW: a module that does not match the binary fails here, not at its first call.
    if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) == nullptr) {
        const char* error = ::dlerror();
        std::string_view why = error != nullptr ? error : "unknown error";
        if (why.starts_with(path + ": ")) { // dlerror() names the file first
            why.remove_prefix(path.size() + 2);
        }
        g_load_error = fmt::format("cannot load the HTTP module {} ({}): the installation is "
                                   "incomplete; install the binary with its module (cmake "
                                   "--install) or use the container image",
                                   path, why);
    }
}

} // namespace

bool register_http_function(const char* name, AnyFunction function) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.functions.emplace(name, function);
    return true;
}

std::string http_module_path() {
    auto dir = binary_dir();
    if (dir.empty()) {
        return {};
    }
    return std::filesystem::path(dir + DATAFLOW_HTTP_MODULE_RELPATH).lexically_normal().string();
}

AnyFunction http_function(const char* name) {
    if (auto f = find(name)) {
        return f;
    }
    std::call_once(g_load_once, load); // the module's initialisers register (no lock held)
    if (auto f = find(name)) {
        return f;
    }
    throw Error(ErrorKind::config,
                !g_load_error.empty()
                    ? g_load_error
                    : fmt::format("the HTTP module {} has no function '{}': it does not match "
                                  "this binary; install both from the same build",
                                  http_module_path(), name));
}

bool http_module_present() {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    return !r.functions.empty();
}

} // namespace dataflow::util

#pragma once
/// The HTTP module: the code that needs cpp-httplib and OpenSSL (the service, the upstream
/// client's wire exchange, `dataflow health`) is built as a shared object the binary loads the
/// first time it needs one of its functions, so that a command without HTTP (`analyze FILE`,
/// `config`, `cache`, `diff`) does not load and relocate cpp-httplib, libssl, libcrypto and
/// brotli: 2.1 ms of a 13 ms `analyze` (bench/README). Its files register their functions by
/// name when they are loaded; the test programs link them in and load nothing.

#include <string>

namespace dataflow::util {

using AnyFunction = void (*)();

/// Called by the module's files as they are loaded (a static initialiser each).
bool register_http_function(const char* name, AnyFunction function);

/// The module's function `name`, loading the module on first use: `dataflow-http.so` at the
/// path built in relative to the binary (util/http_module.cpp). Throws util::Error (config:
/// the installation is incomplete) naming the file and what failed.
AnyFunction http_function(const char* name);

template <class F>
F http_function_as(const char* name) {
    return reinterpret_cast<F>(http_function(name));
}

/// Whether the module is in this process (loaded, or linked in): for tests.
bool http_module_present();

/// Where the binary looks for the module: an absolute path, or "" when the binary's own path
/// is unknown (then it loads none).
std::string http_module_path();

} // namespace dataflow::util

#pragma once
/// A Lua script run by its SHA1 (EVALSHA): loaded with SCRIPT LOAD on first use, and again when
/// Redis answers NOSCRIPT (a restart or SCRIPT FLUSH lost its script cache); if the cache is lost
/// again between the load and the call, the source itself is sent (EVAL). In a cluster each node
/// has its own script cache: the script is loaded on the node serving KEYS[1]. Thread-safe: one
/// Script is shared by every thread of its owner (the SHA behind a mutex).

#include "redis/client.hpp"

#include <mutex>
#include <string>
#include <vector>

namespace dataflow::redis {

class Script {
public:
    explicit Script(std::string source);

    /// EVALSHA with `keys` and `args` through `redis`. Throws Error when Redis is unreachable or
    /// the script cannot be loaded; an error reply of the script comes back as a value of type
    /// error.
    Value run(Client& redis, const std::vector<std::string>& keys,
              const std::vector<std::string>& args);

private:
    /// EVALSHA `script` (a SHA1) or EVAL `script` (the source).
    static Value eval(Client& redis, const char* command, const std::string& script,
                      const std::vector<std::string>& keys, const std::vector<std::string>& args);

    std::string m_source;
    std::mutex m_mutex;
    std::string m_sha; ///< empty until loaded
};

} // namespace dataflow::redis

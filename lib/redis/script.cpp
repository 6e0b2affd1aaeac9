#include "redis/script.hpp"

namespace dataflow::redis {

Script::Script(std::string source) : m_source(std::move(source)) {}

Value Script::evalsha(Pool& pool, const std::string& sha, const std::vector<std::string>& keys,
                      const std::vector<std::string>& args) {
    std::vector<std::string> cmd{"EVALSHA", sha, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return pool.command(cmd);
}

Value Script::run(Pool& pool, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args) {
    std::string sha;
    {
        std::lock_guard lock(m_mutex);
        sha = m_sha;
    }
    if (!sha.empty()) {
        auto v = evalsha(pool, sha, keys, args);
        if (!(v.is_error() && v.str.rfind("NOSCRIPT", 0) == 0)) {
            return v;
        }
    }
    // Load once (and again after a Redis restart lost the script cache).
    auto loaded = pool.command({"SCRIPT", "LOAD", m_source});
    if (loaded.type != Value::Type::string) {
        throw Error("Redis " + pool.endpoint() + ": SCRIPT LOAD failed: " + loaded.str);
    }
    {
        std::lock_guard lock(m_mutex);
        m_sha = loaded.str;
    }
    return evalsha(pool, loaded.str, keys, args);
}

} // namespace dataflow::redis

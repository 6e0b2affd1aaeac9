#include "redis/script.hpp"

namespace dataflow::redis {

namespace {

bool is_noscript(const Value& v) {
    return v.is_error() && v.str.rfind("NOSCRIPT", 0) == 0;
}

} // namespace

Script::Script(std::string source) : m_source(std::move(source)) {}

Value Script::eval(Client& redis, const char* command, const std::string& script,
                   const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    std::vector<std::string> cmd{command, script, std::to_string(keys.size())};
    cmd.insert(cmd.end(), keys.begin(), keys.end());
    cmd.insert(cmd.end(), args.begin(), args.end());
    return redis.command(cmd);
}

Value Script::run(Client& redis, const std::vector<std::string>& keys,
                  const std::vector<std::string>& args) {
    std::string sha;
    {
        std::lock_guard lock(m_mutex);
        sha = m_sha;
    }
    if (!sha.empty()) {
        auto v = eval(redis, "EVALSHA", sha, keys, args);
        if (!is_noscript(v)) {
            return v;
        }
    }
    // Load once (and again after a Redis restart lost the script cache).
    std::vector<std::string> load{"SCRIPT", "LOAD", m_source};
    auto loaded = keys.empty() ? redis.command(load) : redis.command_for(keys.front(), load);
    if (loaded.type != Value::Type::string) {
        throw Error("Redis " + redis.endpoint() + ": SCRIPT LOAD failed: " + loaded.str);
    }
    {
        std::lock_guard lock(m_mutex);
        m_sha = loaded.str;
    }
    auto v = eval(redis, "EVALSHA", loaded.str, keys, args);
    if (!is_noscript(v)) {
        return v;
    }
    // Lost again between the load and the call: the source cannot be missing.
    return eval(redis, "EVAL", m_source, keys, args);
}

} // namespace dataflow::redis

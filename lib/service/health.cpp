#include "service/health.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

namespace dataflow::service {

std::string_view to_string(CheckState state) {
    switch (state) {
    case CheckState::ok:
        return "ok";
    case CheckState::degraded:
        return "degraded";
    case CheckState::failed:
        return "failed";
    }
    return "?";
}

void HealthChecks::add(const std::string& name, bool required, Check check) {
    std::lock_guard lock(m_mutex);
    m_checks.push_back({name, required, std::move(check)});
}

std::vector<CheckResult> HealthChecks::run(const std::set<std::string>& exclude) const {
    std::vector<Entry> checks;
    {
        std::lock_guard lock(m_mutex);
        checks = m_checks;
    }
    std::vector<CheckResult> out;
    for (const auto& c : checks) {
        if (exclude.count(c.name) != 0) {
            continue;
        }
        auto start = std::chrono::steady_clock::now();
        CheckResult r;
        try {
            r = c.check();
        } catch (const std::exception& e) {
            r.state = CheckState::failed;
            r.message = e.what();
        }
        r.name = c.name;
        r.required = c.required;
        r.latency_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        out.push_back(std::move(r));
    }
    return out;
}

bool passing(const std::vector<CheckResult>& results) {
    for (const auto& r : results) {
        if (r.required && r.state == CheckState::failed) {
            return false;
        }
    }
    return true;
}

std::string overall(const std::vector<CheckResult>& results) {
    if (!passing(results)) {
        return "unhealthy";
    }
    for (const auto& r : results) {
        if (r.state != CheckState::ok) {
            return "degraded";
        }
    }
    return "healthy";
}

std::string verbose_text(const std::vector<CheckResult>& results, const std::string& probe) {
    std::string out;
    for (const auto& r : results) {
        out += fmt::format("[{}]{} {}", r.state == CheckState::ok ? "+" : "-", r.name,
                           to_string(r.state));
        if (!r.message.empty()) {
            out += ": " + r.message;
        }
        out += "\n";
    }
    out += fmt::format("{} check {}\n", probe, passing(results) ? "passed" : "failed");
    return out;
}

namespace {

std::uint64_t read_number(const std::string& path) {
    std::ifstream in(path);
    std::string text;
    if (!(in >> text) || text == "max") {
        return 0;
    }
    return std::strtoull(text.c_str(), nullptr, 10);
}

} // namespace

CgroupMemory cgroup_memory() {
    CgroupMemory m;
    m.usage = read_number("/sys/fs/cgroup/memory.current");
    m.limit = read_number("/sys/fs/cgroup/memory.max");
    if (m.usage == 0) { // cgroup v1
        m.usage = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
        m.limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    }
    if (m.limit > (1ULL << 60)) { // v1 "unlimited"
        m.limit = 0;
    }
    return m;
}

double cgroup_cpus() {
    std::ifstream in("/sys/fs/cgroup/cpu.max");
    std::string quota;
    double period = 0;
    if (in >> quota >> period && quota != "max" && period > 0) {
        return std::strtod(quota.c_str(), nullptr) / period;
    }
    return 0;
}

} // namespace dataflow::service

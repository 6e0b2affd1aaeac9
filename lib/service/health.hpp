#pragma once
/// Health checks in the kube-apiserver style: named checks, each ok / degraded / failed with a
/// message and its latency; the HTTP status is the contract, `?verbose` prints "[+]name ok"
/// lines, `?exclude=name` skips a check.

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace dataflow::service {

enum class CheckState { ok, degraded, failed };
std::string_view to_string(CheckState state);

struct CheckResult {
    std::string name;
    CheckState state = CheckState::ok;
    std::string message;
    double latency_ms = 0;
    bool required = false; ///< readiness fails when this check fails
};

class HealthChecks {
public:
    using Check = std::function<CheckResult()>;
    /// `required`: failing makes the service unready; otherwise it is only degraded.
    void add(const std::string& name, bool required, Check check);
    std::vector<CheckResult> run(const std::set<std::string>& exclude = {}) const;

private:
    struct Entry {
        std::string name;
        bool required;
        Check check;
    };
    mutable std::mutex m_mutex;
    std::vector<Entry> m_checks;
};

/// True when no required check failed.
bool passing(const std::vector<CheckResult>& results);
/// "degraded" when something optional failed or is degraded, "healthy", or "unhealthy".
std::string overall(const std::vector<CheckResult>& results);
/// "[+]config ok\n[-]redis failed: ...\nreadyz check passed\n"
std::string verbose_text(const std::vector<CheckResult>& results, const std::string& probe);

/// Memory usage and limit of this container (cgroup v2 memory.current / memory.max, or v1),
/// 0 when unknown or unlimited.
struct CgroupMemory {
    std::uint64_t usage = 0;
    std::uint64_t limit = 0;
};
CgroupMemory cgroup_memory();
/// CPUs this container may use (cgroup cpu.max quota / period), or 0 when unlimited.
double cgroup_cpus();

} // namespace dataflow::service

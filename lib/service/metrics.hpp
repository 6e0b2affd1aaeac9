#pragma once
/// A small Prometheus metrics registry: counters, gauges and histograms with labels, plus
/// collectors for values read at scrape time (process_*, breaker states, ...). Exposition in the
/// text format 0.0.4. One registry per process (the one global besides the logger).

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dataflow::service {

using Labels = std::vector<std::string>; ///< values, in the family's label order

class Family {
public:
    enum class Type { counter, gauge, histogram };
    Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
           std::vector<double> buckets = {});

    /// Counters and gauges.
    void inc(const Labels& labels, double delta = 1.0);
    void set(const Labels& labels, double value);
    /// Histograms.
    void observe(const Labels& labels, double value);
    /// Removes every series (gauges rebuilt at scrape time).
    void clear();

    void write(std::string& out) const;
    const std::string& name() const { return m_name; }

private:
    struct Series {
        double value = 0;
        std::vector<std::uint64_t> buckets; ///< histogram: per bucket (not cumulative)
        double sum = 0;
        std::uint64_t count = 0;
    };
    std::string m_name;
    std::string m_help;
    Type m_type;
    std::vector<std::string> m_label_names;
    std::vector<double> m_bounds;
    mutable std::mutex m_mutex;
    std::map<Labels, Series> m_series;
};

class Registry {
public:
    Family& counter(const std::string& name, const std::string& help,
                    std::vector<std::string> labels = {});
    Family& gauge(const std::string& name, const std::string& help,
                  std::vector<std::string> labels = {});
    Family& histogram(const std::string& name, const std::string& help,
                      std::vector<std::string> labels, std::vector<double> buckets);
    /// Called before each exposition (to refresh gauges that mirror other state).
    void on_scrape(std::function<void()> collector);

    /// The whole registry in the Prometheus text format 0.0.4, with process_* metrics.
    std::string expose();

private:
    Family& add(std::unique_ptr<Family> family);
    std::mutex m_mutex;
    std::vector<std::unique_ptr<Family>> m_families;
    std::vector<std::function<void()>> m_collectors;
};

/// Writes the standard process_* metrics (CPU, memory, file descriptors, start time, threads).
void write_process_metrics(std::string& out);

/// Content-Type of the exposition.
inline constexpr const char* k_metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Default latency buckets in seconds (HTTP) and for slow upstream calls (up to 300 s).
std::vector<double> http_buckets();
std::vector<double> upstream_buckets();

} // namespace dataflow::service

#include "service/metrics.hpp"

#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/resource.h>
#include <unistd.h>

namespace dataflow::service {

namespace {

std::string escape_label(const std::string& raw) {
    // Prometheus rejects a whole scrape over one invalid UTF-8 label value.
    std::string v = raw;
    if (util::find_invalid_utf8(v)) {
        for (char& c : v) {
            if (static_cast<unsigned char>(c) >= 0x80) {
                c = '?';
            }
        }
    }
    std::string out;
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string escape_help(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string number(double v) {
    if (std::isinf(v)) {
        return v > 0 ? "+Inf" : "-Inf";
    }
    if (std::isnan(v)) {
        return "NaN";
    }
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        return fmt::format("{}", static_cast<long long>(v));
    }
    return fmt::format("{}", v);
}

std::string label_text(const std::vector<std::string>& names, const Labels& values,
                       const std::string& extra = {}) {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
        out += out.empty() ? "" : ",";
        out += names[i] + "=\"" + escape_label(values[i]) + "\"";
    }
    if (!extra.empty()) {
        out += out.empty() ? "" : ",";
        out += extra;
    }
    return out.empty() ? std::string() : "{" + out + "}";
}

} // namespace

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> buckets)
    : m_name(std::move(name)), m_help(std::move(help)), m_type(type),
      m_label_names(std::move(label_names)), m_bounds(std::move(buckets)) {}

void Family::inc(const Labels& labels, double delta) {
    std::lock_guard lock(m_mutex);
    m_series[labels].value += delta;
}

void Family::set(const Labels& labels, double value) {
    std::lock_guard lock(m_mutex);
    m_series[labels].value = value;
}

void Family::observe(const Labels& labels, double value) {
    std::lock_guard lock(m_mutex);
    auto& s = m_series[labels];
    if (s.buckets.empty()) {
        s.buckets.assign(m_bounds.size(), 0);
    }
    auto it = std::lower_bound(m_bounds.begin(), m_bounds.end(), value);
    if (it != m_bounds.end()) {
        ++s.buckets[static_cast<std::size_t>(it - m_bounds.begin())];
    }
    s.sum += value;
    ++s.count;
}

void Family::clear() {
    std::lock_guard lock(m_mutex);
    m_series.clear();
}

void Family::write(std::string& out) const {
    std::lock_guard lock(m_mutex);
    static constexpr const char* types[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + m_name + " " + escape_help(m_help) + "\n";
    out += "# TYPE " + m_name + " " + types[static_cast<int>(m_type)] + "\n";
    if (m_series.empty() && m_label_names.empty() && m_type != Type::histogram) {
        out += m_name + " 0\n";
        return;
    }
    for (const auto& [labels, s] : m_series) {
        if (m_type != Type::histogram) {
            out += m_name + label_text(m_label_names, labels) + " " + number(s.value) + "\n";
            continue;
        }
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < m_bounds.size(); ++i) {
            cumulative += s.buckets.empty() ? 0 : s.buckets[i];
            out += m_name + "_bucket" +
                   label_text(m_label_names, labels, "le=\"" + number(m_bounds[i]) + "\"") + " " +
                   std::to_string(cumulative) + "\n";
        }
        out += m_name + "_bucket" + label_text(m_label_names, labels, "le=\"+Inf\"") + " " +
               std::to_string(s.count) + "\n";
        out += m_name + "_sum" + label_text(m_label_names, labels) + " " + number(s.sum) + "\n";
        out += m_name + "_count" + label_text(m_label_names, labels) + " " +
               std::to_string(s.count) + "\n";
    }
}

Family& Registry::add(std::unique_ptr<Family> family) {
    std::lock_guard lock(m_mutex);
    for (auto& f : m_families) {
        if (f->name() == family->name()) {
            return *f;
        }
    }
    m_families.push_back(std::move(family));
    return *m_families.back();
}

Family& Registry::counter(const std::string& name, const std::string& help,
                          std::vector<std::string> labels) {
    return add(std::make_unique<Family>(name, help, Family::Type::counter, std::move(labels)));
}

Family& Registry::gauge(const std::string& name, const std::string& help,
                        std::vector<std::string> labels) {
    return add(std::make_unique<Family>(name, help, Family::Type::gauge, std::move(labels)));
}

Family& Registry::histogram(const std::string& name, const std::string& help,
                            std::vector<std::string> labels, std::vector<double> buckets) {
    return add(std::make_unique<Family>(name, help, Family::Type::histogram, std::move(labels),
                                        std::move(buckets)));
}

void Registry::on_scrape(std::function<void()> collector) {
    std::lock_guard lock(m_mutex);
    m_collectors.push_back(std::move(collector));
}

std::string Registry::expose() {
    std::vector<std::function<void()>> collectors;
    {
        std::lock_guard lock(m_mutex);
        collectors = m_collectors;
    }
    for (const auto& c : collectors) {
        c();
    }
    std::string out;
    out.reserve(16384);
    std::lock_guard lock(m_mutex);
    for (const auto& f : m_families) {
        f->write(out);
    }
    write_process_metrics(out);
    return out;
}

std::vector<double> http_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> upstream_buckets() {
    return {0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300};
}

void write_process_metrics(std::string& out) {
    static const long ticks = ::sysconf(_SC_CLK_TCK);
    static const long page = ::sysconf(_SC_PAGESIZE);
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may hold spaces) start after the last ')'.
    auto close = stat.rfind(')');
    std::istringstream rest(close == std::string::npos ? std::string() : stat.substr(close + 2));
    std::vector<std::string> f((std::istream_iterator<std::string>(rest)),
                               std::istream_iterator<std::string>());
    auto field = [&](std::size_t n) -> double { // n: 1-based field number of /proc/pid/stat
        std::size_t i = n - 3;
        return i < f.size() ? std::strtod(f[i].c_str(), nullptr) : 0.0;
    };
    double cpu = (field(14) + field(15)) / static_cast<double>(ticks);
    double threads = field(20);
    double start_ticks = field(22);
    double vsize = field(23);
    double rss = field(24) * static_cast<double>(page);
    double btime = 0;
    std::ifstream proc_stat("/proc/stat");
    for (std::string line; std::getline(proc_stat, line);) {
        if (line.rfind("btime ", 0) == 0) {
            btime = std::strtod(line.c_str() + 6, nullptr);
        }
    }
    std::size_t fds = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++fds;
    }
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    auto metric = [&](const char* name, const char* type, const char* help, double v) {
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name,
                           number(v));
    };
    metric("process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.", cpu);
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vsize);
    metric("process_open_fds", "gauge", "Number of open file descriptors.",
           static_cast<double>(fds));
    metric("process_max_fds", "gauge", "Maximum number of open file descriptors.",
           static_cast<double>(lim.rlim_cur));
    metric("process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.",
           btime + start_ticks / static_cast<double>(ticks));
    metric("process_threads", "gauge", "Number of OS threads in the process.", threads);
}

} // namespace dataflow::service

#include "upstream/source_check.hpp"

#include "upstream/sdmx_rest.hpp"
#include "util/error.hpp"

#include <algorithm>
#include <future>

namespace dataflow::upstream {

namespace {

/// Counts what arrives and stops at the cap (a long list is still a working service).
class CappedSink final : public BodySink {
public:
    explicit CappedSink(std::uint64_t cap) : m_cap(cap) {}
    void begin() override { m_bytes = 0; }
    bool write(std::string_view chunk) override {
        m_bytes += chunk.size();
        return m_bytes < m_cap;
    }

private:
    std::uint64_t m_cap;
    std::uint64_t m_bytes = 0;
};

SourceCheck check_one(Client& client, const config::Source& source, std::uint64_t max_bytes) {
    SourceCheck c;
    c.id = source.id;
    util::Url url;
    try {
        url = check_url(source);
    } catch (const Error& e) {
        c.outcome = Outcome::client_error;
        c.message = e.what();
        return c;
    }
    c.url = url.str();
    CappedSink sink(max_bytes);
    auto r = client.get(url, OpClass::structure, sink, k_structure_accept, max_bytes);
    c.outcome = r.outcome;
    c.status = r.status;
    c.first_byte = r.time_to_first_byte;
    c.total = r.duration;
    c.reachable = r.outcome == Outcome::success || r.outcome == Outcome::not_modified ||
                  (r.outcome == Outcome::too_large && r.status >= 200 && r.status < 300);
    if (!c.reachable) {
        c.message = r.message;
    }
    return c;
}

} // namespace

std::vector<SourceCheck> check_sources(Client& client,
                                       const std::vector<const config::Source*>& sources,
                                       std::uint64_t max_bytes) {
    // At most k_max_parallel at once (a sources file may name a thousand), in the given order.
    constexpr std::size_t k_max_parallel = 16;
    std::vector<SourceCheck> out;
    out.reserve(sources.size());
    for (std::size_t begin = 0; begin < sources.size(); begin += k_max_parallel) {
        auto end = std::min(sources.size(), begin + k_max_parallel);
        std::vector<std::future<SourceCheck>> running;
        for (std::size_t i = begin; i < end; ++i) {
            const auto* s = sources[i];
            running.push_back(std::async(std::launch::async, [&client, s, max_bytes] {
                return check_one(client, *s, max_bytes);
            }));
        }
        for (auto& f : running) {
            out.push_back(f.get());
        }
    }
    return out;
}

} // namespace dataflow::upstream

#pragma once
/// Data-access probes: fetch a dataflow's data through the client and measure what came back
/// (status, outcome, bytes on the wire and decompressed, series, observations, timings), in
/// constant memory whatever the size.

#include "analysis/readiness.hpp"
#include "upstream/client.hpp"

#include <string>

namespace dataflow::upstream {

struct ProbeSettings {
    int last_n_observations = 0; ///< 0: all the data
    std::string detail = "full";
    std::uint64_t max_bytes = 100ULL * 1024 * 1024;
};

class Prober {
public:
    Prober(Client& client, util::Url base, ProbeSettings settings);

    /// Probes one dataflow (ID or AGENCY,ID[,VERSION]); never throws for upstream trouble:
    /// the result says what happened. Throws UsageError for an invalid id.
    analysis::ProbeResult probe(const std::string& flow);
    /// The URL a probe of `flow` fetches (the cache key's input).
    std::string url_for(const std::string& flow) const;
    /// The last response (for exit codes and messages).
    const Response& last_response() const { return m_last; }

private:
    Client& m_client;
    util::Url m_base;
    ProbeSettings m_settings;
    Response m_last;
};

} // namespace dataflow::upstream

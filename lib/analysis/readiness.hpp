#pragma once
/// "Tableau readiness": what a data-access probe found, and what it suggests for a BI tool
/// (connection type, refresh frequency, priority) — the reference service's rules.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dataflow::analysis {

enum class ConnectionType { direct_connection, google_sheets_import, bigquery_extract };
enum class RefreshFrequency { monthly, quarterly, yearly };

std::string_view to_string(ConnectionType c);
std::string_view to_string(RefreshFrequency f);

/// How a probe ended: the upstream call's outcome (upstream::Outcome, same names), or why there
/// was no call. to_string gives the "outcome" text of reports, cache entries, metrics and logs.
enum class ProbeOutcome {
    none, ///< "": no probe result (a default ProbeResult)
    success,
    no_data,
    client_error,
    rate_limited,
    server_error,
    timeout,
    network,
    bad_payload,
    too_large,
    breaker_open,
    cancelled,
    not_requested, ///< the request did not ask for probes; keep last (parse_probe_outcome)
};

std::string_view to_string(ProbeOutcome o);
/// The outcome to_string names `name` ("" included); nullopt for any other text.
std::optional<ProbeOutcome> parse_probe_outcome(std::string_view name);
/// False for failures of ours rather than measurements of the upstream (the request budget,
/// the open breaker, a cancel): such results are not worth caching.
bool worth_caching(ProbeOutcome o);

/// What probing one dataflow's data found (filled by the upstream probe).
struct ProbeResult {
    std::string dataflow_id;
    bool data_access_success = false;
    std::optional<int> status_code;
    std::uint64_t size_bytes = 0;
    std::uint64_t observations_count = 0;
    bool parse_error = false;
    std::optional<std::string> error_message;
    std::string tested_at; ///< UTC RFC 3339
    bool pending = false;  ///< scheduled, not measured yet
    // Measured by the probe beyond the reference fields.
    ProbeOutcome outcome = ProbeOutcome::none;
    std::uint64_t series_count = 0;
    std::uint64_t wire_bytes = 0; ///< as received (compressed)
    double duration_seconds = 0.0;
    double time_to_first_byte_seconds = 0.0;
    bool truncated = false; ///< stopped at the size cap: sizes and counts are lower bounds
    std::string format;     ///< "SDMX-ML 2.1 GenericData", ...
    std::string query;      ///< the URL probed

    double size_mib() const { return static_cast<double>(size_bytes) / (1024.0 * 1024.0); }
    bool is_successful() const { return data_access_success && !parse_error; }
};

struct Readiness {
    bool tableau_ready = false;
    ConnectionType connection = ConnectionType::direct_connection;
    RefreshFrequency refresh = RefreshFrequency::quarterly;
    double priority = 0.0;
};

/// bigquery_extract above 50 MiB, google_sheets_import above 5 MiB, else direct_connection.
ConnectionType suggest_connection(double size_mib);
/// popolazione/lavoro monthly, territorio/istruzione yearly, everything else quarterly.
RefreshFrequency suggest_refresh(std::string_view category);
/// score + min(5, MiB/10) + min(5, observations/1000).
double readiness_priority(int relevance_score, double size_mib, std::uint64_t observations);

Readiness assess_readiness(std::string_view category, int relevance_score,
                           const ProbeResult& probe);

} // namespace dataflow::analysis

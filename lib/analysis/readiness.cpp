#include "analysis/readiness.hpp"

#include <algorithm>

namespace dataflow::analysis {

std::string_view to_string(ConnectionType c) {
    switch (c) {
    case ConnectionType::google_sheets_import:
        return "google_sheets_import";
    case ConnectionType::bigquery_extract:
        return "bigquery_extract";
    case ConnectionType::direct_connection:
        break;
    }
    return "direct_connection";
}

std::string_view to_string(RefreshFrequency f) {
    switch (f) {
    case RefreshFrequency::monthly:
        return "monthly";
    case RefreshFrequency::yearly:
        return "yearly";
    case RefreshFrequency::quarterly:
        break;
    }
    return "quarterly";
}

std::string_view to_string(ProbeOutcome o) {
    switch (o) {
    case ProbeOutcome::none:
        break;
    case ProbeOutcome::success:
        return "success";
    case ProbeOutcome::no_data:
        return "no_data";
    case ProbeOutcome::client_error:
        return "client_error";
    case ProbeOutcome::rate_limited:
        return "rate_limited";
    case ProbeOutcome::server_error:
        return "server_error";
    case ProbeOutcome::timeout:
        return "timeout";
    case ProbeOutcome::network:
        return "network";
    case ProbeOutcome::bad_payload:
        return "bad_payload";
    case ProbeOutcome::too_large:
        return "too_large";
    case ProbeOutcome::breaker_open:
        return "breaker_open";
    case ProbeOutcome::cancelled:
        return "cancelled";
    case ProbeOutcome::not_requested:
        return "not_requested";
    }
    return "";
}

std::optional<ProbeOutcome> parse_probe_outcome(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(ProbeOutcome::not_requested); ++i) {
        auto o = static_cast<ProbeOutcome>(i);
        if (to_string(o) == name) {
            return o;
        }
    }
    return std::nullopt;
}

bool worth_caching(ProbeOutcome o) {
    return o != ProbeOutcome::rate_limited && o != ProbeOutcome::cancelled &&
           o != ProbeOutcome::breaker_open;
}

ConnectionType suggest_connection(double size_mib) {
    if (size_mib > 50.0) {
        return ConnectionType::bigquery_extract;
    }
    if (size_mib > 5.0) {
        return ConnectionType::google_sheets_import;
    }
    return ConnectionType::direct_connection;
}

RefreshFrequency suggest_refresh(std::string_view category) {
    if (category == "popolazione" || category == "lavoro") {
        return RefreshFrequency::monthly;
    }
    if (category == "territorio" || category == "istruzione") {
        return RefreshFrequency::yearly;
    }
    return RefreshFrequency::quarterly;
}

double readiness_priority(int relevance_score, double size_mib, std::uint64_t observations) {
    return static_cast<double>(relevance_score) + std::min(5.0, size_mib / 10.0) +
           std::min(5.0, static_cast<double>(observations) / 1000.0);
}

Readiness assess_readiness(std::string_view category, int relevance_score,
                           const ProbeResult& probe) {
    Readiness r;
    r.tableau_ready = probe.is_successful();
    r.connection = suggest_connection(probe.size_mib());
    r.refresh = suggest_refresh(category);
    r.priority = readiness_priority(relevance_score, probe.size_mib(), probe.observations_count);
    return r;
}

} // namespace dataflow::analysis

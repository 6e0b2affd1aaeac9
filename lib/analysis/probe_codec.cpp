#include "analysis/probe_codec.hpp"

#include <nlohmann/json.hpp>

namespace dataflow::analysis {

std::string probe_to_json(const ProbeResult& p) {
    nlohmann::json j{
        {"dataflow_id", p.dataflow_id},
        {"data_access_success", p.data_access_success},
        {"status_code", p.status_code ? nlohmann::json(*p.status_code) : nullptr},
        {"size_bytes", p.size_bytes},
        {"observations_count", p.observations_count},
        {"parse_error", p.parse_error},
        {"error_message", p.error_message ? nlohmann::json(*p.error_message) : nullptr},
        {"tested_at", p.tested_at},
        {"outcome", std::string(to_string(p.outcome))},
        {"series_count", p.series_count},
        {"wire_bytes", p.wire_bytes},
        {"duration_seconds", p.duration_seconds},
        {"time_to_first_byte_seconds", p.time_to_first_byte_seconds},
        {"truncated", p.truncated},
        {"format", p.format},
        {"query", p.query}};
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<ProbeResult> probe_from_json(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return std::nullopt;
    }
    try {
        ProbeResult p;
        p.dataflow_id = j.at("dataflow_id").get<std::string>();
        p.data_access_success = j.at("data_access_success").get<bool>();
        if (!j.at("status_code").is_null()) {
            p.status_code = j.at("status_code").get<int>();
        }
        p.size_bytes = j.at("size_bytes").get<std::uint64_t>();
        p.observations_count = j.at("observations_count").get<std::uint64_t>();
        p.parse_error = j.at("parse_error").get<bool>();
        if (!j.at("error_message").is_null()) {
            p.error_message = j.at("error_message").get<std::string>();
        }
        p.tested_at = j.at("tested_at").get<std::string>();
        auto outcome = parse_probe_outcome(j.at("outcome").get<std::string>());
        if (!outcome) {
            return std::nullopt;
        }
        p.outcome = *outcome;
        p.series_count = j.at("series_count").get<std::uint64_t>();
        p.wire_bytes = j.at("wire_bytes").get<std::uint64_t>();
        p.duration_seconds = j.at("duration_seconds").get<double>();
        p.time_to_first_byte_seconds = j.at("time_to_first_byte_seconds").get<double>();
        p.truncated = j.at("truncated").get<bool>();
        p.format = j.at("format").get<std::string>();
        p.query = j.at("query").get<std::string>();
        return p;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

} // namespace dataflow::analysis

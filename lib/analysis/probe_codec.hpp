#pragma once
/// Probe results as JSON, for the cache (shared between replicas and runs).

#include "analysis/readiness.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace dataflow::analysis {

std::string probe_to_json(const ProbeResult& probe);
/// nullopt for anything that is not a probe result written by probe_to_json.
std::optional<ProbeResult> probe_from_json(std::string_view json);

} // namespace dataflow::analysis

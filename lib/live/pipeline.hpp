#pragma once
/// The analysis of a live catalogue, the same for the CLI (`analyze --probe N`) and the
/// service (include_tests): rank, probe the best, analyse again with what the probes found;
/// and the categoriser a configuration asks for, built once and shared.

#include "analysis/categorizer.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "config/config.hpp"
#include "sdmx/catalog.hpp"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dataflow::live {

/// Probe results for `ids` (measured, cached or pending: the caller decides how).
using ProbeFn = std::function<analysis::ProbeResults(const std::vector<std::string>& ids)>;

/// Ranks the catalogue without only_ready, asks `probe` for the `probe_count` best
/// (analysis::top_ids), then analyses with those results and the caller's only_ready.
/// probe_count 0: one analysis, `probe` is not called.
analysis::Report analyze_with_probes(const sdmx::Catalog& catalog,
                                     const analysis::Categorizer& categorizer,
                                     const analysis::AnalysisOptions& options,
                                     std::size_t probe_count, const ProbeFn& probe);

/// The categoriser for a configuration (its rules, or `rules_override` — `analyze --rules` —,
/// analysis.match and analysis.languages). Building one compiles the rules into an automaton
/// (about a millisecond and a few MiB for the default rules), so it is built once per rules
/// fingerprint, match mode and languages and shared (categorize() is const, thread-safe).
std::shared_ptr<const analysis::Categorizer>
categorizer_for(const config::Config& config,
                std::shared_ptr<const analysis::RuleSet> rules_override = nullptr);

} // namespace dataflow::live

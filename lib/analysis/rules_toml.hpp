#pragma once
/// Rule sets from an already parsed TOML document (for configuration files that embed
/// `[[analysis.rules]]`). Internal: includes toml++.

#include "analysis/rules.hpp"

#include <toml++/toml.h>

namespace dataflow::analysis {

/// Builds a rule set from an array of rule tables. Throws LocatedError (FILE:LINE:COL) for an
/// invalid rule, an empty set or a set whose rules are all inactive. `table_name` is the
/// array's name in the document ("rules", "analysis.rules"), for messages.
std::shared_ptr<const RuleSet>
rules_from_toml(const toml::node& rules, std::string_view source_name, std::string_view table_name);

/// The same, with agency-category mappings from `agency_categories` (an array of tables; may be
/// null), named `mapping_table_name` in messages. Throws LocatedError for an invalid mapping:
/// an unknown key, a missing or malformed `scheme` ("AGENCY:ID"), `category` or `topic`, a
/// topic that is neither a rule category nor the fallback, a mapping given twice.
std::shared_ptr<const RuleSet> rules_from_toml(const toml::node& rules,
                                               const toml::node* agency_categories,
                                               std::string_view source_name,
                                               std::string_view table_name,
                                               std::string_view mapping_table_name);

} // namespace dataflow::analysis

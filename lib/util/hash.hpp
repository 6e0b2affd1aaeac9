#pragma once
/// Content hashes that are stable across processes, hosts and versions.

#include <string>
#include <string_view>

namespace dataflow::util {

/// SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

} // namespace dataflow::util

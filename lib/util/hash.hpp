#pragma once
/// Content hashes that are stable across processes, hosts and versions.

#include <string>
#include <string_view>

namespace dataflow::util {

/// SHA-256 of `data` as 64 lower-case hex digits.
std::string sha256_hex(std::string_view data);

/// A SHA-256 for large inputs (32 bytes into `out`). sha256_hex() uses its own code until one is
/// installed: the HTTP module installs OpenSSL's (util/hash_openssl.cpp) when it is loaded, so
/// that the binary does not load libcrypto for a command without HTTP.
using Sha256 = void (*)(std::string_view data, unsigned char* out);
void use_sha256(Sha256 digest);

} // namespace dataflow::util

// OpenSSL's SHA-256 for large inputs, installed into util::sha256_hex() when the HTTP module
// (util/http_module.hpp), which links libcrypto, is loaded.

#include "util/hash.hpp"

#include <openssl/evp.h>
#include <stdexcept>

namespace dataflow::util {

namespace {

void openssl_sha256(std::string_view data, unsigned char* out) {
    unsigned int length = 32;
    if (EVP_Digest(data.data(), data.size(), out, &length, EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("SHA-256 failed");
    }
}

[[maybe_unused]] const bool g_installed = (use_sha256(&openssl_sha256), true);

} // namespace

} // namespace dataflow::util

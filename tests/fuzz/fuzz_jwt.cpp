// libFuzzer target: the Authorization header check (HS256 JWT and static tokens). It never
// throws and accepts nothing but a token signed with the secret.
#include "service/auth.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string header(reinterpret_cast<const char*>(data), size);
    dataflow::service::AuthSettings jwt;
    jwt.mode = dataflow::service::AuthMode::jwt;
    jwt.jwt_secret = "fuzz-secret-0123456789abcdef0123456789";
    auto r = dataflow::service::authenticate(jwt, header, 1'800'000'000);
    if (r.authenticated) {
        // Only a correctly signed token may pass: check the signature independently.
        auto token = header.substr(header.find(' ') + 1);
        auto dot = token.rfind('.');
        if (dot == std::string::npos ||
            dataflow::service::hs256_sign(jwt.jwt_secret, token.substr(0, dot)) !=
                token.substr(dot + 1)) {
            __builtin_trap();
        }
    }
    dataflow::service::AuthSettings tokens;
    tokens.mode = dataflow::service::AuthMode::token;
    tokens.read_tokens = {"read-token-0123456789"};
    tokens.admin_tokens = {"admin-token-0123456789"};
    auto t = dataflow::service::authenticate(tokens, header, 1'800'000'000);
    if (t.authenticated && header.find("-token-0123456789") == std::string::npos) {
        __builtin_trap();
    }
    return 0;
}

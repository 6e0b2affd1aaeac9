#pragma once
/// Request authentication: static bearer tokens (compared in constant time) or HS256 JWTs with
/// expiry, issuer, audience and space-separated scopes (the reference platform's tokens).

#include "config/settings.hpp"

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dataflow::service {

/// auth.mode: none, token or jwt.
using config::AuthMode;

/// How far past exp (or before nbf) a JWT is still accepted: clocks drift.
inline constexpr std::chrono::seconds k_jwt_leeway{60};

struct AuthResult {
    bool authenticated = false;
    std::set<std::string> scopes;
    std::string subject;
    std::string error; ///< why not (for the 401 body; never echoes the token)
};

/// Checks an Authorization header value ("Bearer ...") at `now` (Unix seconds) against the
/// auth.* settings of a configuration snapshot:
/// `authenticate(config->settings().auth, header, now)`. auth.tokens have the read scope,
/// auth.admin_tokens read, write and admin.
AuthResult authenticate(const config::AuthSettings& settings, std::string_view authorization,
                        std::int64_t now, std::chrono::seconds leeway = k_jwt_leeway);

/// The same settings under their earlier names (read_tokens is auth.tokens), for code that
/// still fills them in itself; config::AuthSettings is the one to use.
struct AuthSettings {
    AuthMode mode = AuthMode::none;
    std::vector<std::string> read_tokens;  ///< scope read
    std::vector<std::string> admin_tokens; ///< scopes read, write, admin
    std::string jwt_secret;
    std::string jwt_issuer = "osservatorio-istat";
    std::string jwt_audience = "osservatorio-api";
    std::chrono::seconds leeway = k_jwt_leeway;
};

AuthResult authenticate(const AuthSettings& settings, std::string_view authorization,
                        std::int64_t now);

/// Base64url without padding, and HS256 signing (for tests and tools).
std::string base64url_encode(std::string_view data);
std::string hs256_sign(std::string_view secret, std::string_view data);

} // namespace dataflow::service

#include "service/auth.hpp"

#include "util/strings.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <optional>

namespace dataflow::service {

namespace {

std::string sha256(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), len);
}

/// Constant time whatever the lengths: compares digests.
bool equal_secret(std::string_view a, std::string_view b) {
    auto da = sha256(a);
    auto db = sha256(b);
    return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::optional<std::string> base64url_decode(std::string_view in) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned int buffer = 0;
    int bits = 0;
    for (char c : in) {
        auto v = alphabet.find(c);
        if (v == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<unsigned int>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return out;
}

AuthResult fail(std::string why) {
    AuthResult r;
    r.error = std::move(why);
    return r;
}

/// Either spelling of the settings, without copying the tokens.
struct AuthView {
    AuthMode mode;
    const std::vector<std::string>& read_tokens;
    const std::vector<std::string>& admin_tokens;
    std::string_view jwt_secret;
    std::string_view jwt_issuer;
    std::string_view jwt_audience;
    std::chrono::seconds leeway;
};

AuthResult check(const AuthView& s, std::string_view authorization, std::int64_t now);
AuthResult check_static_token(const AuthView& s, std::string_view token);
AuthResult check_jwt(const AuthView& s, std::string_view token, std::int64_t now);

} // namespace

std::string base64url_encode(std::string_view data) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned int buffer = 0;
    int bits = 0;
    for (unsigned char c : data) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[(buffer >> bits) & 0x3F];
        }
    }
    if (bits > 0) {
        out += alphabet[(buffer << (6 - bits)) & 0x3F];
    }
    return out;
}

std::string hs256_sign(std::string_view secret, std::string_view data) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
    return base64url_encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

AuthResult authenticate(const config::AuthSettings& settings, std::string_view authorization,
                        std::int64_t now, std::chrono::seconds leeway) {
    return check({settings.mode, settings.tokens, settings.admin_tokens, settings.jwt_secret,
                  settings.jwt_issuer, settings.jwt_audience, leeway},
                 authorization, now);
}

AuthResult authenticate(const AuthSettings& settings, std::string_view authorization,
                        std::int64_t now) {
    return check({settings.mode, settings.read_tokens, settings.admin_tokens, settings.jwt_secret,
                  settings.jwt_issuer, settings.jwt_audience, settings.leeway},
                 authorization, now);
}

namespace {

AuthResult check(const AuthView& s, std::string_view authorization, std::int64_t now) {
    if (s.mode == AuthMode::none) {
        AuthResult r;
        r.authenticated = true;
        r.scopes = {"read", "write", "admin"};
        return r;
    }
    constexpr std::string_view bearer = "Bearer ";
    // `scheme` followed by a space or the end of the header, in any case.
    auto has_scheme = [&authorization](std::string_view scheme) {
        return util::starts_with_ci(authorization, scheme) &&
               (authorization.size() == scheme.size() || authorization[scheme.size()] == ' ');
    };
    if (authorization.empty()) {
        return fail("missing bearer token (Authorization: Bearer <token>)");
    }
    if (!has_scheme("Bearer")) {
        // Names the scheme only when it is a well-known one: what precedes the first space of
        // an unknown header may be the credential itself.
        for (std::string_view scheme :
             {"Basic", "Digest", "Negotiate", "NTLM", "HOBA", "Mutual", "SCRAM-SHA-1",
              "SCRAM-SHA-256", "vapid", "AWS4-HMAC-SHA256", "Token", "ApiKey"}) {
            if (has_scheme(scheme)) {
                return fail("the Authorization header uses the " + std::string(scheme) +
                            " scheme, not a bearer token; send Authorization: Bearer <token>");
            }
        }
        return fail("the Authorization header is not a bearer token; send Authorization: "
                    "Bearer <token>");
    }
    if (authorization.find_first_not_of(' ', bearer.size() - 1) == std::string_view::npos) {
        return fail("empty bearer token (Authorization: Bearer <token>)");
    }
    auto token = authorization.substr(bearer.size());
    if (token.size() > 8192) {
        return fail("the token is too long");
    }
    return s.mode == AuthMode::token ? check_static_token(s, token) : check_jwt(s, token, now);
}

AuthResult check_static_token(const AuthView& s, std::string_view token) {
    // Compare with every configured token: the time does not depend on which matched.
    bool admin = false;
    bool read = false;
    for (const auto& t : s.admin_tokens) {
        admin = equal_secret(token, t) || admin;
    }
    for (const auto& t : s.read_tokens) {
        read = equal_secret(token, t) || read;
    }
    if (!admin && !read) {
        return fail("invalid token: it is none of the configured read or admin tokens");
    }
    AuthResult r;
    r.authenticated = true;
    r.scopes =
        admin ? std::set<std::string>{"read", "write", "admin"} : std::set<std::string>{"read"};
    r.subject = admin ? "admin-token" : "read-token";
    return r;
}

/// An HS256 JWT: signature, expiry (with leeway), not-before, issuer, audience, scopes.
AuthResult check_jwt(const AuthView& s, std::string_view token, std::int64_t now) {
    auto dot1 = token.find('.');
    auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return fail("malformed token (not a JWT)");
    }
    auto header_b64 = token.substr(0, dot1);
    auto payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
    auto signature = token.substr(dot2 + 1);
    auto header_json = base64url_decode(header_b64);
    auto payload_json = base64url_decode(payload_b64);
    if (!header_json || !payload_json) {
        return fail("malformed token (bad base64url)");
    }
    auto header = nlohmann::json::parse(*header_json, nullptr, false);
    auto string_claim = [](const nlohmann::json& j, const char* name) {
        return j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : std::string();
    };
    if (header.is_discarded() || !header.is_object() || string_claim(header, "alg") != "HS256") {
        return fail("unsupported token algorithm (HS256 only)");
    }
    auto expected = hs256_sign(s.jwt_secret, token.substr(0, dot2));
    if (expected.size() != signature.size() ||
        CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
        return fail("invalid token signature");
    }
    auto claims = nlohmann::json::parse(*payload_json, nullptr, false);
    if (claims.is_discarded() || !claims.is_object()) {
        return fail("malformed token claims");
    }
    auto leeway = s.leeway.count();
    if (!claims.contains("exp") || !claims["exp"].is_number()) {
        return fail("the token has no expiry (exp)");
    }
    if (claims["exp"].get<double>() + static_cast<double>(leeway) < static_cast<double>(now)) {
        return fail("the token has expired");
    }
    if (claims.contains("nbf") && claims["nbf"].is_number() &&
        claims["nbf"].get<double>() - static_cast<double>(leeway) > static_cast<double>(now)) {
        return fail("the token is not valid yet (nbf)");
    }
    if (!s.jwt_issuer.empty() && string_claim(claims, "iss") != s.jwt_issuer) {
        return fail("wrong token issuer");
    }
    if (!s.jwt_audience.empty()) {
        bool ok = false;
        if (claims.contains("aud") && claims["aud"].is_string()) {
            ok = claims["aud"].get<std::string>() == s.jwt_audience;
        } else if (claims.contains("aud") && claims["aud"].is_array()) {
            for (const auto& a : claims["aud"]) {
                ok = ok || (a.is_string() && a.get<std::string>() == s.jwt_audience);
            }
        }
        if (!ok) {
            return fail("wrong token audience");
        }
    }
    AuthResult r;
    r.authenticated = true;
    if (claims.contains("scope") && claims["scope"].is_string()) {
        std::string scope = claims["scope"].get<std::string>();
        std::size_t start = 0;
        while (start < scope.size()) {
            auto end = scope.find(' ', start);
            auto item = scope.substr(start, end - start);
            if (!item.empty()) {
                r.scopes.insert(item);
            }
            if (end == std::string::npos) {
                break;
            }
            start = end + 1;
        }
    }
    if (r.scopes.count("admin") != 0) {
        r.scopes.insert({"read", "write"});
    }
    r.subject = string_claim(claims, "sub");
    return r;
}

} // namespace

} // namespace dataflow::service

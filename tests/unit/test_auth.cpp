// Request authentication in isolation: static tokens and HS256 JWTs (lib/service/auth), the
// messages a 401 carries, and that no message echoes a credential. The HTTP side (401/403,
// WWW-Authenticate, scopes per route) is tested end to end in tests/e2e/test_serve.cpp. The
// settings are a configuration snapshot's (config::AuthSettings, the schema's defaults here);
// a reload's new auth.* values are tested in test_settings.cpp.

#include "config/config.hpp"
#include "service/auth.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

using namespace dataflow::service;

namespace {

constexpr std::int64_t k_now = 1'800'000'000;
const std::string k_secret = "unit-jwt-secret-0123456789abcdef0123456789";

/// The auth.* settings of a default configuration (issuer and audience as the schema says).
dataflow::config::AuthSettings defaults() {
    return dataflow::config::Config().settings().auth;
}

dataflow::config::AuthSettings tokens() {
    auto s = defaults();
    s.mode = AuthMode::token;
    s.tokens = {"read-token-aaaaaaaaaaaaaaaa"};
    s.admin_tokens = {"admin-token-bbbbbbbbbbbbbbbb"};
    return s;
}

dataflow::config::AuthSettings jwt() {
    auto s = defaults();
    s.mode = AuthMode::jwt;
    s.jwt_secret = k_secret;
    return s;
}

/// A signed HS256 token with these claims (header alg overridable).
std::string make_jwt(const nlohmann::json& claims, const std::string& secret = k_secret,
                     const std::string& alg = "HS256") {
    auto head = base64url_encode(nlohmann::json{{"alg", alg}, {"typ", "JWT"}}.dump());
    auto body = base64url_encode(claims.dump());
    auto signing_input = head;
    signing_input += '.';
    signing_input += body;
    auto token = signing_input;
    token += '.';
    token += hs256_sign(secret, signing_input);
    return token;
}

nlohmann::json good_claims() {
    return {{"sub", "analyst"},
            {"iss", "osservatorio-istat"},
            {"aud", "osservatorio-api"},
            {"exp", k_now + 3600},
            {"scope", "read write"}};
}

std::string bearer(const std::string& token) {
    std::string h = "Bearer ";
    h += token;
    return h;
}

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

} // namespace

TEST_SUITE("auth") {
    TEST_CASE("mode none lets everything through with every scope") {
        auto r = authenticate(defaults(), "", k_now);
        CHECK(r.authenticated);
        CHECK(r.scopes == std::set<std::string>{"read", "write", "admin"});
    }

    TEST_CASE("static tokens: read and admin scopes, and what a 401 says") {
        auto s = tokens();
        auto read = authenticate(s, bearer("read-token-aaaaaaaaaaaaaaaa"), k_now);
        CHECK(read.authenticated);
        CHECK(read.scopes == std::set<std::string>{"read"});
        CHECK(read.subject == "read-token");
        auto admin = authenticate(s, bearer("admin-token-bbbbbbbbbbbbbbbb"), k_now);
        CHECK(admin.authenticated);
        CHECK(admin.scopes == std::set<std::string>{"read", "write", "admin"});
        // The scheme is case-insensitive (RFC 7235).
        CHECK(authenticate(s, "bearer read-token-aaaaaaaaaaaaaaaa", k_now).authenticated);

        auto missing = authenticate(s, "", k_now);
        CHECK_FALSE(missing.authenticated);
        CHECK(has(missing.error, "missing bearer token"));
        auto basic = authenticate(s, "Basic dXNlcjpwYXNz", k_now);
        CHECK(has(basic.error, "uses the Basic scheme, not a bearer token"));
        CHECK_FALSE(has(basic.error, "dXNlcjpwYXNz"));
        // An unknown scheme is not named: it may be the credential itself.
        auto raw = authenticate(s, "s3cr3t-raw-credential more", k_now);
        CHECK(has(raw.error, "is not a bearer token"));
        CHECK_FALSE(has(raw.error, "s3cr3t"));
        CHECK(has(authenticate(s, "Bearer", k_now).error, "empty bearer token"));
        CHECK(has(authenticate(s, "Bearer   ", k_now).error, "empty bearer token"));
        auto wrong = authenticate(s, bearer("read-token-aaaaaaaaaaaaaaaX"), k_now);
        CHECK_FALSE(wrong.authenticated);
        CHECK(has(wrong.error, "invalid token"));
        CHECK_FALSE(has(wrong.error, "aaaaaaaa"));
        // A prefix of a configured token is not that token.
        CHECK_FALSE(authenticate(s, bearer("read-token-aaaa"), k_now).authenticated);
        CHECK(has(authenticate(s, bearer(std::string(9000, 'x')), k_now).error, "too long"));
    }

    TEST_CASE("JWT: a valid HS256 token gives its subject and scopes") {
        auto r = authenticate(jwt(), bearer(make_jwt(good_claims())), k_now);
        CHECK(r.authenticated);
        CHECK(r.subject == "analyst");
        CHECK(r.scopes == std::set<std::string>{"read", "write"});
        // admin implies read and write; an audience list is accepted when it holds ours.
        auto claims = good_claims();
        claims["scope"] = "admin";
        claims["aud"] = {"other", "osservatorio-api"};
        auto a = authenticate(jwt(), bearer(make_jwt(claims)), k_now);
        CHECK(a.authenticated);
        CHECK(a.scopes == std::set<std::string>{"read", "write", "admin"});
    }

    TEST_CASE("JWT: every refusal says why") {
        auto s = jwt();
        auto refuse = [&](const std::string& token) {
            auto r = authenticate(s, bearer(token), k_now);
            CHECK_FALSE(r.authenticated);
            return r.error;
        };
        CHECK(has(refuse("not-a-jwt"), "malformed token (not a JWT)"));
        CHECK(has(refuse("a.b.c.d"), "malformed token (not a JWT)"));
        CHECK(has(refuse("!!!.###.sig"), "bad base64url"));
        CHECK(has(refuse(make_jwt(good_claims(), k_secret, "none")), "HS256 only"));
        CHECK(has(refuse(make_jwt(good_claims(), "another-secret")), "invalid token signature"));
        auto claims = good_claims();
        claims.erase("exp");
        CHECK(has(refuse(make_jwt(claims)), "no expiry (exp)"));
        claims = good_claims();
        claims["exp"] = k_now - 61; // beyond the 60 s leeway
        CHECK(has(refuse(make_jwt(claims)), "has expired"));
        claims["exp"] = k_now - 59; // within it
        CHECK(authenticate(s, bearer(make_jwt(claims)), k_now).authenticated);
        claims = good_claims();
        claims["nbf"] = k_now + 120;
        CHECK(has(refuse(make_jwt(claims)), "not valid yet (nbf)"));
        claims = good_claims();
        claims["iss"] = "someone-else";
        CHECK(has(refuse(make_jwt(claims)), "wrong token issuer"));
        claims = good_claims();
        claims["aud"] = 42; // not a string: refused, not an exception
        CHECK(has(refuse(make_jwt(claims)), "wrong token audience"));
        // A payload that is not an object is refused even when signed.
        auto head = base64url_encode(R"({"alg":"HS256"})");
        auto body = base64url_encode("[1,2]");
        auto input = head + "." + body;
        CHECK(has(refuse(input + "." + hs256_sign(k_secret, input)), "malformed token claims"));
    }

    TEST_CASE("JWT: the leeway argument bounds how late an expired token is accepted") {
        auto claims = good_claims();
        claims["exp"] = k_now - 100;
        auto token = bearer(make_jwt(claims));
        CHECK_FALSE(authenticate(jwt(), token, k_now).authenticated); // default 60 s
        CHECK(authenticate(jwt(), token, k_now, std::chrono::seconds(120)).authenticated);
    }

    TEST_CASE("service::AuthSettings (read_tokens, leeway) authenticates like the config's") {
        AuthSettings legacy;
        legacy.mode = AuthMode::token;
        legacy.read_tokens = {"read-token-aaaaaaaaaaaaaaaa"};
        CHECK(authenticate(legacy, bearer("read-token-aaaaaaaaaaaaaaaa"), k_now).scopes ==
              std::set<std::string>{"read"});
        CHECK_FALSE(
            authenticate(legacy, bearer("admin-token-bbbbbbbbbbbbbbbb"), k_now).authenticated);
        AuthSettings signed_by;
        signed_by.mode = AuthMode::jwt;
        signed_by.jwt_secret = k_secret;
        auto claims = good_claims();
        claims["exp"] = k_now - 100;
        CHECK_FALSE(authenticate(signed_by, bearer(make_jwt(claims)), k_now).authenticated);
        signed_by.leeway = std::chrono::seconds(120);
        CHECK(authenticate(signed_by, bearer(make_jwt(claims)), k_now).authenticated);
    }

    TEST_CASE("base64url without padding and HS256 test vectors") {
        CHECK(base64url_encode("") == "");
        CHECK(base64url_encode("f") == "Zg");
        CHECK(base64url_encode("fo") == "Zm8");
        CHECK(base64url_encode("foo") == "Zm9v");
        CHECK(base64url_encode("\xfb\xff") == "-_8"); // url alphabet, no '+', '/' or '='
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        CHECK(hs256_sign("Jefe", "what do ya want for nothing?") ==
              "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM");
    }
}

#pragma once
// A throw-away TLS identity for tests: a self-signed certificate for 127.0.0.1 / localhost,
// written as PEM files into a directory.

#include <string>

namespace dataflow::test {

struct TlsFiles {
    std::string cert; ///< PEM certificate (also usable as the CA bundle)
    std::string key;  ///< PEM private key
};

/// Generates an RSA key and a self-signed certificate (SAN IP:127.0.0.1, DNS:localhost).
TlsFiles make_self_signed(const std::string& dir);

} // namespace dataflow::test

#pragma once
/// HTTP(S) URLs: parsing with the checks a client needs (scheme, host, port; no credentials),
/// and resolving a redirect's Location against the URL it came from.

#include <optional>
#include <string>
#include <string_view>

namespace dataflow::util {

struct Url {
    std::string scheme; ///< "http" or "https"
    std::string host;   ///< lower-case; IPv6 without brackets
    int port = 0;       ///< explicit or the scheme's default
    std::string target; ///< path and query, starting with '/'

    /// "https://host[:port]" (port only when not the default), for httplib::Client.
    std::string origin() const;
    std::string str() const { return origin() + target; }
    bool https() const { return scheme == "https"; }
};

struct UrlResult {
    std::optional<Url> url;
    std::string error; ///< why it is not a usable URL
};

/// Parses an absolute http:// or https:// URL. `allow_query`: a query string may follow.
UrlResult parse_url(std::string_view text, bool allow_query = true);

/// Resolves a Location header (absolute, or relative to `base`).
UrlResult resolve_url(const Url& base, std::string_view location);

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters stay).
std::string percent_encode(std::string_view text);

} // namespace dataflow::util

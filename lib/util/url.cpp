#include "util/url.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace dataflow::util {

// Built by appending to one string: prepending a literal to a temporary (`":" + s`,
// `s.insert(0, "/")`) makes GCC 12 at -O3 report a false -Wrestrict overlap in the inlined
// memcpy (GCC bug 105329), which the Release build (-Werror) turned into an error.
std::string Url::origin() const {
    bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
    std::string out;
    out.reserve(scheme.size() + host.size() + 11); // "://", "[]", ":65535"
    out.append(scheme).append("://");
    if (host.find(':') != std::string::npos) {
        out.append(1, '[').append(host).append(1, ']');
    } else {
        out.append(host);
    }
    if (!default_port) {
        out.append(1, ':').append(std::to_string(port));
    }
    return out;
}

namespace {

bool host_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

} // namespace

UrlResult parse_url(std::string_view s, bool allow_query) {
    UrlResult r;
    Url u;
    std::string_view rest;
    if (starts_with_ci(s, "https://")) {
        u.scheme = "https";
        u.port = 443;
        rest = s.substr(8);
    } else if (starts_with_ci(s, "http://")) {
        u.scheme = "http";
        u.port = 80;
        rest = s.substr(7);
    } else {
        r.error = "must be an http:// or https:// URL";
        return r;
    }
    for (char c : s) {
        auto b = static_cast<unsigned char>(c);
        if (b <= 0x20 || b >= 0x7F || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}') {
            r.error = "contains a space or a character not allowed in a URL";
            return r;
        }
    }
    if (rest.find('#') != std::string_view::npos) {
        r.error = "must not have a fragment (#...)";
        return r;
    }
    auto end = rest.find_first_of("/?");
    auto authority = rest.substr(0, end);
    if (end == std::string_view::npos) {
        u.target.assign(1, '/'); // assigning the literal "/" trips the same false warning
    } else {
        if (rest[end] == '?') {
            u.target.reserve(rest.size() - end + 1);
            u.target.append(1, '/'); // a query right after the host: the path is "/"
        }
        u.target.append(rest.substr(end));
    }
    if (!allow_query && u.target.find('?') != std::string::npos) {
        r.error = "must not have a query (paths and parameters are appended to it)";
        return r;
    }
    if (authority.find('@') != std::string_view::npos) {
        r.error = "must not contain credentials (user:password@)";
        return r;
    }
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) {
            r.error = "has an unterminated IPv6 address";
            return r;
        }
        host = authority.substr(1, close - 1);
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                r.error = "has a malformed host";
                return r;
            }
            port = after.substr(1);
        }
        if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
                return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
            })) {
            r.error = "has an invalid IPv6 address";
            return r;
        }
    } else {
        auto colon = authority.find(':');
        if (colon != std::string_view::npos) {
            host = authority.substr(0, colon);
            port = authority.substr(colon + 1);
        }
        if (host.empty() || host.size() > 253 ||
            !std::all_of(host.begin(), host.end(), host_char)) {
            r.error = "has no valid host name";
            return r;
        }
    }
    if (!port.empty() || authority.find(':') == authority.size() - 1) {
        int p = 0;
        auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 1 ||
            p > 65535) {
            r.error = "has an invalid port";
            return r;
        }
        u.port = p;
    }
    u.host = ascii_lower(host);
    r.url = std::move(u);
    return r;
}

UrlResult resolve_url(const Url& base, std::string_view location) {
    if (location.substr(0, 7) == "http://" || location.substr(0, 8) == "https://" ||
        location.substr(0, 7) == "HTTP://" || location.substr(0, 8) == "HTTPS://") {
        return parse_url(location);
    }
    if (location.substr(0, 2) == "//") {
        std::string url = base.scheme;
        url.append(1, ':').append(location);
        return parse_url(url);
    }
    std::string url = base.origin();
    if (location.empty() || location.front() != '/') {
        // relative: replaces the last segment of the base path (its query dropped)
        std::string_view path = base.target;
        path = path.substr(0, path.find('?'));
        url.append(path.substr(0, path.rfind('/') + 1));
    }
    url.append(location);
    return parse_url(url);
}

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
    return out;
}

} // namespace dataflow::util

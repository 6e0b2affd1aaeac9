// The bad-input corpus (tests/bad-inputs/cases.json): every case is a bad SDMX document, HTTP
// body, header, multipart upload, query parameter, TOML file, environment value or command
// line, with the outcome it must get — an exit code or HTTP status and the message that says
// what is wrong. Run in the normal and the ASan/UBSan builds, so a case that crashes, leaks or
// hits undefined behaviour fails here.
//
// A case's "expect":
//   CLI  (kind "cli"):  "exit": N, and "stderr" and/or "stdout": a fragment or a list of
//        fragments that must all appear in that stream.
//   HTTP (kind "http"): "status": N. An error (status >= 400) names its JSON envelope's
//        "error_code" and/or "error_type" (compared exactly) and "detail": fragment(s) of the
//        envelope's "detail" field. Any case may add "body" (fragments of the raw body),
//        "body_equals" (the whole body) and "headers" ({name: ECMAScript regex the response
//        header must match in full}); a success case needs one of "body_equals" or "headers".
//
// A fragment must identify the failure: "expectations identify their failure" rejects an empty
// or very short fragment, one that merely repeats the case's own name, arguments, file names or
// file contents, environment, path, headers or body, the generic "dataflow: error:" prefix, and
// a bare place — "FILE:LINE:COL", "FILE:" or "KEY:" with nothing after it (a place is fine next
// to a message fragment that says what is wrong there) — and an HTTP error case without
// error_code/error_type and detail. "bad input strength check rejects weak expectations" proves
// the rules on examples of each weakness.

#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <httplib.h>
#include <map>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string k_dir = std::string(DATAFLOW_SOURCE_DIR) + "/tests/bad-inputs";
const std::string k_read_token = "bad-inputs-read-token-0123456789";
const std::string k_admin_token = "bad-inputs-admin-token-0123456789";

/// What every CLI error starts with: a fragment inside it proves only that something failed.
const std::string k_generic_prefix = "dataflow: error: ";
/// Fragments shorter than this say too little to identify a failure.
constexpr std::size_t k_min_fragment = 6;

json load_cases() {
    return json::parse(dataflow::test::read_file(k_dir + "/cases.json"))["cases"];
}

std::string expand(std::string s) {
    const std::string marker = "{files}";
    for (auto at = s.find(marker); at != std::string::npos; at = s.find(marker)) {
        s.replace(at, marker.size(), k_dir + "/files");
    }
    return s;
}

bool has(const std::string& s, const std::string& needle) {
    return s.find(needle) != std::string::npos;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

bool has_nocase(const std::string& s, const std::string& needle) {
    return has(lower(s), lower(needle));
}

/// A fragment field: one string or a list of strings.
std::vector<std::string> fragments(const json& field) {
    if (field.is_string()) {
        return {field.get<std::string>()};
    }
    std::vector<std::string> out;
    for (const auto& f : field) {
        out.push_back(f.get<std::string>());
    }
    return out;
}

// ---------------------------------------------------------------- expectation strength

const std::regex& location_prefix() {
    // "file.xml:12:3: ", "file.toml:3:", ":3:", "12:3", and a bare "file.xml: " or
    // "server.port: " — a place, not a message.
    static const std::regex re(R"(^(\S*:[0-9]+(:[0-9]+)?:?|\S+:)(\s+|$))");
    return re;
}

std::string trimmed(const std::string& s) {
    auto first = s.find_first_not_of(" \t\n");
    auto last = s.find_last_not_of(" \t\n");
    return first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
}

/// The part of a fragment that could say what is wrong: without the generic prefix and
/// leading places ("dataflow: error: FILE:3:4: error: KEY: message" -> "message").
std::string message_part(std::string f) {
    f = trimmed(f);
    if (lower(f).rfind(trimmed(k_generic_prefix), 0) == 0) {
        f = trimmed(f.substr(trimmed(k_generic_prefix).size()));
    }
    for (std::string prev; prev != f;) {
        prev = f;
        f = std::regex_replace(f, location_prefix(), "", std::regex_constants::format_first_only);
    }
    return trimmed(f);
}

/// Everything a case gives the program: a fragment found in one of these may be an echo.
std::vector<std::string> case_inputs(const json& c) {
    std::vector<std::string> in;
    auto add_file = [&in](const std::string& path) {
        in.push_back(path);
        in.push_back(fs::path(path).filename().string());
        std::error_code ec;
        if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) < (8u << 20)) {
            in.push_back(dataflow::test::read_file(path));
        }
    };
    in.push_back(c.value("name", std::string()));
    for (const auto& a : c.value("args", json::array())) {
        auto raw = a.get<std::string>();
        in.push_back(raw);
        if (has(raw, "{files}")) {
            add_file(expand(raw));
        }
    }
    const auto env = c.value("env", json::object());
    for (const auto& [name, value] : env.items()) {
        in.push_back(name);
        in.push_back(value.get<std::string>());
    }
    for (const char* key : {"stdin_file", "body_file"}) {
        if (c.contains(key)) {
            add_file(k_dir + "/files/" + c[key].get<std::string>());
        }
    }
    for (const char* key : {"path", "body", "content_type", "method"}) {
        if (c.contains(key) && c[key].is_string()) {
            in.push_back(c[key].get<std::string>());
        }
    }
    const auto headers = c.value("headers", json::object());
    for (const auto& [name, value] : headers.items()) {
        in.push_back(name);
        in.push_back(value.get<std::string>());
    }
    for (const auto& part : c.value("multipart", json::array())) {
        in.push_back(part.value("name", std::string()));
        add_file(k_dir + "/files/" + part.value("file", std::string()));
    }
    return in;
}

/// Why a case's expectations would also pass with some other failure (empty: they would not).
std::vector<std::string> weaknesses(const json& c) {
    std::vector<std::string> out;
    auto say = [&out](const std::string& why) { out.push_back(why); };
    if (!c.contains("expect") || !c["expect"].is_object()) {
        say("no expect object");
        return out;
    }
    const auto& e = c["expect"];
    bool http = c.value("kind", std::string()) == "http";
    static const std::set<std::string> cli_keys = {"exit", "stderr", "stdout"};
    static const std::set<std::string> http_keys = {"status", "error_code",  "error_type", "detail",
                                                    "body",   "body_equals", "headers"};
    for (const auto& [key, value] : e.items()) {
        if ((http ? http_keys : cli_keys).count(key) == 0) {
            say("unknown expect key '" + key + "' (it would check nothing)");
        }
    }
    auto inputs = case_inputs(c);
    std::vector<std::string> generic = {k_generic_prefix};
    if (http) {
        // The envelope's own words say nothing about this failure.
        generic.insert(generic.end(),
                       {R"("success": false)", "error_type", "error_code", "request_id", "detail"});
        for (const char* key : {"error_code", "error_type"}) {
            if (e.contains(key) && e[key].is_string()) {
                generic.push_back(e[key].get<std::string>());
            }
        }
    }
    int messages = 0;
    // Checks one fragment field and counts its fragments that say what is wrong.
    auto check_field = [&](const std::string& field) {
        if (!e.contains(field)) {
            return;
        }
        if (!e[field].is_string() && !e[field].is_array()) {
            say(field + ": not a fragment or a list of fragments");
            return;
        }
        auto list = fragments(e[field]);
        if (list.empty()) {
            say(field + ": an empty list checks nothing");
        }
        int locations = 0;
        int field_messages = 0;
        for (const auto& f : list) {
            auto quoted = field + " fragment \"" + f + "\"";
            if (f.empty()) {
                say(quoted + ": empty, always matches");
                continue;
            }
            auto m = message_part(f);
            if (m.empty()) {
                if (has_nocase(k_generic_prefix, trimmed(f))) {
                    say(quoted + ": only the generic prefix");
                } else {
                    ++locations; // fine next to a message, checked below
                }
                continue;
            }
            bool weak = false;
            if (m.size() < k_min_fragment) {
                say(quoted + ": shorter than " + std::to_string(k_min_fragment) + " characters");
                weak = true;
            }
            for (const auto& g : generic) {
                if (has_nocase(g, m)) {
                    say(quoted + ": part of the generic '" + g + "'");
                    weak = true;
                    break;
                }
            }
            for (const auto& input : inputs) {
                if (!input.empty() && has_nocase(input, m)) {
                    say(quoted + ": an echo of the case's own input ('" + input.substr(0, 60) +
                        (input.size() > 60 ? "...'" : "'") + ")");
                    weak = true;
                    break;
                }
            }
            if (!weak) {
                ++field_messages;
            }
        }
        if (locations > 0 && field_messages == 0) {
            say(field + ": a location with no message saying what is wrong there");
        }
        messages += field_messages;
    };
    if (http) {
        if (!e.contains("status") || !e["status"].is_number_integer()) {
            say("no integer status");
            return out;
        }
        for (const auto& key : {"detail", "body"}) {
            check_field(key);
        }
        if (e.contains("body_equals") &&
            (!e["body_equals"].is_string() || e["body_equals"].get<std::string>().empty())) {
            say("body_equals: must be a non-empty string");
        }
        if (e.contains("headers") && (!e["headers"].is_object() || e["headers"].empty())) {
            say("headers: must be a non-empty object of name -> regex");
        }
        if (e["status"].get<int>() >= 400) {
            if (!e.contains("error_code") && !e.contains("error_type")) {
                say("an HTTP error case names neither error_code nor error_type");
            }
            for (const char* key : {"error_code", "error_type"}) {
                if (e.contains(key) &&
                    (!e[key].is_string() || e[key].get<std::string>().size() < 3)) {
                    say(std::string(key) + ": must be the envelope's value");
                }
            }
            if (!e.contains("detail") || messages == 0) {
                say("an HTTP error case has no detail fragment saying what is wrong");
            }
        } else if (!e.contains("body_equals") && !e.contains("headers") && messages == 0) {
            say("a success case checks neither its body nor its headers");
        }
    } else {
        if (!e.contains("exit") || !e["exit"].is_number_integer()) {
            say("no integer exit code");
        }
        check_field("stderr");
        check_field("stdout");
        if (messages == 0) {
            say("no stderr or stdout fragment saying what is wrong");
        }
    }
    return out;
}

std::string joined(const std::vector<std::string>& v) {
    std::ostringstream s;
    for (const auto& x : v) {
        s << "\n  - " << x;
    }
    return s.str();
}

// ---------------------------------------------------------------- running the cases

void check_fragments(const std::string& text, const json& e, const std::string& field) {
    if (!e.contains(field)) {
        return;
    }
    for (const auto& f : fragments(e[field])) {
        CHECK_MESSAGE(has(text, f), field << " lacks \"" << f << "\"");
    }
}

void run_cli_case(const json& c) {
    std::vector<std::string> argv = {DATAFLOW_BIN};
    for (const auto& a : c["args"]) {
        argv.push_back(expand(a.get<std::string>()));
    }
    // Isolated from the machine's /etc/config and the caller's DATAFLOW_* variables.
    dataflow::test::TempDir empty;
    std::vector<std::string> env = {"DATAFLOW_CONFIG_DIR=" + empty.path().string(),
                                    "DATAFLOW_SECRETS_DIR=" + empty.path().string(),
                                    "DATAFLOW_UPSTREAM_BASE_URL=http://127.0.0.1:1/rest"};
    if (c.contains("env")) {
        std::vector<std::string> overrides;
        for (const auto& [name, value] : c["env"].items()) {
            overrides.push_back(name + "=" + value.get<std::string>());
        }
        env = dataflow::test::merge_env(env, overrides);
    }
    std::string input;
    if (c.contains("stdin_file")) {
        input = dataflow::test::read_file(k_dir + "/files/" + c["stdin_file"].get<std::string>());
    }
    auto r = dataflow::test::run_process(argv, input, env, 60000);
    CAPTURE(r.out.substr(0, 2000));
    CAPTURE(r.err.substr(0, 2000));
    const auto& e = c["expect"];
    CHECK(r.signal == 0);
    CHECK(r.exit_code == e["exit"].get<int>());
    check_fragments(r.err, e, "stderr");
    check_fragments(r.out, e, "stdout");
    if (e["exit"].get<int>() != 0 && c["args"][0] == "analyze") {
        CHECK(r.out.empty()); // no partial report passed off as a result
    }
    CHECK_FALSE(has(r.err, "internal error"));
}

void run_http_case(const dataflow::test::ServeProcess& server, const json& c) {
    httplib::Client client("127.0.0.1", server.port);
    client.set_read_timeout(std::chrono::seconds(30));
    httplib::Headers headers;
    if (c.value("auth", true)) {
        headers.emplace("Authorization", "Bearer " + k_read_token);
    }
    if (c.contains("headers")) {
        for (const auto& [name, value] : c["headers"].items()) {
            headers.emplace(name, value.get<std::string>());
        }
    }
    std::string method = c["method"];
    std::string path = c["path"];
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (c.contains("multipart")) {
        httplib::MultipartFormDataItems items;
        for (const auto& part : c["multipart"]) {
            auto file = part["file"].get<std::string>();
            items.push_back({part["name"].get<std::string>(),
                             dataflow::test::read_file(k_dir + "/files/" + file),
                             fs::path(file).filename().string(), "application/octet-stream"});
        }
        r = client.Post(path, headers, items);
    } else if (method == "POST") {
        std::string body =
            c.contains("body_file")
                ? dataflow::test::read_file(k_dir + "/files/" + c["body_file"].get<std::string>())
                : c.value("body", std::string());
        r = client.Post(path, headers, body, c.value("content_type", "application/json").c_str());
    } else {
        r = client.Get(path, headers);
    }
    REQUIRE(r);
    CAPTURE(r->body.substr(0, 2000));
    const auto& e = c["expect"];
    int status = e["status"].get<int>();
    CHECK(r->status == status);
    check_fragments(r->body, e, "body");
    if (e.contains("body_equals")) {
        CHECK(r->body == e["body_equals"].get<std::string>());
    }
    const auto expected_headers = e.value("headers", json::object());
    for (const auto& [name, pattern] : expected_headers.items()) {
        auto value = r->get_header_value(name);
        CHECK_MESSAGE(std::regex_match(value, std::regex(pattern.get<std::string>())),
                      "response header " << name << ": '" << value << "' does not match "
                                         << pattern.get<std::string>());
    }
    CHECK_FALSE(r->get_header_value("X-Request-ID").empty());
    if (status >= 400) {
        // One error shape, and no internals.
        auto j = json::parse(r->body, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["success"] == false);
        REQUIRE(j.contains("error_type"));
        REQUIRE(j.contains("error_code"));
        REQUIRE(j.contains("detail"));
        CHECK(j["request_id"] == r->get_header_value("X-Request-ID"));
        for (const std::string key : {"error_type", "error_code"}) {
            if (e.contains(key)) {
                CHECK_MESSAGE(j[key] == e[key],
                              key << " is " << j[key].dump() << ", not " << e[key].dump());
            }
        }
        check_fragments(j["detail"].get<std::string>(), e, "detail");
        CHECK_FALSE(has(r->body, "std::"));
        CHECK_FALSE(has(r->body, "what()"));
    }
    if (c.contains("headers") && c["headers"].contains("X-Request-ID")) {
        // An invalid request id is replaced, never echoed.
        CHECK(r->get_header_value("X-Request-ID") != c["headers"]["X-Request-ID"]);
    }
}

} // namespace

TEST_SUITE("bad inputs") {
    TEST_CASE("bad input corpus has at least 40 cases across every kind of input") {
        auto cases = load_cases();
        CHECK(cases.size() >= 40);
        std::set<std::string> names;
        std::map<std::string, int> prefixes;
        for (const auto& c : cases) {
            auto name = c["name"].get<std::string>();
            CHECK_MESSAGE(names.insert(name).second, "duplicate case name " << name);
            ++prefixes[name.substr(0, name.find('-'))];
            CHECK(c.contains("expect"));
        }
        for (const char* kind :
             {"xml", "json", "cli", "toml", "env", "http", "query", "header", "multipart"}) {
            CHECK_MESSAGE(prefixes[kind] >= 2, "few cases of kind " << kind);
        }
        // Every input file is used by some case.
        std::string all = dataflow::test::read_file(k_dir + "/cases.json");
        for (const auto& entry : fs::recursive_directory_iterator(k_dir + "/files")) {
            if (entry.is_regular_file()) {
                auto rel = fs::relative(entry.path(), k_dir + "/files").string();
                CHECK_MESSAGE(has(all, rel), "unused input file " << rel);
            }
        }
    }

    TEST_CASE("bad input expectations identify their failure") {
        // Each case would fail with any other error: its fragments say what is wrong, not
        // where, not that something failed, and not what the case itself fed in.
        for (const auto& c : load_cases()) {
            auto why = weaknesses(c);
            CHECK_MESSAGE(why.empty(), "case "
                                           << c["name"].get<std::string>()
                                           << " would pass with another failure:" << joined(why));
        }
    }

    TEST_CASE("bad input strength check rejects weak expectations") {
        // Each of these passes with the wrong failure, so the check must reject it.
        auto weak = json::parse(R"([
          {"name": "xml-deep-nesting", "kind": "cli", "args": ["analyze", "{files}/sdmx/deep-nesting.xml"],
           "expect": {"exit": 1, "stderr": "deep"}},
          {"name": "x-own-file-name", "kind": "cli", "args": ["analyze", "{files}/sdmx/billion-laughs.xml"],
           "expect": {"exit": 1, "stderr": "billion-laughs.xml"}},
          {"name": "x-full-path", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.json"],
           "expect": {"exit": 1, "stderr": "tests/bad-inputs/files/sdmx/empty.json"}},
          {"name": "x-generic-word", "kind": "cli", "args": ["analyze", "{files}/sdmx/error-message.xml"],
           "expect": {"exit": 1, "stderr": "error"}},
          {"name": "x-generic-prefix", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "stderr": "dataflow: error:"}},
          {"name": "x-prefix-and-file", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "stderr": "dataflow: error: empty.xml"}},
          {"name": "x-empty", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "stderr": ""}},
          {"name": "x-short", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "stderr": "bad"}},
          {"name": "x-no-fragment", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1}},
          {"name": "x-location-only", "kind": "cli", "args": ["analyze", "{files}/sdmx/truncated.xml"],
           "expect": {"exit": 1, "stderr": "truncated.xml:12:3"}},
          {"name": "x-location-list", "kind": "cli", "args": ["analyze", "{files}/sdmx/truncated.xml"],
           "expect": {"exit": 1, "stderr": ["truncated.xml:12:3", "truncated.xml"]}},
          {"name": "x-bare-location", "kind": "cli", "args": ["config", "validate", "--config", "{files}/config/syntax.toml"],
           "expect": {"exit": 1, "stdout": ":3:"}},
          {"name": "x-location-then-file", "kind": "cli", "args": ["analyze", "{files}/sdmx/truncated.xml"],
           "expect": {"exit": 1, "stderr": "truncated.xml:12:3: truncated"}},
          {"name": "x-argument-echo", "kind": "cli", "args": ["analyze", "-c", "astrologia", "{files}/multipart/good.xml"],
           "expect": {"exit": 2, "stderr": "astrologia"}},
          {"name": "x-option-echo", "kind": "cli", "args": ["analyze", "--limit", "-5", "{files}/multipart/good.xml"],
           "expect": {"exit": 2, "stderr": "--limit"}},
          {"name": "x-env-name-echo", "kind": "cli", "args": ["config", "validate"], "env": {"DATAFLOW_SERVER_PORT": "eighty"},
           "expect": {"exit": 1, "stdout": "DATAFLOW_SERVER_PORT"}},
          {"name": "x-file-content-echo", "kind": "cli", "args": ["config", "validate", "--config", "{files}/config/bad-duration.toml"],
           "expect": {"exit": 1, "stdout": "drain_delay"}},
          {"name": "x-one-weak-of-two", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "stderr": ["the input is empty", "error"]}},
          {"name": "x-misspelt-key", "kind": "cli", "args": ["analyze", "{files}/sdmx/empty.xml"],
           "expect": {"exit": 1, "sdterr": "the input is empty"}},
          {"name": "http-old-schema-empty-body", "kind": "http", "method": "GET", "path": "/api/v2/everything",
           "expect": {"status": 404, "body": ""}},
          {"name": "http-no-error-code", "kind": "http", "method": "GET", "path": "/api/v2/everything",
           "expect": {"status": 404, "detail": "no such route"}},
          {"name": "http-code-without-detail", "kind": "http", "method": "GET", "path": "/api/v2/everything",
           "expect": {"status": 404, "error_code": "not_found"}},
          {"name": "http-detail-is-the-code", "kind": "http", "method": "GET", "path": "/api/v2/everything",
           "expect": {"status": 404, "error_code": "not_found", "detail": "not_found"}},
          {"name": "http-query-echo", "kind": "http", "method": "GET", "path": "/api/v1/dataflows?limit=abc",
           "expect": {"status": 400, "error_code": "invalid_request", "detail": "limit=abc"}},
          {"name": "http-body-echo", "kind": "http", "method": "POST", "path": "/api/analysis/dataflow",
           "body_file": "http/unknown-category.json",
           "expect": {"status": 400, "error_code": "invalid_request", "detail": "astrologia"}},
          {"name": "http-success-unchecked", "kind": "http", "method": "GET", "path": "/health/live",
           "expect": {"status": 200}},
          {"name": "http-success-empty-body", "kind": "http", "method": "GET", "path": "/health/live",
           "expect": {"status": 200, "body_equals": ""}}
        ])");
        for (const auto& c : weak) {
            INFO("weak example " << c["name"].get<std::string>());
            CHECK_FALSE(weaknesses(c).empty());
        }
        // ... while expectations that name the failure pass.
        auto strong = json::parse(R"([
          {"name": "x-location-and-message", "kind": "cli", "args": ["analyze", "{files}/sdmx/truncated.xml"],
           "expect": {"exit": 1, "stderr": ["truncated.xml:12:3", "unexpected end of the document"]}},
          {"name": "x-echo-inside-a-message", "kind": "cli", "args": ["analyze", "-c", "astrologia", "{files}/multipart/good.xml"],
           "expect": {"exit": 2, "stderr": "unknown category 'astrologia'"}},
          {"name": "http-code-and-detail", "kind": "http", "method": "GET", "path": "/api/v2/everything",
           "expect": {"status": 404, "error_code": "not_found", "detail": "no such route"}},
          {"name": "http-success-body", "kind": "http", "method": "GET", "path": "/health/live",
           "expect": {"status": 200, "body_equals": "ok\n"}}
        ])");
        for (const auto& c : strong) {
            auto why = weaknesses(c);
            CHECK_MESSAGE(why.empty(), "strong example " << c["name"].get<std::string>()
                                                         << " rejected:" << joined(why));
        }
    }

    TEST_CASE("bad input command lines, documents, configuration and environment values") {
        for (const auto& c : load_cases()) {
            if (c["kind"] != "cli") {
                continue;
            }
            INFO("case " << c["name"].get<std::string>());
            run_cli_case(c);
        }
    }

    TEST_CASE("bad input HTTP bodies, headers, multipart uploads, query parameters and routes") {
        dataflow::test::ServeProcess server(
            {"DATAFLOW_AUTH_MODE=token", "DATAFLOW_AUTH_TOKENS=" + k_read_token,
             "DATAFLOW_AUTH_ADMIN_TOKENS=" + k_admin_token, "DATAFLOW_SERVER_MAX_BODY_SIZE=1MiB"});
        for (const auto& c : load_cases()) {
            if (c["kind"] != "http") {
                continue;
            }
            INFO("case " << c["name"].get<std::string>());
            run_http_case(server, c);
        }
        // Still healthy after all of it.
        auto live = server.client().Get("/health/live");
        REQUIRE(live);
        CHECK(live->status == 200);
    }
}

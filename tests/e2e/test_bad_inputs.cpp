// The bad-input corpus (tests/bad-inputs/cases.json): every case is a bad SDMX document, HTTP
// body, header, multipart upload, query parameter, TOML file, environment value or command
// line, with the outcome it must get — an exit code or HTTP status and a message fragment that
// says what is wrong. Run in the normal and the ASan/UBSan builds, so a case that crashes,
// leaks or hits undefined behaviour fails here.

#include "support/serve.hpp"
#include "support/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <httplib.h>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string k_dir = std::string(DATAFLOW_SOURCE_DIR) + "/tests/bad-inputs";
const std::string k_read_token = "bad-inputs-read-token-0123456789";
const std::string k_admin_token = "bad-inputs-admin-token-0123456789";

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
    if (e.contains("stderr")) {
        CHECK(has(r.err, e["stderr"].get<std::string>()));
    }
    if (e.contains("stdout")) {
        CHECK(has(r.out, e["stdout"].get<std::string>()));
    }
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
    CHECK(has(r->body, e["body"].get<std::string>()));
    CHECK_FALSE(r->get_header_value("X-Request-ID").empty());
    if (status >= 400) {
        // One error shape, and no internals.
        auto j = json::parse(r->body, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["success"] == false);
        CHECK(j.contains("error_type"));
        CHECK(j.contains("error_code"));
        CHECK(j["request_id"] == r->get_header_value("X-Request-ID"));
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
    TEST_CASE("the corpus has at least 40 cases across every kind of input") {
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

    TEST_CASE("command lines, documents, configuration and environment values") {
        for (const auto& c : load_cases()) {
            if (c["kind"] != "cli") {
                continue;
            }
            INFO("case " << c["name"].get<std::string>());
            run_cli_case(c);
        }
    }

    TEST_CASE("HTTP bodies, headers, multipart uploads, query parameters and routes") {
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

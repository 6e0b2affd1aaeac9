// Analyses of a catalogue sent by the client: POST /api/analysis/dataflow (JSON body),
// POST /api/analysis/dataflow/upload (multipart), and the rules they use.

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "live/keys.hpp"
#include "live/pipeline.hpp"
#include "sdmx/categories.hpp"
#include "sdmx/reader.hpp"
#include "sdmx/source.hpp"
#include "service/requests.hpp"
#include "service/routes.hpp"
#include "util/error.hpp"
#include "util/hash.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>

namespace dataflow::service {

namespace {

namespace fs = std::filesystem;

Admission::Limits admission_limits(const config::Settings& settings) {
    return {settings.server.max_concurrent_analyses, settings.server.analysis_queue_size,
            settings.server.analysis_queue_wait};
}

[[noreturn]] void refuse_busy(Admission::Refusal why) {
    HttpError busy(503, "unavailable", "busy",
                   why == Admission::Refusal::timed_out
                       ? "too many analyses in progress: none finished within "
                         "server.analysis_queue_wait; retry in a second"
                       : "too many analyses in progress and the queue "
                         "(server.analysis_queue_size) is full; retry in a second");
    busy.headers = {{"Retry-After", "1"}};
    throw busy;
}

/// Refuses before the body is read when every slot is taken and the queue is full: a flood's
/// bodies are dropped as they arrive, never held in memory.
void refuse_when_saturated(ServiceState& s, const Admission::Limits& limits) {
    if (s.admission.saturated(limits)) {
        refuse_busy(Admission::Refusal::queue_full);
    }
}

/// One of server.max_concurrent_analyses, after waiting in the queue if need be.
Admission::Slot take_slot(ServiceState& s, const Admission::Limits& limits) {
    auto why = Admission::Refusal::none;
    auto slot = s.admission.acquire(limits, &why);
    if (!slot) {
        refuse_busy(why);
    }
    return slot;
}

/// An analysis as the cache keeps it: the count its message needs and the report's members,
/// rendered once with cache_hit = true (whoever reads it back is served from the cache).
struct CachedAnalysis {
    std::int64_t total_analyzed = 0;
    util::JsonMembers report;
};

constexpr const char* k_cached_analysis_type = "application/vnd.dataflow.analysis.v1";
constexpr int k_indent = 2;

std::string encode(const CachedAnalysis& a) {
    return fmt::format("{}\n{}", a.total_analyzed, a.report.text);
}

std::optional<CachedAnalysis> decode(const cache::Entry& e) {
    if (e.content_type != k_cached_analysis_type) {
        return std::nullopt;
    }
    const auto& v = e.value;
    auto nl = v.find('\n');
    CachedAnalysis a;
    if (nl == std::string::npos ||
        std::from_chars(v.data(), v.data() + nl, a.total_analyzed).ptr != v.data() + nl) {
        return std::nullopt;
    }
    a.report = util::JsonMembers{v.substr(nl + 1), k_indent, 1};
    return a;
}

std::string analyzed_message(std::int64_t total) {
    return fmt::format("Successfully analyzed {} dataflows", total);
}

Reply analysis_reply(const std::string& message, const std::string& timestamp,
                     const std::string& request_id, const util::JsonMembers& report) {
    return Reply::json([&](util::JsonWriter& w) {
        w.field("success", true);
        w.field("message", message);
        w.field("timestamp", timestamp);
        w.field("request_id", request_id);
        w.members(report);
    });
}

/// The cached analysis under `key`, as the answer to `req`; nullopt when the cache has none
/// fresh. Counts the lookup.
std::optional<Reply> cached_analysis(ServiceState& s, const Request& req, const std::string& key) {
    const auto& settings = req.config->settings();
    auto l = s.parts.cache.get(key);
    auto cached = l.state == cache::State::fresh ? decode(l.entry) : std::nullopt;
    s.instruments.cache_requests.inc(
        {std::string(config::to_string(settings.cache.backend)), cached ? "hit" : "miss"});
    if (!cached) {
        return std::nullopt;
    }
    return analysis_reply(analyzed_message(cached->total_analyzed),
                          util::format_rfc3339(s.parts.clock.system()), req.id, cached->report);
}

/// Where the analysis came from, for dataflow_analysis_total{source}.
struct Source {
    std::string name;  ///< the report's source name
    std::string label; ///< body, file or upload
};

/// Analyses `bytes`: answered from the cache without taking a slot when the same analysis was
/// made before, else in one of server.max_concurrent_analyses (`slot`, when the caller holds one
/// already).
/// `key_out`, when given, receives the analysis's cache key (empty when not cacheable).
Reply run_analysis(ServiceState& s, const Request& req, std::string bytes, const Source& source,
                   const AnalysisRequest& a, Admission::Slot slot = {},
                   std::string* key_out = nullptr, bool look_up = true) {
    auto started = std::chrono::steady_clock::now();
    std::string outcome = "error";
    struct Count {
        Instruments& in;
        const std::string& label;
        std::string& outcome;
        ~Count() {
            if (!outcome.empty()) { // empty: refused as busy, not an analysis
                in.analyses.inc({label, outcome});
            }
        }
    } count{s.instruments, source.label, outcome};
    const auto& config = *req.config;
    const auto& settings = config.settings();
    analysis::AnalysisOptions options;
    options.categories = a.categories;
    options.min_score = a.min_score;
    options.limit = static_cast<std::size_t>(a.max_results);
    options.only_ready = a.only_ready;
    analysis::check_categories(*config.rules(), options.categories);
    // Without probes an analysis depends only on its inputs: cache it (every replica shares
    // it with the Redis backend) under a content hash of all of them.
    std::string key;
    if (!a.include_tests) {
        key = live::analysis_key(bytes, source.name, config.rules()->fingerprint(), options,
                                 config::to_string(settings.analysis.match),
                                 settings.analysis.languages);
        if (key_out != nullptr) {
            *key_out = key;
        }
        if (auto reply = look_up ? cached_analysis(s, req, key) : std::nullopt) {
            outcome = "cached";
            return std::move(*reply);
        }
    }
    if (!slot) {
        outcome.clear();
        slot = take_slot(s, admission_limits(settings));
        outcome = "error";
    }
    auto catalog = sdmx::read_catalog(bytes, source.name);
    sdmx::require_dataflows(catalog, source.name);
    std::string().swap(bytes);
    auto categorizer = live::categorizer_for(config);
    auto probe_count =
        a.include_tests ? static_cast<std::size_t>(settings.api.max_probes_per_request) : 0;
    auto report = live::analyze_with_probes(
        catalog, *categorizer, options, probe_count, [&](const std::vector<std::string>& ids) {
            return s.probes.lookup_or_schedule(
                ids, static_cast<std::size_t>(settings.api.max_probes_per_request));
        });
    report.source_name = source.name;
    report.source_format = catalog.format;
    report.analysis_timestamp = util::format_rfc3339(s.parts.clock.system());
    report.analysis_duration_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    s.instruments.analysis_duration.observe({}, report.analysis_duration_seconds);
    s.instruments.analyzed.inc({}, static_cast<double>(report.total_analyzed));
    outcome = "success";
    auto members = util::JsonWriter::render_members(
        k_indent, 1, [&](util::JsonWriter& w) { analysis::write_report_members(w, report); });
    if (!key.empty()) {
        report.cache_hit = true;
        CachedAnalysis cached{
            static_cast<std::int64_t>(report.total_analyzed),
            util::JsonWriter::render_members(k_indent, 1, [&](util::JsonWriter& w) {
                analysis::write_report_members(w, report);
            })};
        cache::Entry e;
        e.value = encode(cached);
        e.content_type = k_cached_analysis_type;
        e.stored_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             s.parts.clock.system().time_since_epoch())
                             .count();
        e.fresh_until_ms = e.stored_at_ms + settings.cache.fresh_ttl.count();
        e.stale_until_ms = e.fresh_until_ms;
        e.tags = {"analysis", "rules:" + config.rules()->fingerprint()};
        s.parts.cache.set(key, e);
    }
    return analysis_reply(analyzed_message(static_cast<std::int64_t>(report.total_analyzed)),
                          report.analysis_timestamp, req.id, members);
}

/// The catalogue named by xml_file_path, read only from inside api.file_root.
std::string read_file_under_root(const config::Config& config, const std::string& rel,
                                 std::string& resolved) {
    const auto& root = config.settings().api.file_root;
    if (root.empty()) {
        throw UsageError("xml_file_path is disabled: the server reads no files unless "
                         "api.file_root is configured; send xml_content instead");
    }
    fs::path p(rel);
    std::error_code ec;
    auto root_real = fs::canonical(root, ec);
    auto file_real = fs::canonical(fs::path(root) / p, ec);
    auto inside = [&] {
        auto r = root_real.string() + "/";
        return !ec && file_real.string().compare(0, r.size(), r) == 0;
    };
    if (p.is_absolute() || rel.find("..") != std::string::npos || !inside()) {
        throw UsageError("xml_file_path must name a file inside api.file_root (a relative path, "
                         "no '..', no symlink out of it)");
    }
    resolved = file_real.string();
    sdmx::FileSource source(resolved);
    return source
        .fetch(
            sdmx::ReadLimits{static_cast<std::size_t>(config.settings().analysis.max_input_size)})
        .bytes;
}

Reply analyse_json_body(ServiceState& s, Request& req) {
    // The body is read before a slot is taken, so that a repeated analysis is answered from the
    // cache without one (bodies held meanwhile count against server.max_body_memory), unless
    // every slot is taken and the queue is full: then it is refused unread.
    auto limits = admission_limits(req.config->settings());
    refuse_when_saturated(s, limits);
    auto raw = req.body->read(req.config->settings().server.max_body_size, "server.max_body_size");
    // A body seen before (the same bytes, the same configuration) names its cache key at
    // once: the JSON (most of the cost of a cached answer) is not parsed again.
    auto digest = util::sha256_hex(raw);
    bool looked_up = false;
    if (auto key = s.analysis_keys.find(req.config, digest)) {
        if (auto reply = cached_analysis(s, req, *key)) {
            s.instruments.analyses.inc({"body", "cached"});
            return std::move(*reply);
        }
        looked_up = true; // expired: not looked up (and counted) twice
    }
    auto body = parse_analysis_body(std::move(raw));
    if (body.xml_content) {
        std::string key;
        auto reply = run_analysis(s, req, std::move(*body.xml_content), {"xml_content", "body"},
                                  body.request, {}, &key, !looked_up);
        if (!key.empty()) {
            s.analysis_keys.put(req.config, digest, key);
        }
        return reply;
    }
    // A file is read in a slot: reading it is most of the work.
    auto slot = take_slot(s, limits);
    std::string resolved;
    auto bytes = read_file_under_root(*req.config, *body.xml_file_path, resolved);
    return run_analysis(s, req, std::move(bytes), {*body.xml_file_path, "file"}, body.request,
                        std::move(slot));
}

Reply analyse_upload(ServiceState& s, Request& req) {
    AnalysisRequest a;
    if (!req.is_multipart()) {
        throw UsageError("send the catalogue as multipart/form-data field 'file'");
    }
    a.categories = req.list_param("categories");
    a.min_score = req.int_param("min_relevance_score", 0, -1'000'000'000, 1'000'000'000);
    a.max_results = req.int_param("max_results", 100, 1, 1000);
    a.include_tests = req.bool_param("include_tests", true);
    a.only_ready = req.bool_param("only_tableau_ready", false);
    refuse_when_saturated(s, admission_limits(req.config->settings()));
    auto parts = req.body->read_multipart(req.config->settings().server.max_body_size,
                                          "server.max_body_size");
    for (auto& part : parts) {
        if (part.name == "file") {
            auto name = part.filename.empty() ? std::string("upload") : part.filename;
            return run_analysis(s, req, std::move(part.content),
                                {util::printable(name.substr(0, 200)), "upload"}, a);
        }
    }
    throw UsageError("send the catalogue as multipart/form-data field 'file'");
}

Reply rules(const Request& req) {
    const auto& rules = *req.config->rules();
    return Reply::json([&](util::JsonWriter& w) {
        w.field("success", true);
        w.key("rules").begin_array();
        for (const auto& r : rules.rules()) {
            w.begin_object();
            w.field("rule_id", r.id);
            w.field("category", r.category);
            w.key("keywords").begin_array();
            for (const auto& k : r.keywords) {
                w.value(k);
            }
            w.end_array();
            w.field("priority", r.priority);
            w.field("is_active", true);
            w.end_object();
        }
        w.end_array();
        w.field("total_count", rules.rules().size());
        w.field("active_count", rules.rules().size());
        w.field("origin", rules.origin());
        w.field("fingerprint", rules.fingerprint());
    });
}

} // namespace

void add_analysis_routes(Router& router, ServiceState& s) {
    router.post(
        "/api/analysis/dataflow", Scope::read,
        [&s](Request& req) { return analyse_json_body(s, req); }, true);
    router.post(
        "/api/analysis/dataflow/upload", Scope::read,
        [&s](Request& req) { return analyse_upload(s, req); }, true);
    router.get("/api/analysis/rules", Scope::read, [](Request& req) { return rules(req); });
}

} // namespace dataflow::service

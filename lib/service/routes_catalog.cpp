// The served catalogue: GET /api/v1/dataflows, GET /api/v1/dataflows/{id}, and bulk analysis
// of dataflows by id (POST /api/analysis/dataflow/bulk).

#include "analysis/render.hpp"
#include "analysis/report.hpp"
#include "analysis/rules.hpp"
#include "live/pipeline.hpp"
#include "service/requests.hpp"
#include "service/routes.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace dataflow::service {

namespace {

std::shared_ptr<const CatalogState> served(const ServiceState& s) {
    auto state = s.catalog.current();
    if (!state) {
        throw NotReady(s.catalog.mode() == config::CatalogMode::off
                           ? "no catalogue is served (catalog.mode = off)"
                           : "the catalogue is not loaded yet; retry shortly");
    }
    return state;
}

analysis::SortKey sort_key(const std::string& s) {
    auto key = analysis::parse_sort_key(s);
    if (!key) {
        throw UsageError("sort: '" + util::printable(s.substr(0, 40)) +
                         "' is not one of score, id, name, updated");
    }
    return *key;
}

/// The query of GET /api/v1/dataflows.
analysis::AnalysisOptions dataflows_query(const Request& req) {
    analysis::AnalysisOptions options;
    options.categories = req.list_param("category");
    options.min_score = req.int_param("min_score", 0, -1'000'000'000, 1'000'000'000);
    options.limit = static_cast<std::size_t>(req.int_param("limit", 100, 0, 100000));
    options.sort = sort_key(req.param("sort"));
    options.query = req.param("q");
    if (req.has_param("classify")) {
        auto classify = analysis::parse_classify(req.param("classify"));
        if (!classify) {
            throw UsageError("classify: '" + util::printable(req.param("classify").substr(0, 40)) +
                             "' is not keywords or agency");
        }
        options.classify = *classify;
    }
    analysis::check_categories(*req.config->rules(), options.categories);
    return options;
}

/// GET /api/v1/dataflows's query, normalised: equal for queries with equal answers whatever
/// their spelling (order of parameters, defaults spelt out or not). Length-prefixed fields.
std::string query_key(const analysis::AnalysisOptions& o) {
    std::string key;
    auto add = [&key](std::string_view v) { key += fmt::format("{}:{};", v.size(), v); };
    key += fmt::format("c{};", o.categories.size());
    for (const auto& c : o.categories) {
        add(c);
    }
    key += fmt::format("i{};", o.ids.size());
    for (const auto& id : o.ids) {
        add(id);
    }
    add(o.query);
    key += fmt::format("m{};l{};s{};k{}", o.min_score, o.limit, static_cast<int>(o.sort),
                       static_cast<int>(o.classify));
    return key;
}

Reply dataflows(ServiceState& s, const Request& req) {
    auto state = served(s);
    auto options = dataflows_query(req);
    options.agency_categories = state->categories.get();
    if (req.has_param("agency_category")) {
        auto id = req.param("agency_category");
        if (!util::is_sdmx_id(id)) {
            throw UsageError("agency_category: '" + util::printable(id.substr(0, 40)) +
                             "' is not a category id");
        }
        if (!state->categories) {
            throw UsageError("agency_category: the agency's categories are not loaded "
                             "(catalog.agency_categories = false)");
        }
        options.ids = flows_in_category(*state, id);
        if (options.ids.empty()) {
            options.ids = {"\x01"}; // no dataflow: an id none has
        }
    }
    return catalogue_answer(s, req, state.get(), "dataflows?" + query_key(options), [&] {
        auto categorizer = live::categorizer_for(*req.config);
        auto report = analysis::analyze(*state->catalog, *categorizer, options);
        report.source_name = state->source;
        report.source_format = state->catalog->format;
        report.analysis_timestamp = util::format_rfc3339(s.parts.clock.system());
        return Reply::json([&](util::JsonWriter& w) {
                   w.field("success", true);
                   w.field("catalog_age_seconds", s.catalog.age_seconds());
                   w.field("stale", state->stale);
                   analysis::write_report_members(w, report);
               })
            .body;
    });
}

Reply dataflow(ServiceState& s, const Request& req) {
    auto state = served(s);
    auto id = req.path_match(1);
    if (!util::is_sdmx_id(id)) { // as a route that does not exist, like any other bad path
        throw HttpError(404, "not_found", "not_found",
                        "no such route: GET " + util::printable(req.http_path().substr(0, 200)));
    }
    return catalogue_answer(s, req, state.get(), "dataflow/" + id, [&] {
        analysis::AnalysisOptions options;
        options.limit = 0;
        options.ids = {id};
        options.agency_categories = state->categories.get();
        auto categorizer = live::categorizer_for(*req.config);
        auto report = analysis::analyze(*state->catalog, *categorizer, options);
        for (const auto& g : report.groups) {
            for (const auto& f : g.flows) {
                return Reply::json([&](util::JsonWriter& w) {
                           w.field("success", true);
                           w.field("catalog_age_seconds", s.catalog.age_seconds());
                           w.field("stale", state->stale);
                           w.key("dataflow");
                           analysis::write_flow_json(w, report, f);
                       })
                    .body;
            }
        }
        throw HttpError(404, "not_found", "unknown_dataflow",
                        "no dataflow '" + id + "' in the served catalogue");
    });
}

Reply bulk(ServiceState& s, Request& req) {
    auto body = parse_bulk_body(
        req.body->read(req.config->settings().server.max_body_size, "server.max_body_size"));
    const auto& requested = body.ids;
    auto state = served(s);
    analysis::AnalysisOptions options;
    options.limit = 0;
    options.ids = requested;
    auto categorizer = live::categorizer_for(*req.config);
    analysis::ProbeResults probes;
    if (body.include_tests) {
        probes = s.probes.lookup_or_schedule(
            requested, static_cast<std::size_t>(req.config->settings().api.max_probes_per_request));
    } else {
        for (const auto& id : requested) {
            analysis::ProbeResult p;
            p.dataflow_id = id;
            p.outcome = analysis::ProbeOutcome::not_requested;
            probes[id] = p;
        }
    }
    auto report = analysis::analyze(*state->catalog, *categorizer, options, probes);
    std::set<std::string> found;
    for (const auto& t : report.test_results) {
        found.insert(t.flow.flow->id);
    }
    return Reply::json([&](util::JsonWriter& w) {
        w.field("success", true);
        w.field("message", fmt::format("{} of {} dataflows found", found.size(), requested.size()));
        w.field("requested_count", requested.size());
        w.field("successful_count", found.size());
        w.field("failed_count", requested.size() - found.size());
        w.key("errors").begin_array();
        for (const auto& id : requested) {
            if (found.count(id) == 0) {
                w.value("unknown dataflow id: " + id);
            }
        }
        w.end_array();
        w.field("request_id", req.id);
        w.key("results");
        analysis::write_test_results(w, report);
    });
}

} // namespace

std::int64_t now_ms(const ServiceState& s) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               s.parts.clock.system().time_since_epoch())
        .count();
}

std::string catalogue_cache_control(const config::Settings& settings, const CatalogState* state,
                                    std::int64_t now) {
    std::int64_t max_age = 0;
    if (state != nullptr && !state->stale &&
        settings.catalog.mode == config::CatalogMode::upstream) {
        auto interval = settings.catalog.refresh_interval.count();
        auto due = state->fetched_at_ms + interval;
        max_age = std::clamp<std::int64_t>((due - now) / 1000, 0, interval / 1000);
    }
    return fmt::format("{}, max-age={}",
                       settings.auth.mode == config::AuthMode::none ? "public" : "private",
                       max_age);
}

Reply catalogue_answer(ServiceState& s, const Request& req, const CatalogState* state,
                       const std::string& key, const std::function<std::string()>& render) {
    RenderCache::Inputs inputs{req.config};
    if (state != nullptr) {
        inputs.push_back(state->catalog);
        inputs.push_back(state->categories);
    }
    auto now = now_ms(s);
    const auto& settings = req.config->settings();
    auto rendered = s.catalog_answers.get(
        inputs, fmt::format("{}{}", state != nullptr && state->stale ? "stale:" : "", key), render,
        "application/json", now, settings.server.response_cache_size);
    return reply_rendered(req, *rendered, catalogue_cache_control(settings, state, now));
}

void add_catalog_routes(Router& router, ServiceState& s) {
    router.get("/api/v1/dataflows", Scope::read, [&s](Request& req) { return dataflows(s, req); });
    router.get(R"(/api/v1/dataflows/([^/]+))", Scope::read,
               [&s](Request& req) { return dataflow(s, req); }, "/api/v1/dataflows/{id}");
    router.post(
        "/api/analysis/dataflow/bulk", Scope::read, [&s](Request& req) { return bulk(s, req); },
        true);
}

} // namespace dataflow::service

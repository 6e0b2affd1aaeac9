// The agency's classification of the served catalogue (catalog.agency_categories):
// GET /api/v1/categories, the category tree of each scheme with the dataflows in each category
// (its descendants included).

#include "service/routes.hpp"
#include "util/json_writer.hpp"

#include <map>
#include <set>

namespace dataflow::service {

namespace {

using Counts = std::map<const sdmx::Category*, std::size_t>;

/// Dataflows per category: a dataflow counts once in each category on any of its paths.
Counts count_flows(const sdmx::ResolvedCategories& resolved) {
    Counts counts;
    for (const auto& flow : resolved.by_flow) {
        std::set<const sdmx::Category*> seen;
        for (const auto& c : flow) {
            for (const auto* node : c.nodes) {
                if (seen.insert(node).second) {
                    ++counts[node];
                }
            }
        }
    }
    return counts;
}

void write_names(util::JsonWriter& w, const std::vector<sdmx::LocalizedText>& names) {
    w.key("names").begin_object();
    std::set<std::string> done;
    for (const auto& n : names) {
        auto lang = n.lang.empty() ? std::string("und") : n.lang;
        if (done.insert(lang).second) {
            w.field(lang, n.text);
        }
    }
    w.end_object();
}

void write_category(util::JsonWriter& w, const sdmx::Category& c, const Counts& counts) {
    w.begin_object();
    w.field("id", c.id);
    write_names(w, c.names);
    auto it = counts.find(&c);
    w.field("dataflows", it == counts.end() ? std::size_t{0} : it->second);
    w.key("children").begin_array();
    for (const auto& child : c.children) {
        write_category(w, child, counts);
    }
    w.end_array();
    w.end_object();
}

Reply categories(ServiceState& s, const Request& req) {
    auto state = s.catalog.current();
    return catalogue_answer(s, req, state.get(), "categories", [&] {
        return Reply::json([&](util::JsonWriter& w) {
                   w.field("success", true);
                   bool enabled = state && state->categories;
                   w.field("enabled", enabled);
                   w.key("schemes").begin_array();
                   if (enabled) {
                       auto counts = count_flows(*state->categories);
                       for (const auto& scheme : state->catalog->category_schemes) {
                           w.begin_object();
                           w.field("scheme", scheme.label());
                           write_names(w, scheme.names);
                           w.key("categories").begin_array();
                           for (const auto& c : scheme.categories) {
                               write_category(w, c, counts);
                           }
                           w.end_array();
                           w.end_object();
                       }
                   }
                   w.end_array();
                   if (enabled) {
                       std::size_t categorised = 0;
                       for (const auto& flow : state->categories->by_flow) {
                           categorised += flow.empty() ? 0 : 1;
                       }
                       w.field("dataflows", state->catalog->dataflows.size());
                       w.field("categorised", categorised);
                       w.field("unresolved_categorisations", state->categories->unresolved);
                   }
               })
            .body;
    });
}

} // namespace

std::vector<std::string> flows_in_category(const CatalogState& state, const std::string& id) {
    std::vector<std::string> out;
    if (!state.categories) {
        return out;
    }
    const auto& by_flow = state.categories->by_flow;
    for (std::size_t i = 0; i < by_flow.size() && i < state.catalog->dataflows.size(); ++i) {
        bool in = false;
        for (const auto& c : by_flow[i]) {
            for (const auto& p : c.path) {
                in = in || p == id;
            }
        }
        if (in) {
            out.push_back(state.catalog->dataflows[i].id);
        }
    }
    return out;
}

void add_category_routes(Router& router, ServiceState& state) {
    auto& s = state;
    router.get("/api/v1/categories", Scope::read,
               [&s](Request& req) { return categories(s, req); });
}

} // namespace dataflow::service

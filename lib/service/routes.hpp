#pragma once
/// The service's routes by area, each added to the router by one function.

#include "service/router.hpp"
#include "service/state.hpp"

namespace dataflow::service {

/// /health/{live,startup,ready,status}, /livez, /readyz, and /metrics when it shares the API
/// port; registers the readiness and status checks.
void add_health_routes(Router& router, ServiceState& state);
/// POST /api/analysis/dataflow, /api/analysis/dataflow/upload; GET /api/analysis/rules.
void add_analysis_routes(Router& router, ServiceState& state);
/// The served catalogue: GET /api/v1/dataflows, /api/v1/dataflows/{id}, POST
/// /api/analysis/dataflow/bulk.
void add_catalog_routes(Router& router, ServiceState& state);
/// The agency's classification: GET /api/v1/categories.
void add_category_routes(Router& router, ServiceState& state);
/// The ids of the served dataflows categorised in category `id` or below it (any scheme).
std::vector<std::string> flows_in_category(const CatalogState& state, const std::string& id);
/// The current time (Unix ms) by the service's clock.
std::int64_t now_ms(const ServiceState& s);
/// Cache-Control of the served catalogue's answers: public (private with authentication),
/// fresh until the catalogue's next refresh is due (0 for a stale copy or a file).
std::string catalogue_cache_control(const config::Settings& settings, const CatalogState* state,
                                    std::int64_t now);
/// An answer of the served catalogue (`state`, null when none) from the rendered answers:
/// `key` names it among those of the same catalogue and configuration, `render` makes its body
/// on a miss. ETag, 304, gzip as service/rendered.hpp.
Reply catalogue_answer(ServiceState& s, const Request& req, const CatalogState* state,
                       const std::string& key, const std::function<std::string()>& render);
/// The change feed: GET /api/v1/changes, /api/v1/changes.atom.
void add_change_routes(Router& router, ServiceState& state);
/// /api/v1/cache/{stats,flush}, /api/v1/catalog/refresh, /api/v1/config/reload.
void add_admin_routes(Router& router, ServiceState& state);

} // namespace dataflow::service

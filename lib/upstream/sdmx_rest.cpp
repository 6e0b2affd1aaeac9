#include "upstream/sdmx_rest.hpp"

#include "util/error.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cctype>

namespace dataflow::upstream {

namespace {

std::string path_of(const util::Url& base) {
    auto p = base.target.substr(0, base.target.find('?'));
    while (!p.empty() && p.back() == '/') {
        p.pop_back();
    }
    return p;
}

util::Url with_target(const util::Url& base, std::string target) {
    util::Url u = base;
    u.target = std::move(target);
    return u;
}

} // namespace

bool is_flow_ref(std::string_view ref) {
    if (util::is_sdmx_id(ref)) {
        return true;
    }
    auto c1 = ref.find(',');
    if (c1 == std::string_view::npos) {
        return false;
    }
    auto agency = ref.substr(0, c1);
    auto rest = ref.substr(c1 + 1);
    auto c2 = rest.find(',');
    auto id = rest.substr(0, c2);
    if (!util::is_sdmx_id(agency) || !util::is_sdmx_id(id)) {
        return false;
    }
    if (c2 == std::string_view::npos) {
        return true;
    }
    auto version = rest.substr(c2 + 1);
    return !version.empty() && version.size() <= 32 &&
           std::all_of(version.begin(), version.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' ||
                      c == '*' || c == '_';
           });
}

bool is_sdmx_key(std::string_view key) {
    if (key == "all") {
        return true;
    }
    if (key.empty() || key.size() > 2000) {
        return false;
    }
    return std::all_of(key.begin(), key.end(),
                       [](char c) { return util::is_sdmx_id_char(c) || c == '.' || c == '+'; });
}

util::Url catalogue_url(const util::Url& base, std::string_view agency) {
    if (!util::is_sdmx_id(agency)) {
        throw UsageError("'" + std::string(agency) +
                         "' is not an SDMX agency id (letters, digits, _ @ $ -)");
    }
    return with_target(base, path_of(base) + "/dataflow/" + std::string(agency));
}

namespace {

util::Url source_base(const config::Source& source) {
    auto parsed = util::parse_url(source.base_url, false);
    if (!parsed.url) {
        throw UsageError("source " + source.id + ": base_url " + parsed.error);
    }
    return *parsed.url;
}

std::string slash_if(const config::Source& source) {
    return source.trailing_slash ? "/" : "";
}

} // namespace

util::Url catalogue_url(const config::Source& source) {
    auto url = catalogue_url(source_base(source), source.agency);
    url.target += slash_if(source);
    return url;
}

util::Url structure_all_url(const config::Source& source, std::string_view resource,
                            std::string_view references, bool* dropped) {
    if (!util::is_sdmx_id(source.agency)) {
        throw UsageError("'" + source.agency + "' is not an SDMX agency id");
    }
    auto base = source_base(source);
    std::string target = path_of(base) + "/" + std::string(resource) + "/" + source.agency +
                         "/all/latest" + slash_if(source);
    bool wanted = !references.empty() && references != "none";
    if (dropped != nullptr) {
        *dropped = wanted && !source.references_on_all;
    }
    if (wanted && source.references_on_all) {
        target += "?references=" + std::string(references);
    }
    return with_target(base, std::move(target));
}

std::vector<util::Url> category_queries(const config::Source& source) {
    switch (source.categories) {
    case config::CategoryServing::none:
        return {};
    case config::CategoryServing::references: {
        bool dropped = false;
        auto one = structure_all_url(source, "categoryscheme", "parentsandsiblings", &dropped);
        if (!dropped) {
            return {one};
        }
        return {one, structure_all_url(source, "categorisation")};
    }
    case config::CategoryServing::separate:
        break;
    }
    return {structure_all_url(source, "categoryscheme"),
            structure_all_url(source, "categorisation")};
}

util::Url check_url(const config::Source& source) {
    auto url = structure_all_url(source, "dataflow");
    url.target += "?detail=allstubs";
    return url;
}

util::Url dataflow_url(const util::Url& base, std::string_view agency, std::string_view flow) {
    if (!util::is_sdmx_id(agency)) {
        throw UsageError("'" + std::string(agency) + "' is not an SDMX agency id");
    }
    if (!util::is_sdmx_id(flow)) {
        throw UsageError("'" + std::string(flow) +
                         "' is not an SDMX dataflow id (letters, digits, _ @ $ -)");
    }
    return with_target(base, path_of(base) + "/dataflow/" + std::string(agency) + "/" +
                                 std::string(flow) + "/latest?references=all");
}

util::Url data_url(const util::Url& base, std::string_view flow, const DataQuery& query) {
    if (!is_flow_ref(flow)) {
        throw UsageError("'" + std::string(flow) +
                         "' is not an SDMX dataflow reference (ID or AGENCY,ID[,VERSION]; "
                         "letters, digits, _ @ $ -)");
    }
    std::string target = path_of(base) + "/data/" + util::percent_encode(flow);
    if (!query.key.empty()) {
        if (!is_sdmx_key(query.key)) {
            throw UsageError("'" + query.key +
                             "' is not an SDMX series key (values separated by '.', "
                             "alternatives by '+')");
        }
        target += "/" + query.key;
    }
    std::string params;
    auto add = [&](const std::string& p) { params += (params.empty() ? "?" : "&") + p; };
    if (query.last_n_observations > 0) {
        add("lastNObservations=" + std::to_string(query.last_n_observations));
    }
    if (query.first_n_observations > 0) {
        add("firstNObservations=" + std::to_string(query.first_n_observations));
    }
    if (!query.detail.empty() && query.detail != "full") {
        static constexpr std::string_view details[] = {"dataonly", "serieskeysonly", "nodata"};
        if (std::find(std::begin(details), std::end(details), query.detail) == std::end(details)) {
            throw UsageError("'" + query.detail +
                             "' is not an SDMX detail (full, dataonly, serieskeysonly, nodata)");
        }
        add("detail=" + query.detail);
    }
    return with_target(base, target + params);
}

} // namespace dataflow::upstream

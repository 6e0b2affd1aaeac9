#include "sdmx/xml_names.hpp"

#include "util/strings.hpp"

namespace dataflow::sdmx::xml {

Ns classify_uri(std::string_view uri) {
    constexpr std::string_view base = "http://www.sdmx.org/resources/sdmxml/schemas/v";
    if (!util::starts_with_ci(uri, base)) {
        return {NsKind::other, 0};
    }
    auto rest = uri.substr(base.size());
    Ns ns;
    if (util::starts_with_ci(rest, "2_0/")) {
        ns.version = 20;
    } else if (util::starts_with_ci(rest, "2_1/")) {
        ns.version = 21;
    } else if (util::starts_with_ci(rest, "3_0/")) {
        ns.version = 30;
    } else {
        return {NsKind::other, 0};
    }
    std::string tail = util::ascii_lower(rest.substr(4));
    while (!tail.empty() && tail.back() == '/') {
        tail.pop_back();
    }
    if (tail == "message") {
        ns.kind = NsKind::message;
    } else if (tail == "structure") {
        ns.kind = NsKind::structure;
    } else if (tail == "common") {
        ns.kind = NsKind::common;
    } else if (tail == "message/footer") {
        ns.kind = NsKind::footer;
    } else if (tail.starts_with("data") || tail == "generic" || tail == "compact" ||
               tail == "utility" || tail == "cross") {
        ns.kind = NsKind::data;
    } else if (tail == "registry") {
        ns.kind = NsKind::registry;
    } else {
        ns.kind = NsKind::other_sdmx;
    }
    return ns;
}

} // namespace dataflow::sdmx::xml

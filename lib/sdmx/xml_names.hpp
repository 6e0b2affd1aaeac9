#pragma once
/// Names and text of SDMX-ML elements as pugixml gives them: pugixml does no namespace
/// processing, so the readers match elements by namespace URI (classify_uri) and local name.

#include <pugixml.hpp>

#include <cstring>
#include <string>
#include <string_view>

namespace dataflow::sdmx::xml {

enum class NsKind { none, message, structure, common, data, footer, registry, other_sdmx, other };

struct Ns {
    NsKind kind = NsKind::none;
    int version = 0; ///< 20, 21, 30 for SDMX namespaces, 0 otherwise
    bool sdmx() const { return version != 0; }
};

/// SDMX 2.0 spells its URIs with capitals (http://www.SDMX.org/...), so compare ignoring case.
Ns classify_uri(std::string_view uri);

/// The prefix ("" when none) and local name of a qualified name, in one scan of it.
struct QName {
    std::string_view prefix;
    std::string_view local;
};
inline QName split_qname(const char* qname) {
    const char* colon = nullptr;
    const char* p = qname;
    for (; *p != '\0'; ++p) {
        if (*p == ':' && colon == nullptr) {
            colon = p;
        }
    }
    if (colon == nullptr) {
        return {{}, std::string_view(qname, static_cast<std::size_t>(p - qname))};
    }
    return {std::string_view(qname, static_cast<std::size_t>(colon - qname)),
            std::string_view(colon + 1, static_cast<std::size_t>(p - colon - 1))};
}

inline std::string_view local_name(const char* qname) {
    return split_qname(qname).local;
}

inline std::string_view prefix_of(const char* qname) {
    const char* colon = std::strchr(qname, ':');
    return colon ? std::string_view(qname, static_cast<std::size_t>(colon - qname))
                 : std::string_view();
}

/// Concatenated character data of the element (comments are skipped, so `<ID>A<!-- c -->B</ID>`
/// gives "AB").
inline std::string text_of(pugi::xml_node node) {
    // With parse_embed_pcdata the first run of text is the element's own value.
    std::string out = node.value();
    for (auto c = node.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
            out += c.value();
        }
    }
    return out;
}

inline std::string_view lang_of(pugi::xml_node node) {
    if (auto a = node.attribute("xml:lang")) {
        return a.value();
    }
    return node.attribute("lang").value();
}

} // namespace dataflow::sdmx::xml

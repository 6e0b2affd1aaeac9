#include "analysis/render.hpp"

#include "analysis/agency.hpp"
#include "sdmx/source.hpp"
#include "util/json_writer.hpp"
#include "util/strings.hpp"
#include "util/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace dataflow::analysis {

using util::JsonWriter;

void write_localized_texts(JsonWriter& w, const std::vector<sdmx::LocalizedText>& texts) {
    // One entry per language (the first one given); a text without xml:lang is "und".
    w.begin_object();
    std::set<std::string_view> seen;
    for (const auto& t : texts) {
        std::string_view lang = t.lang.empty() ? std::string_view("und") : std::string_view(t.lang);
        if (seen.insert(lang).second) {
            w.field(lang, t.text);
        }
    }
    w.end_object();
}

namespace {

void write_optional(JsonWriter& w, std::string_view key, const std::string* text) {
    w.key(key);
    if (text != nullptr) {
        w.value(*text);
    } else {
        w.null();
    }
}

void write_flow(JsonWriter& w, const Report& report, const AnalyzedFlow& f,
                std::string_view category) {
    const auto& d = *f.flow;
    const auto& c = f.categorization;
    w.begin_object();
    w.field("id", d.id);
    w.field("agency", d.agency_id);
    w.field("version", d.version);
    write_optional(w, "name_it", sdmx::reference_name_it(d));
    write_optional(w, "name_en", sdmx::reference_name_en(d));
    w.field("display_name", f.display_name);
    w.key("names");
    write_localized_texts(w, d.names);
    w.field("description", sdmx::first_description(d));
    w.key("descriptions");
    write_localized_texts(w, d.descriptions);
    w.field("category", category);
    if (report.has_agency_categories()) {
        w.field("category_source", f.category_from_agency ? "agency" : "keywords");
    }
    w.field("relevance_score", c.score);
    w.key("matched_keywords").begin_array();
    for (auto k : c.matched_keywords) {
        w.value(k);
    }
    w.end_array();
    w.field("confidence", c.confidence);
    w.field("last_update", d.last_update);
    w.field("non_production", d.non_production);
    w.field("file_only", d.file_only);
    w.field("hidden", d.hidden);
    w.key("is_final");
    if (d.is_final) {
        w.value(*d.is_final);
    } else {
        w.null();
    }
    w.key("urn");
    if (d.urn.empty()) {
        w.null();
    } else {
        w.value(d.urn);
    }
    w.key("structure");
    if (d.structure.empty()) {
        w.null();
    } else {
        w.begin_object();
        w.field("id", d.structure.id);
        w.field("agency", d.structure.agency_id);
        w.field("version", d.structure.version);
        w.key("urn");
        if (d.structure.urn.empty()) {
            w.null();
        } else {
            w.value(d.structure.urn);
        }
        w.end_object();
    }
    if (report.has_agency_categories()) {
        w.key("agency_categories");
        write_agency_categories(w, *report.category_schemes, f.agency_categories);
    }
    w.end_object();
}

void write_test(JsonWriter& w, const Report& report, const TestResult& t,
                std::string_view category) {
    const auto& p = t.probe;
    w.begin_object();
    w.key("dataflow");
    write_flow(w, report, t.flow, category);
    w.key("test").begin_object();
    w.field("dataflow_id", p.dataflow_id);
    w.field("status", p.pending ? "pending" : (p.is_successful() ? "ok" : "failed"));
    w.field("data_access_success", p.data_access_success);
    w.key("status_code");
    if (p.status_code) {
        w.value(*p.status_code);
    } else {
        w.null();
    }
    w.field("size_bytes", static_cast<std::int64_t>(p.size_bytes));
    w.field("size_mb", p.size_mib());
    w.field("observations_count", static_cast<std::int64_t>(p.observations_count));
    w.field("parse_error", p.parse_error);
    w.field("is_successful", p.is_successful());
    w.field("error_message", p.error_message);
    w.field("tested_at", p.tested_at);
    w.field("series_count", static_cast<std::int64_t>(p.series_count));
    w.field("outcome", p.pending ? std::string_view("pending") : to_string(p.outcome));
    w.field("duration_seconds", p.duration_seconds);
    w.field("time_to_first_byte_seconds", p.time_to_first_byte_seconds);
    w.field("wire_bytes", static_cast<std::int64_t>(p.wire_bytes));
    w.field("truncated", p.truncated);
    w.field("format", p.format);
    w.field("query", p.query);
    w.end_object();
    w.field("tableau_ready", t.readiness.tableau_ready);
    w.field("suggested_connection", to_string(t.readiness.connection));
    w.field("suggested_refresh", to_string(t.readiness.refresh));
    w.field("priority", t.readiness.priority);
    w.end_object();
}

std::string_view category_of(const Report& r, const AnalyzedFlow& f) {
    return r.category_counts[f.categorization.category].first;
}

} // namespace

void write_report_members(JsonWriter& w, const Report& report) {
    w.field("total_analyzed", report.total_analyzed);
    w.key("category_counts").begin_object();
    for (const auto& [cat, n] : report.category_counts) {
        w.field(cat, n);
    }
    w.end_object();
    w.key("categorized_dataflows").begin_object();
    for (const auto& g : report.groups) {
        w.key(g.category).begin_array();
        for (const auto& f : g.flows) {
            write_flow(w, report, f, g.category);
        }
        w.end_array();
    }
    w.end_object();
    w.key("test_results");
    write_test_results(w, report);
    w.field("tableau_ready_count", report.tableau_ready_count);
    w.field("analysis_timestamp", report.analysis_timestamp);
    w.key("performance_metrics").begin_object();
    w.field("analysis_duration_seconds", report.analysis_duration_seconds);
    w.field("dataflows_processed", report.total_analyzed);
    w.field("categories_found", report.categories_found);
    w.field("tests_performed", report.test_results.size());
    w.field("cache_hit", report.cache_hit);
    w.key("cache_age_seconds");
    if (report.cache_age_seconds) {
        w.value(*report.cache_age_seconds);
    } else {
        w.null();
    }
    w.field("cache_stale", report.cache_stale);
    w.end_object();
    w.field("returned_count", report.returned);
    w.key("source").begin_object();
    w.field("name", report.source_name);
    w.field("format", report.source_format);
    w.end_object();
    w.key("warnings").begin_array();
    for (const auto& msg : report.warnings) {
        w.value(msg);
    }
    w.end_array();
    if (report.agreement) {
        w.key("classification_agreement");
        write_agreement(w, report, *report.agreement);
    }
}

void write_flow_json(JsonWriter& w, const Report& report, const AnalyzedFlow& flow) {
    write_flow(w, report, flow, category_of(report, flow));
}

void write_test_results(JsonWriter& w, const Report& report) {
    w.begin_array();
    for (const auto& t : report.test_results) {
        write_test(w, report, t, category_of(report, t.flow));
    }
    w.end_array();
}

std::string render_json(const Report& report, int indent) {
    std::string out;
    out.reserve(1024 + report.returned * 1200);
    JsonWriter w(out, indent);
    w.begin_object();
    write_report_members(w, report);
    w.end_object();
    out += '\n';
    return out;
}

std::string render_tests_json(const Report& report, int indent) {
    std::string out;
    JsonWriter w(out, indent);
    w.begin_object();
    w.key("test_results");
    write_test_results(w, report);
    w.field("tests_performed", report.test_results.size());
    w.field("tableau_ready_count", report.tableau_ready_count);
    w.field("analysis_timestamp", report.analysis_timestamp);
    w.end_object();
    out += '\n';
    return out;
}

namespace {

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) {
            out += ';';
        }
        out += n;
    }
    return out;
}

} // namespace

void append_csv_field(std::string& out, std::string_view v) {
    if (v.find_first_of(",\"\r\n") == std::string_view::npos) {
        out.append(v);
        return;
    }
    out += '"';
    for (char c : v) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
}

std::string render_csv(const Report& report) {
    std::string out;
    out.reserve(256 + report.returned * 300);
    out += "category,rank,id,agency,version,display_name,name_it,name_en,relevance_score,"
           "confidence,matched_keywords,last_update,non_production,file_only,hidden,description,"
           "probe_outcome,observations_count,series_count,size_bytes,tableau_ready";
    // With agency categories only: without them the CSV is byte for byte what it was.
    out += report.has_agency_categories() ? ",agency_category\r\n" : "\r\n";
    std::map<std::string_view, const TestResult*> tests;
    for (const auto& t : report.test_results) {
        tests[t.flow.flow->id] = &t;
    }
    for (const auto& g : report.groups) {
        std::size_t rank = 0;
        for (const auto& f : g.flows) {
            const auto& d = *f.flow;
            std::string keywords;
            for (auto k : f.categorization.matched_keywords) {
                if (!keywords.empty()) {
                    keywords += ';';
                }
                keywords += k;
            }
            const std::string* it = sdmx::reference_name_it(d);
            const std::string* en = sdmx::reference_name_en(d);
            std::string_view fields[] = {
                g.category,
                {},
                d.id,
                d.agency_id,
                d.version,
                f.display_name,
                it ? std::string_view(*it) : std::string_view(),
                en ? std::string_view(*en) : std::string_view(),
            };
            for (std::size_t i = 0; i < std::size(fields); ++i) {
                if (i == 1) {
                    out += std::to_string(++rank);
                } else {
                    append_csv_field(out, fields[i]);
                }
                out += ',';
            }
            out += fmt::format("{},{},", f.categorization.score, f.categorization.confidence);
            append_csv_field(out, keywords);
            out += ',';
            append_csv_field(out, d.last_update.value_or(""));
            out += fmt::format(",{},{},{},", d.non_production, d.file_only, d.hidden);
            append_csv_field(out, sdmx::first_description(d));
            if (auto t = tests.find(d.id); t != tests.end()) {
                const auto& p = t->second->probe;
                out += ',';
                append_csv_field(out,
                                 p.pending ? std::string_view("pending") : to_string(p.outcome));
                out += fmt::format(",{},{},{},{}", p.observations_count, p.series_count,
                                   p.size_bytes, t->second->readiness.tableau_ready);
            } else {
                out += ",,,,,";
            }
            if (report.has_agency_categories()) {
                out += ',';
                append_csv_field(out, joined(f.agency_top_names));
            }
            out += "\r\n";
        }
    }
    return out;
}

namespace {

constexpr const char* k_palette[] = {"\x1b[36m", "\x1b[33m", "\x1b[32m",
                                     "\x1b[35m", "\x1b[34m", "\x1b[31m"};
constexpr const char* k_reset = "\x1b[0m";
constexpr const char* k_bold = "\x1b[1m";
constexpr const char* k_dim = "\x1b[2m";

std::string pad_right(std::string_view s, std::size_t width) {
    std::string out(s);
    auto w = util::display_width(s);
    if (w < width) {
        out.append(width - w, ' ');
    }
    return out;
}

std::string pad_left(std::string_view s, std::size_t width) {
    auto w = util::display_width(s);
    std::string out;
    if (w < width) {
        out.append(width - w, ' ');
    }
    out += s;
    return out;
}

/// Agencies leave double and trailing spaces and line breaks in names: one space each, for tables,
/// and no control characters (escape sequences) from the input reach the terminal.
std::string single_line(std::string_view text) {
    return util::collapse_ws(util::trim(util::printable(text)));
}

} // namespace

std::string probe_summary(const ProbeResult& p) {
    if (p.pending) {
        return "pending";
    }
    if (p.outcome == ProbeOutcome::success || p.outcome == ProbeOutcome::too_large) {
        return fmt::format("{}{} obs, {} series, {}", p.truncated ? ">=" : "", p.observations_count,
                           p.series_count, sdmx::format_bytes(p.size_bytes));
    }
    if (p.outcome == ProbeOutcome::no_data) {
        return "no data";
    }
    return p.outcome == ProbeOutcome::none ? std::string("failed")
                                           : std::string(to_string(p.outcome));
}

namespace {

struct TableRow {
    std::string rank, category, agency, score, conf, id, name, updated, data;
    std::size_t cat_index;
};

/// The agency column's cell: the first top-level agency category's name (cut to 30 columns),
/// "+N" when the dataflow has N more.
std::string agency_cell(const AnalyzedFlow& f) {
    if (f.agency_top_names.empty()) {
        return "-";
    }
    auto cell = util::truncate_to_width(single_line(f.agency_top_names.front()), 30);
    if (f.agency_top_names.size() > 1) {
        cell += fmt::format(" +{}", f.agency_top_names.size() - 1);
    }
    return cell;
}

std::vector<TableRow> table_rows(const Report& report) {
    std::map<std::string_view, const TestResult*> tests;
    for (const auto& t : report.test_results) {
        tests[t.flow.flow->id] = &t;
    }
    bool probed = !report.test_results.empty();
    std::vector<TableRow> rows;
    for (const auto& g : report.groups) {
        std::size_t rank = 0;
        for (const auto& f : g.flows) {
            const auto& d = *f.flow;
            std::string data;
            if (auto t = tests.find(d.id); t != tests.end()) {
                data = probe_summary(t->second->probe);
            } else if (probed) {
                data = "-";
            }
            rows.push_back({std::to_string(++rank), g.category,
                            report.has_agency_categories() ? agency_cell(f) : std::string(),
                            std::to_string(f.categorization.score),
                            fmt::format("{:.2f}", f.categorization.confidence),
                            util::truncate_to_width(single_line(d.id), 40),
                            single_line(f.display_name),
                            d.last_update ? d.last_update->substr(0, 10) : "-", data,
                            f.categorization.category});
        }
    }
    return rows;
}

} // namespace

std::string render_table(const Report& report, const TableOptions& options) {
    using Row = TableRow;
    std::vector<Row> rows = table_rows(report);
    bool probed = !report.test_results.empty();
    bool agency = report.has_agency_categories();
    const Row header{"#",     "CATEGORY", agency ? "AGENCY CATEGORY" : "",
                     "SCORE", "CONF",     "ID",
                     "NAME",  "UPDATED",  probed ? "DATA" : "",
                     0};
    auto width_of = [&](auto member) {
        std::size_t w = util::display_width(header.*member);
        for (const auto& r : rows) {
            w = std::max(w, util::display_width(r.*member));
        }
        return w;
    };
    std::size_t w_rank = width_of(&Row::rank), w_cat = width_of(&Row::category),
                w_agency = agency ? width_of(&Row::agency) : 0, w_score = width_of(&Row::score),
                w_conf = width_of(&Row::conf), w_id = width_of(&Row::id),
                w_upd = width_of(&Row::updated), w_data = probed ? width_of(&Row::data) : 0;
    std::size_t fixed = w_rank + w_cat + w_score + w_conf + w_id + w_upd + 2 * 6 +
                        (probed ? w_data + 2 : 0) + (agency ? w_agency + 2 : 0);
    std::size_t w_name = options.width > fixed + 12 ? options.width - fixed : 12;
    w_name = std::min(w_name, std::max(width_of(&Row::name), std::size_t{4}));

    std::string out;
    auto line = [&](const Row& r, bool is_header) {
        std::string name = util::truncate_to_width(r.name, w_name);
        std::string cat = pad_right(r.category, w_cat);
        if (options.color && !is_header) {
            bool fallback = r.cat_index + 1 == report.category_counts.size();
            const char* colour = fallback ? k_dim : k_palette[r.cat_index % std::size(k_palette)];
            cat = std::string(colour) + cat + k_reset;
        }
        if (agency) {
            cat = fmt::format("{}  {}", cat, pad_right(r.agency, w_agency));
        }
        std::string text =
            fmt::format("{}  {}  {}  {}  {}  {}  {}", pad_left(r.rank, w_rank), cat,
                        pad_left(r.score, w_score), pad_left(r.conf, w_conf), pad_right(r.id, w_id),
                        pad_right(name, w_name), probed ? pad_right(r.updated, w_upd) : r.updated);
        if (probed) {
            text += "  " + r.data;
        }
        if (is_header && options.color) {
            out += k_bold;
            out += text;
            out += k_reset;
        } else {
            out += text;
        }
        out += '\n';
    };
    line(header, true);
    for (const auto& r : rows) {
        line(r, false);
    }
    std::string counts;
    for (const auto& [cat, n] : report.category_counts) {
        counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", cat, n);
    }
    out += fmt::format("\n{} of {} dataflows shown{} ({}, {}).\nAll dataflows by category: {}.\n",
                       report.returned, report.total_analyzed,
                       report.limit > 0 ? fmt::format(" (limit {})", report.limit) : "",
                       util::printable(report.source_name), report.source_format, counts);
    return out;
}

std::string render_summary(const Report& report) {
    std::string out = fmt::format("=== SDMX Dataflow Analysis Summary ===\nSource: {} ({})\n"
                                  "Total dataflows analyzed: {}\nCategory breakdown:\n",
                                  util::printable(report.source_name), report.source_format,
                                  report.total_analyzed);
    std::size_t w = 0;
    for (const auto& [cat, n] : report.category_counts) {
        w = std::max(w, util::display_width(cat));
    }
    for (const auto& [cat, n] : report.category_counts) {
        double pct = report.total_analyzed == 0 ? 0.0
                                                : 100.0 * static_cast<double>(n) /
                                                      static_cast<double>(report.total_analyzed);
        out += fmt::format("  - {} {:>6}  ({:5.1f}%)\n", pad_right(cat, w), n, pct);
    }
    out += fmt::format("Returned: {} dataflows in {} categories{}\n", report.returned,
                       report.categories_found,
                       report.limit > 0 ? fmt::format(" (limit {})", report.limit) : "");
    out += fmt::format("Tableau-ready: {} of {} tested\n", report.tableau_ready_count,
                       report.test_results.size());
    out += fmt::format("Analysis completed at: {}\n", report.analysis_timestamp);
    if (report.has_agency_categories()) {
        out += fmt::format("Agency categories: {} of {} dataflows categorised by the agency, {} "
                           "mapped to a topic\n",
                           report.agency_categorised, report.total_analyzed,
                           report.agreement ? report.agreement->compared : 0);
        out += render_agreement(report);
    }
    out += "=== End Summary ===\n";
    return out;
}

} // namespace dataflow::analysis

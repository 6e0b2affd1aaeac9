#include "upstream/probe.hpp"

#include "sdmx/data_counter.hpp"
#include "upstream/sdmx_rest.hpp"
#include "util/time.hpp"

#include <fmt/format.h>

#include <memory>

namespace dataflow::upstream {

namespace {

class CountingSink final : public BodySink {
public:
    void begin() override { m_counter = std::make_unique<sdmx::DataCounter>(); }
    bool write(std::string_view chunk) override { return m_counter->feed(chunk); }
    Outcome finish(std::string& message) override {
        if (!m_counter) {
            m_counter = std::make_unique<sdmx::DataCounter>();
        }
        counts = m_counter->finish();
        if (counts.no_results()) {
            message = "no data (SDMX error " + counts.sdmx_error_code.value_or("") +
                      (counts.sdmx_error_text.empty() ? "" : ": " + counts.sdmx_error_text) + ")";
            return Outcome::no_data;
        }
        if (counts.sdmx_error_code) {
            message = "SDMX error " + *counts.sdmx_error_code + ": " + counts.sdmx_error_text;
            return Outcome::client_error;
        }
        if (!counts.error.empty()) {
            message = counts.error;
            return Outcome::bad_payload;
        }
        message = fmt::format("{} series, {} observations", counts.series, counts.observations);
        if (!counts.footer.empty()) {
            message += "; footer: " + counts.footer.substr(0, 300);
        }
        return Outcome::success;
    }
    sdmx::DataCounts counts;

private:
    std::unique_ptr<sdmx::DataCounter> m_counter;
};

} // namespace

Prober::Prober(Client& client, util::Url base, ProbeSettings settings)
    : m_client(client), m_base(std::move(base)), m_settings(std::move(settings)) {}

std::string Prober::url_for(const std::string& flow) const {
    DataQuery query;
    query.last_n_observations = m_settings.last_n_observations;
    query.detail = m_settings.detail;
    return data_url(m_base, flow, query).str();
}

analysis::ProbeResult Prober::probe(const std::string& flow) {
    DataQuery query;
    query.last_n_observations = m_settings.last_n_observations;
    query.detail = m_settings.detail;
    auto url = data_url(m_base, flow, query);

    CountingSink sink;
    analysis::ProbeResult p;
    p.dataflow_id = flow;
    p.query = url.str();
    p.tested_at = util::format_rfc3339(std::chrono::system_clock::now());
    // The probe's byte cap, not the catalogue's.
    m_last = m_client.get(url, OpClass::data, sink, k_data_accept, m_settings.max_bytes);
    const auto& r = m_last;
    p.outcome = probe_outcome(r.outcome);
    if (r.status != 0) {
        p.status_code = r.status;
    }
    p.size_bytes = r.body_bytes;
    p.wire_bytes = r.wire_bytes;
    p.series_count = sink.counts.series;
    p.observations_count = sink.counts.observations;
    p.format = sink.counts.format;
    p.duration_seconds = std::chrono::duration<double>(r.duration).count();
    p.time_to_first_byte_seconds = std::chrono::duration<double>(r.time_to_first_byte).count();
    p.truncated = r.outcome == Outcome::too_large;
    p.data_access_success = r.outcome == Outcome::success || r.outcome == Outcome::too_large;
    p.parse_error = r.outcome == Outcome::bad_payload;
    if (r.outcome != Outcome::success) {
        p.error_message = r.message;
    }
    return p;
}

} // namespace dataflow::upstream

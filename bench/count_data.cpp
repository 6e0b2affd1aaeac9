// Streams an SDMX data file through the probe's counter in 64 KiB reads and reports the
// throughput and peak RSS: `bench_count FILE [runs]`. Used by bench/bench_probe.py.

#include "sdmx/data_counter.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_count FILE [runs]\n");
        return 2;
    }
    int runs = argc > 2 ? std::atoi(argv[2]) : 5;
    std::vector<double> rates;
    for (int r = 0; r < runs; ++r) {
        std::FILE* f = std::fopen(argv[1], "rb");
        if (f == nullptr) {
            std::perror(argv[1]);
            return 1;
        }
        std::vector<char> buffer(64 * 1024);
        dataflow::sdmx::DataCounter counter;
        auto start = std::chrono::steady_clock::now();
        std::size_t n = 0;
        while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
            counter.feed(std::string_view(buffer.data(), n));
        }
        auto counts = counter.finish();
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::fclose(f);
        double mb = static_cast<double>(counts.bytes) / 1e6;
        rates.push_back(mb / seconds);
        std::printf("run %d: %.1f MB in %.3f s = %.1f MB/s; series=%llu obs=%llu error='%s'\n",
                    r + 1, mb, seconds, mb / seconds,
                    static_cast<unsigned long long>(counts.series),
                    static_cast<unsigned long long>(counts.observations), counts.error.c_str());
    }
    std::sort(rates.begin(), rates.end());
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("median %.1f MB/s; peak RSS %.1f MiB\n", rates[rates.size() / 2],
                static_cast<double>(usage.ru_maxrss) / 1024.0);
    return 0;
}

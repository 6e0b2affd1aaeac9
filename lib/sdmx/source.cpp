#include "sdmx/source.hpp"

#include "util/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dataflow::sdmx {

namespace {

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() {
        if (m_fd >= 0) {
            ::close(m_fd);
        }
    }
    Fd(Fd&& other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    Fd& operator=(Fd&&) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

[[noreturn]] void too_large(const std::string& name, std::size_t limit) {
    throw InputError(fmt::format("{}: input is larger than the limit of {} ({} bytes); raise it "
                                 "with --max-input-bytes if the file is genuine",
                                 name, format_bytes(limit), limit));
}

/// Reads `fd` to its end, refusing more than `limit` bytes.
std::string read_all(int fd, const std::string& name, std::size_t limit, std::size_t hint) {
    std::string data;
    if (hint > 0) {
        // A regular file: read straight into the final buffer (no intermediate copy).
        data.resize(hint);
        std::size_t got = 0;
        while (got < hint) {
            ssize_t n = ::read(fd, data.data() + got, hint - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                throw InputError(fmt::format("{}: read failed: {}", name, std::strerror(errno)));
            }
            if (n == 0) {
                break; // the file shrank while we read it
            }
            got += static_cast<std::size_t>(n);
        }
        data.resize(got);
    }
    char chunk[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw InputError(fmt::format("{}: read failed: {}", name, std::strerror(errno)));
        }
        if (n == 0) {
            break;
        }
        if (data.size() + static_cast<std::size_t>(n) > limit) {
            too_large(name, limit);
        }
        data.append(chunk, static_cast<std::size_t>(n));
    }
    return data;
}

void check_not_empty(const std::string& data, const std::string& name) {
    if (data.empty()) {
        throw InputError(fmt::format(
            "{}: input is empty; expected an SDMX dataflow list (SDMX-ML or SDMX-JSON)", name));
    }
}

} // namespace

namespace {

/// Opens `path` and checks it can be read as a catalogue of at most `limits.max_bytes`; `st` is
/// its status. Throws InputError naming what to fix.
Fd open_checked(const std::string& path, const ReadLimits& limits, struct stat& st) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        int err = errno;
        if (err == ENOENT) {
            throw InputError(fmt::format("{}: no such file; check the path", path));
        }
        if (err == EACCES) {
            throw InputError(
                fmt::format("{}: permission denied; check the file's permissions", path));
        }
        throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(err)));
    }
    if (::fstat(fd.get(), &st) != 0) {
        throw InputError(fmt::format("{}: cannot stat: {}", path, std::strerror(errno)));
    }
    if (S_ISDIR(st.st_mode)) {
        throw InputError(fmt::format("{}: is a directory; give an SDMX file", path));
    }
    if (S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) > limits.max_bytes) {
        too_large(path, limits.max_bytes);
    }
    return fd;
}

} // namespace

Payload FileSource::fetch(const ReadLimits& limits) {
    struct stat st {};
    Fd fd = open_checked(m_path, limits, st);
    std::size_t hint = S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) : 0;
    Payload p{read_all(fd.get(), m_path, limits.max_bytes, hint), m_path};
    check_not_empty(p.bytes, m_path);
    return p;
}

std::optional<util::MappedFile> FileSource::map(const ReadLimits& limits) {
    struct stat st {};
    Fd fd = open_checked(m_path, limits, st);
    if (!S_ISREG(st.st_mode) || static_cast<std::size_t>(st.st_size) < k_map_min_bytes) {
        return std::nullopt;
    }
    return util::MappedFile::map(fd.get(), st);
}

std::size_t FileSource::size_hint() const {
    struct stat st {};
    if (::stat(m_path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        return static_cast<std::size_t>(st.st_size);
    }
    return 0;
}

Payload StreamSource::fetch(const ReadLimits& limits) {
    Payload p{read_all(m_fd, m_name, limits.max_bytes, 0), m_name};
    check_not_empty(p.bytes, m_name);
    return p;
}

std::unique_ptr<Source> make_local_source(std::string_view spec) {
    if (spec == "-") {
        return std::make_unique<StreamSource>(STDIN_FILENO, "<stdin>");
    }
    return std::make_unique<FileSource>(std::string(spec));
}

std::string format_bytes(std::size_t bytes) {
    if (bytes < 1024) {
        return fmt::format("{} B", bytes);
    }
    static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = -1;
    while (v >= 1024.0 && u < 3) {
        v /= 1024.0;
        ++u;
    }
    return fmt::format("{:.1f} {}", v, units[u]);
}

} // namespace dataflow::sdmx

#pragma once
/// Where a catalogue comes from: a file, standard input, and (with the upstream client) a live
/// SDMX REST endpoint. Every source yields the raw bytes plus a name for messages.

#include "util/mapped_file.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace dataflow::sdmx {

inline constexpr std::size_t k_default_max_input_bytes = 256u * 1024u * 1024u;
/// Regular files from this size up are mapped by Source::map(); smaller ones cost less to read.
inline constexpr std::size_t k_map_min_bytes = 1024u * 1024u;

struct Payload {
    std::string bytes;
    std::string name; ///< for messages: the path, "<stdin>" or the URL
};

struct ReadLimits {
    std::size_t max_bytes = k_default_max_input_bytes;
};

class Source {
public:
    virtual ~Source() = default;
    /// The name used in messages (path, "<stdin>", URL).
    virtual std::string name() const = 0;
    /// Reads the whole document; throws InputError (missing, unreadable, empty, over the cap).
    virtual Payload fetch(const ReadLimits& limits) = 0;
    /// The document's size when known before reading (a regular file), else 0.
    virtual std::size_t size_hint() const { return 0; }
    /// The whole document mapped rather than read, for read_catalog_readonly(): a regular file
    /// of k_map_min_bytes or more. nullopt: fetch() it. Throws as fetch() does for a missing,
    /// unreadable or oversized file. The caller must refuse what it read when changed() is true
    /// afterwards (written to or truncated meanwhile).
    virtual std::optional<util::MappedFile> map(const ReadLimits& /*limits*/) {
        return std::nullopt;
    }
};

/// A file on disk.
class FileSource final : public Source {
public:
    explicit FileSource(std::string path) : m_path(std::move(path)) {}
    std::string name() const override { return m_path; }
    Payload fetch(const ReadLimits& limits) override;
    std::size_t size_hint() const override;
    std::optional<util::MappedFile> map(const ReadLimits& limits) override;

private:
    std::string m_path;
};

/// An already open file descriptor read to its end (standard input).
class StreamSource final : public Source {
public:
    StreamSource(int fd, std::string name) : m_fd(fd), m_name(std::move(name)) {}
    std::string name() const override { return m_name; }
    Payload fetch(const ReadLimits& limits) override;

private:
    int m_fd;
    std::string m_name;
};

/// "-" is standard input, anything else a path. (URLs are handled by the upstream client.)
std::unique_ptr<Source> make_local_source(std::string_view spec);

/// "1.5 MiB", "812 B": sizes in messages.
std::string format_bytes(std::size_t bytes);

} // namespace dataflow::sdmx

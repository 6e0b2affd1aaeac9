#include "util/mapped_file.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <mutex>
#include <sys/mman.h>
#include <unistd.h>

namespace dataflow::util {

namespace {

/// The mappings the SIGBUS handler may repair. Written under g_mutex, read by the handler
/// without a lock: `begin` is stored last (release) and cleared first.
struct Slot {
    std::atomic<std::uintptr_t> begin{0};
    std::atomic<std::size_t> length{0}; ///< whole pages
    std::atomic<bool> truncated{false};
    bool used = false; ///< under g_mutex
};

constexpr std::size_t k_slots = 64;
std::array<Slot, k_slots> g_slots;
std::mutex g_mutex;
struct sigaction g_previous {};
std::uintptr_t g_page = 4096;

void on_sigbus(int sig, siginfo_t* info, void* context) {
    const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
    if (info->si_code > 0) { // a fault, not a signal sent by a process
        for (auto& slot : g_slots) {
            const std::uintptr_t begin = slot.begin.load(std::memory_order_acquire);
            const std::size_t length = slot.length.load(std::memory_order_relaxed);
            if (begin == 0 || at < begin || at >= begin + length) {
                continue;
            }
            // Past the file's new end: zero pages from here to the end of the mapping, and the
            // read that faulted is done again on them.
            const std::uintptr_t page = at & ~(g_page - 1);
            void* zeros = ::mmap(reinterpret_cast<void*>(page), begin + length - page, PROT_READ,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            if (zeros != MAP_FAILED) {
                slot.truncated.store(true, std::memory_order_relaxed);
                return;
            }
        }
    }
    // Not ours: what there was before. A fault happens again on return and goes there; a
    // signal sent by a process is sent again.
    ::sigaction(SIGBUS, &g_previous, nullptr);
    if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
        g_previous.sa_sigaction(sig, info, context);
        return;
    }
    if (info->si_code <= 0) {
        ::raise(sig);
    }
}

/// Installs the handler once; false when it cannot be.
bool install_handler() {
    static const bool installed = [] {
        long page = ::sysconf(_SC_PAGESIZE);
        g_page = page > 0 ? static_cast<std::uintptr_t>(page) : 4096;
        struct sigaction action {};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        return ::sigaction(SIGBUS, &action, &g_previous) == 0;
    }();
    return installed;
}

int take_slot(std::uintptr_t begin, std::size_t length) {
    std::lock_guard lock(g_mutex);
    for (std::size_t i = 0; i < k_slots; ++i) {
        Slot& slot = g_slots[i];
        if (!slot.used) {
            slot.used = true;
            slot.truncated.store(false, std::memory_order_relaxed);
            slot.length.store(length, std::memory_order_relaxed);
            slot.begin.store(begin, std::memory_order_release);
            return static_cast<int>(i);
        }
    }
    return -1;
}

void free_slot(int i) {
    std::lock_guard lock(g_mutex);
    Slot& slot = g_slots[static_cast<std::size_t>(i)];
    slot.begin.store(0, std::memory_order_release);
    slot.used = false;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
           a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

} // namespace

std::optional<MappedFile> MappedFile::map(int fd, const struct stat& st) {
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || !install_handler()) {
        return std::nullopt;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        return std::nullopt;
    }
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, own, 0);
    if (data == MAP_FAILED) {
        ::close(own);
        return std::nullopt;
    }
    const std::size_t pages = (size + g_page - 1) & ~(g_page - 1);
    const int slot = take_slot(reinterpret_cast<std::uintptr_t>(data), pages);
    if (slot < 0) {
        ::munmap(data, size);
        ::close(own);
        return std::nullopt;
    }
    return MappedFile(static_cast<const char*>(data), size, own, st, slot);
}

MappedFile::MappedFile(const char* data, std::size_t size, int fd, const struct stat& st, int slot)
    : m_data(data), m_size(size), m_fd(fd), m_slot(slot), m_stat(st) {}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : m_data(other.m_data), m_size(other.m_size), m_fd(other.m_fd), m_slot(other.m_slot),
      m_stat(other.m_stat) {
    other.m_data = nullptr;
    other.m_fd = -1;
    other.m_slot = -1;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        release();
        m_data = other.m_data;
        m_size = other.m_size;
        m_fd = other.m_fd;
        m_slot = other.m_slot;
        m_stat = other.m_stat;
        other.m_data = nullptr;
        other.m_fd = -1;
        other.m_slot = -1;
    }
    return *this;
}

MappedFile::~MappedFile() {
    release();
}

void MappedFile::release() noexcept {
    if (m_slot >= 0) {
        free_slot(m_slot);
        m_slot = -1;
    }
    if (m_data != nullptr) {
        ::munmap(const_cast<char*>(m_data), m_size);
        m_data = nullptr;
    }
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
}

bool MappedFile::nul_terminated() const {
    return m_data != nullptr && m_size % g_page != 0;
}

void MappedFile::drop(const char* from, const char* to) const noexcept {
    auto lo = reinterpret_cast<std::uintptr_t>(std::max(from, m_data));
    auto hi = reinterpret_cast<std::uintptr_t>(std::min(to, m_data + m_size));
    lo = (lo + g_page - 1) & ~(g_page - 1); // whole pages only
    hi &= ~(g_page - 1);
    if (lo < hi) {
        (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
    }
}

bool MappedFile::changed() const {
    if (m_slot >= 0 &&
        g_slots[static_cast<std::size_t>(m_slot)].truncated.load(std::memory_order_relaxed)) {
        return true;
    }
    struct stat now {};
    return ::fstat(m_fd, &now) != 0 || !same_file(now, m_stat);
}

} // namespace dataflow::util

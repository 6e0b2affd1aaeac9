#include "terminal.hpp"

#include <cstdlib>
#include <string_view>
#include <sys/ioctl.h>
#include <unistd.h>

namespace dataflow::cli {

Terminal Terminal::detect() {
    Terminal t;
    t.stdout_tty = ::isatty(STDOUT_FILENO) == 1;
    t.stderr_tty = ::isatty(STDERR_FILENO) == 1;
    t.stdin_tty = ::isatty(STDIN_FILENO) == 1;
    const char* no_color = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    t.no_color = (no_color != nullptr && *no_color != '\0') ||
                 (term != nullptr && std::string_view(term) == "dumb");
    struct winsize ws {};
    if (t.stdout_tty && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        t.width = ws.ws_col;
    } else if (const char* cols = std::getenv("COLUMNS")) {
        char* end = nullptr;
        long v = std::strtol(cols, &end, 10);
        if (end != cols && *end == '\0' && v >= 20 && v <= 10000) {
            t.width = static_cast<std::size_t>(v);
        }
    }
    return t;
}

} // namespace dataflow::cli

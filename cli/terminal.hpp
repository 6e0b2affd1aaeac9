#pragma once
/// What the process knows about its terminal and environment, read once in main() and passed
/// down (the library never reads the environment itself).

#include <cstddef>

namespace dataflow::cli {

struct Terminal {
    bool stdout_tty = false;
    bool stderr_tty = false;
    bool stdin_tty = false;
    bool no_color = false;   ///< NO_COLOR set and non-empty, or TERM=dumb
    std::size_t width = 120; ///< columns of stdout's terminal, else $COLUMNS, else 120

    static Terminal detect();
};

} // namespace dataflow::cli

#pragma once
/// The commit this binary was built from, as the dataflow_build_info metric reports it.

namespace dataflow::util {

/// `git rev-parse --short=12 HEAD` of the source tree at build time, the
/// `-DDATAFLOW_REVISION=...` override (a build without .git, such as the image's), or
/// "unknown". Defined in a file that util/revision.cmake writes at every build
/// (lib/CMakeLists.txt), so a new commit recompiles only that file.
const char* build_revision() noexcept;

} // namespace dataflow::util

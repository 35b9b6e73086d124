// Supervisor side of a hosted node's Python groups (runtime/hosted/python/README.md): a Python
// group is added like any group, with the Python group launcher (//runtime/hosted/python:
// python_group, in the node's runfiles) as its executable, and the generated table of every
// Python group of the node in the environment the group processes inherit.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <initializer_list>
#include <string>

#include "kernel/arch/hosted_linux/node.hpp"
#include "runtime/hosted/hosted_node.hpp"

namespace ambience::node {

inline constexpr const char kPythonGroupsEnv[] = "AMBIENCE_PYTHON_GROUPS";
inline constexpr const char kPythonGroupLauncher[] = "ambience/runtime/hosted/python/python_group";

// The launcher in this executable's runfiles: $RUNFILES_DIR (bazel test / run set it), else the
// `.runfiles` tree next to the executable. Empty if neither holds it.
inline std::string python_group_executable() {
  struct stat st {};
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr && *dir != 0) {
    const std::string path = std::string(dir) + "/" + kPythonGroupLauncher;
    if (::stat(path.c_str(), &st) == 0) return path;
  }
  char exe[4096];
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return {};
  const std::string path = std::string(exe, static_cast<std::size_t>(n)) + ".runfiles/" + kPythonGroupLauncher;
  return ::stat(path.c_str(), &st) == 0 ? path : std::string();
}

// hosted_group_options for a Python group: the same ring and arenas, the Python launcher.
inline hosted::GroupOptions python_group_options(const char* name, std::initializer_list<int> callers = {}) {
  hosted::GroupOptions o = hosted_group_options(name, callers);
  o.executable = python_group_executable();
  return o;
}

// Hands the node's Python group table (JSON) to the group processes started from now on.
inline bool set_python_groups(const char* table) { return ::setenv(kPythonGroupsEnv, table, 1) == 0; }

}  // namespace ambience::node

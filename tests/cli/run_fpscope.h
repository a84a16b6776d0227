// tests/cli/run_fpscope.h: runs the built `fpscope` binary without a shell and captures exit status, stdout, stderr.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef FPSCOPE_BIN
#error "FPSCOPE_BIN must name the fpscope executable (tests/cli/CMakeLists.txt)"
#endif

extern char** environ;

namespace fpscope::test {

struct RunResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string out;
  std::string err;
};

inline std::string read_whole_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs FPSCOPE_BIN with `args` (argv[1..]), stdout and stderr redirected to files
// (no pipes, so a large output cannot dead-lock the test).
inline RunResult run_fpscope(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  static int serial = 0;
  const fs::path base = fs::temp_directory_path() /
                        ("fpscope_run_" + std::to_string(::getpid()) + "_" + std::to_string(serial++));
  const std::string out_path = base.string() + ".out";
  const std::string err_path = base.string() + ".err";
  std::vector<std::string> storage{FPSCOPE_BIN};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  RunResult r;
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    r.err = "posix_spawn failed";
    return r;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = read_whole_file(out_path);
  r.err = read_whole_file(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

// The lines of a text, without their '\n'.
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// `fpscope <command> --device gpu` where this build has no CUDA or no device:
// one line on stderr naming the command, nothing on stdout, exit 2 (usage).
inline void expect_gpu_unavailable(const RunResult& r, const std::string& command) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  const std::vector<std::string> lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  const std::string prefix = "fpscope: " + command + " --device gpu: ";
  const bool no_cuda =
      lines[0] == prefix + "this fpscope was built without CUDA (nvcc was not found at configure time)";
  const bool no_device = lines[0].rfind(prefix + "no CUDA device", 0) == 0;
  EXPECT_TRUE(no_cuda || no_device) << lines[0];
}

}  // namespace fpscope::test

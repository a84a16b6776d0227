// cli/commands.h: each `fpscope` subcommand registers itself on the app through one of these.
#pragma once

#include <CLI/CLI.hpp>

namespace fpscope::cli {

// Adds a subcommand to `app`. When it runs, it stores its exit status in
// `exit_code` (0 success, 1 partial failure such as unreadable tensors, 2 usage
// error) and throws fpscope::Error for user errors, which main() prints on one line.
using AddCommand = void (*)(CLI::App& app, int& exit_code);

void add_formats_command(CLI::App& app, int& exit_code);
void add_convert_command(CLI::App& app, int& exit_code);
void add_quantize_command(CLI::App& app, int& exit_code);
void add_analyze_command(CLI::App& app, int& exit_code);
void add_gemm_command(CLI::App& app, int& exit_code);
void add_validate_command(CLI::App& app, int& exit_code);
void add_probe_tensor_cores_command(CLI::App& app, int& exit_code);
void add_report_command(CLI::App& app, int& exit_code);

}  // namespace fpscope::cli

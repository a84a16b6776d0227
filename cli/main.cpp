// cli/main.cpp: the `fpscope` command: subcommand dispatch and the one-line error report.
#include <cstdio>
#include <exception>

#include <fmt/core.h>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"fpscope: bit-exact float-format emulation and error analysis of training tensors"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fpscope 0.1.0");
  int exit_code = 0;
  constexpr fpscope::cli::AddCommand kCommands[] = {
      fpscope::cli::add_formats_command,
      fpscope::cli::add_convert_command,
      fpscope::cli::add_quantize_command,
      fpscope::cli::add_analyze_command,
      fpscope::cli::add_gemm_command,
      fpscope::cli::add_validate_command,
      fpscope::cli::add_probe_tensor_cores_command,
      fpscope::cli::add_report_command,
  };
  for (fpscope::cli::AddCommand add : kCommands) add(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);
    return status == 0 ? 0 : 2;
  } catch (const fpscope::Error& e) {
    fmt::print(stderr, "fpscope: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "fpscope: internal error: {}\n", e.what());
    return 3;
  }
  return exit_code;
}

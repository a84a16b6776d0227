// cli/cmd_probe_tensor_cores.cpp: `fpscope probe-tensor-cores` (Fasi et al. probes + random tiles) and `fpscope gpu-benchmark` (cuBLASLt GEMMs, copy bandwidth).
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/commands.h"
#include "core/error.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::cli {
namespace {

void print_device() {
  const gpu::DeviceInfo d = gpu::device_info();  // throws "no CUDA device: ..." without one
  fmt::print("device: {} (sm_{}{}, {} SMs, {:.1f} GiB; this build: sm_{})\n", d.name, d.compute_major,
             d.compute_minor, d.multiprocessors, static_cast<double>(d.memory_bytes) / (1u << 30),
             d.compiled_architectures);
}

int run_probes(const gpu::ProbeOptions& options) {
  print_device();
  fmt::print("{:<46} {:>5} {:>3} {:>3} {:<9} {:<10} {:>5} {:>9} {:>9}  {}\n", "instruction", "exact", "K", "F",
             "align", "out-round", "carry", "tiles", "agree%", "model");
  int status = 0;
  for (const gpu::ProbeResult& r : gpu::probe_tensor_cores(options)) {
    if (!r.unavailable.empty()) {
      fmt::print("{:<46} skipped: {}\n", r.instruction, r.unavailable);
      continue;
    }
    const double agree = r.tiles == 0 ? 0.0 : 100.0 * static_cast<double>(r.tiles_bit_identical) / static_cast<double>(r.tiles);
    fmt::print("{:<46} {:>5} {:>3} {:>3} {:<9} {:<10} {:>5} {:>9} {:>9.3f}  {}\n", r.instruction,
               r.exact_products ? "yes" : "no", r.group_size, r.fraction_bits, r.alignment, r.output_rounding,
               r.carry_bits >= 3 ? ">=3" : "<3", r.tiles, agree, r.model_spec);
    if (r.tiles_bit_identical != r.tiles) status = 1;
  }
  return status;
}

int run_benchmark(const gpu::GemmOptions& options) {
  print_device();
  const double bandwidth = gpu::copy_bandwidth_bytes_per_second();
  fmt::print("device copy bandwidth (read + write): {:.0f} GB/s\n", bandwidth / 1e9);
  fmt::print("{:<56} {:>9} {:>10} {:>12}\n", "GEMM", "TFLOP/s", "ms/GEMM", "max rel err");
  for (const gpu::GemmBenchmark& g : gpu::benchmark_gemms(options)) {
    if (!g.unavailable.empty()) {
      fmt::print("{:<56} skipped: {}\n", g.name, g.unavailable);
      continue;
    }
    fmt::print("{:<56} {:>9.1f} {:>10.3f} {:>12.3e}\n", g.name, g.tflops, g.seconds_per_gemm * 1e3,
               g.max_normalized_error);
  }
  return 0;
}

}  // namespace

void add_probe_tensor_cores_command(CLI::App& app, int& exit_code) {
  auto probe = std::make_shared<gpu::ProbeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "probe-tensor-cores", "Measure the GPU's tensor-core accumulation (K, F, rounding, carry) and replay random tiles");
  cmd->add_option("--tiles", probe->random_tiles, "Random tiles compared bit for bit with the accumulation model")
      ->capture_default_str();
  cmd->add_option("--seed", probe->seed, "Seed of the random tiles")->capture_default_str();
  cmd->footer("Exit status 0 when every random tile matches its model, 1 otherwise, 2 without a CUDA device.");
  cmd->callback([probe, &exit_code] { exit_code = run_probes(*probe); });

  auto bench = std::make_shared<gpu::GemmOptions>();
  CLI::App* b = app.add_subcommand("gpu-benchmark", "cuBLASLt FP8 and BF16 GEMM throughput beside the device copy bandwidth");
  b->add_option("--m", bench->m, "Rows of the output")->capture_default_str();
  b->add_option("--n", bench->n, "Columns of the output")->capture_default_str();
  b->add_option("--k", bench->k, "Reduction length")->capture_default_str();
  b->add_option("--iterations", bench->iterations, "Timed GEMMs per case")->capture_default_str();
  b->callback([bench, &exit_code] { exit_code = run_benchmark(*bench); });
}

}  // namespace fpscope::cli

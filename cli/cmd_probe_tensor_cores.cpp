// cli/cmd_probe_tensor_cores.cpp: `fpscope probe-tensor-cores` (Fasi et al. probes + random tiles) and `fpscope gpu-benchmark` (cuBLASLt GEMMs, analysis kernels, copy bandwidth).
#include <memory>
#include <string>
#include <vector>

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

struct BenchmarkArgs {
  gpu::GemmOptions gemm;
  gpu::AnalysisBenchmarkOptions analysis;
};

int run_benchmark(const BenchmarkArgs& args) {
  const gpu::GemmOptions& options = args.gemm;
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
  // Issue 7's targets: one format at >= 70% of the copy bandwidth, the default sweep at >= 25%.
  if (args.analysis.elements > 0) {
    const std::vector<gpu::AnalysisBenchmark> analysis = gpu::benchmark_analysis(args.analysis);
    for (std::size_t i = 0; i < analysis.size(); ++i) {
      const gpu::AnalysisBenchmark& a = analysis[i];
      const double pct = 100.0 * a.input_bytes_per_second / bandwidth;
      fmt::print("analysis {}: {} elements x {} combinations, {:.3f} ms kernels ({:.3f} ms with copy-back and fold), "
                 "{:.0f} GB/s input = {:.1f}% of copy bandwidth (target >= {}%)\n",
                 a.name, a.elements, a.combinations, a.kernel_seconds * 1e3, a.wall_seconds * 1e3,
                 a.input_bytes_per_second / 1e9, pct, i == 0 ? 70 : 25);
    }
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

  auto bench = std::make_shared<BenchmarkArgs>();
  CLI::App* b = app.add_subcommand(
      "gpu-benchmark", "cuBLASLt FP8 and BF16 GEMM throughput and the analysis kernels' input bandwidth beside the device copy bandwidth");
  b->add_option("--m", bench->gemm.m, "Rows of the output")->capture_default_str();
  b->add_option("--n", bench->gemm.n, "Columns of the output")->capture_default_str();
  b->add_option("--k", bench->gemm.k, "Reduction length")->capture_default_str();
  b->add_option("--iterations", bench->gemm.iterations, "Timed GEMMs per case")->capture_default_str();
  b->add_option("--analysis-elements", bench->analysis.elements,
                "Device-resident elements (float32 values as doubles) of the analysis benchmark; 0 skips it")
      ->capture_default_str();
  b->callback([bench, &exit_code] { exit_code = run_benchmark(*bench); });
}

}  // namespace fpscope::cli

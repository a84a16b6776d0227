// cli/cmd_gemm.cpp: `fpscope gemm`: replay each linear layer's GEMMs under accumulation models and split the error into input quantization and accumulation; --device gpu adds cuBLASLt's products of the same quantized operands.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/atomic_file.h"
#include "analysis/dataset.h"
#include "analysis/gemm.h"
#include "analysis/gemm_layers.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/accumulate.h"
#include "core/error.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::cli {
namespace {

struct GemmArgs {
  std::vector<std::string> paths;
  std::string formats = "e4m3/e5m2";
  std::string recipes = "tensor";
  std::string models = "fp32-seq,nv-h100-fp8,nv-h100-fp8-promote128";
  std::size_t sample_rows = 256;
  std::uint64_t seed = 0;
  std::string filter;
  std::string json_path;
  bool k_sweep = false;
  std::size_t k_max = 4096;
  double synthetic_mean = 0.5;
  int threads = 1;
  std::string device = "cpu";  // cpu | gpu (gpu/fpscope_gpu.h replay_gemm_on_device)
};

// The model column; with --device gpu wide enough for the device variants' names
// ("gpu:cublaslt e4m3*e5m2 fp32-out fast-accum").
constexpr int kModelWidth = 24;
constexpr int kDeviceModelWidth = 44;

std::string fmt_value(double x, const char* spec = "{:.3g}") {
  if (std::isnan(x)) return "-";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return fmt::format(fmt::runtime(spec), x);
}

void print_replay_header(int model_width) {
  fmt::print("{:<28} {:<11} {:>15} {:<11} {:<7} {:<{}} {:>9} {:>9} {:>7} {:>10} {:>10} {:>7} {:>7}\n", "layer",
             "gemm", "MxNxK", "formats", "recipe", "model", model_width, "rel_frob", "max_rel", "SQNR", "input_q", "accum",
             "acc%", "nonfin");
}

void print_replay(const GemmReplay& r, int model_width) {
  const std::string shape = fmt::format("{}x{}x{}", r.shape.rows, r.shape.cols, r.shape.depth);
  const std::string formats = r.format_a == r.format_b ? r.format_a : r.format_a + "*" + r.format_b;
  for (const GemmModelResult& m : r.models) {
    const double in = r.input_quantization.error_sum_squares;
    const double acc = m.accumulation.error_sum_squares;
    const double share = in + acc > 0 ? 100.0 * acc / (in + acc) : 0.0;
    // nonfin: outputs that overflowed to inf or NaN (left out of the other columns).
    fmt::print("{:<28} {:<11} {:>15} {:<11} {:<7} {:<{}} {:>9} {:>9} {:>7} {:>10} {:>10} {:>7} {:>7}\n", r.layer,
               r.gemm, shape, formats, r.recipe, m.model, model_width, fmt_value(m.total.rel_frobenius()),
               fmt_value(m.total.max_rel_error), fmt_value(m.total.sqnr_db(), "{:.1f}"),
               fmt_value(r.input_quantization.rel_frobenius()), fmt_value(m.accumulation.rel_frobenius()),
               fmt::format("{:.2g}", share), m.total.nonfinite);
    if (m.agreement) {
      // A device product against the CPU model it should reproduce, from the same quantized operands.
      const GemmModelAgreement& g = *m.agreement;
      fmt::print("{:<28} agreement: {} vs {}: {}/{} outputs bit-identical ({:.2f}%), max rel diff {}\n", "", m.model,
                 g.model, g.bit_identical, g.outputs, 100.0 * g.bit_identical_fraction(), fmt_value(g.max_rel_diff));
    }
  }
}

void print_sweep(const std::string& title, const std::vector<KSweepPoint>& points) {
  fmt::print("\nK sweep: {}\n", title);
  fmt::print("{:>7} {:<24} {:>12} {:>12} {:>12} {:>12}\n", "K", "model", "accum_frob", "accum_maxrel",
             "total_frob", "input_q_frob");
  for (const KSweepPoint& p : points) {
    fmt::print("{:>7} {:<24} {:>12} {:>12} {:>12} {:>12}\n", p.depth, p.model,
               fmt_value(p.accumulation.rel_frobenius()), fmt_value(p.accumulation.max_rel_error),
               fmt_value(p.total.rel_frobenius()), fmt_value(p.input_quantization.rel_frobenius()));
  }
}

std::vector<std::size_t> sweep_depths(std::size_t k_max) {
  std::vector<std::size_t> depths;
  for (std::size_t k = 16; k < k_max; k *= 2) depths.push_back(k);
  depths.push_back(k_max);
  return depths;
}

int run_gemm(const GemmArgs& args) {
  std::vector<AccumulationModel> models;
  for (const std::string& spec : split_list(args.models, "models")) {
    try {
      models.push_back(parse_accumulation_model(spec));
    } catch (const Error& e) {
      throw Error(std::string("--models: ") + e.what());
    }
  }
  std::vector<GemmFormats> formats;
  for (const std::string& spec : split_list(args.formats, "formats")) formats.push_back(parse_gemm_formats(spec));
  std::vector<Recipe> recipes;
  for (const std::string& spec : split_list(args.recipes, "recipes")) recipes.push_back(parse_gemm_recipe(spec));
  if (args.threads < 0) throw Error("--threads must be >= 0");
  ExternalGemmProducts device_products;
  nlohmann::json device_json{{"kind", args.device}};
  if (args.device == "gpu") {
    // Usage errors first (they need no device): what cuBLASLt cannot replay, then the device itself;
    // each is one line and exit 2, as `analyze --device gpu`.
    if (args.k_sweep) throw Error("gemm --device gpu: --k-sweep runs the CPU models only; leave out --device gpu");
    for (const Recipe& r : recipes) {
      for (const GemmFormats& f : formats) {
        // forward: X (forward) x W (forward); dX and dW: dY (gradient) x W or X (forward).
        for (const Format& a : {f.forward, f.gradient}) {
          if (const std::string why = gpu::gemm_replay_unsupported(a, f.forward, r); !why.empty()) throw Error(why);
        }
      }
    }
    if (!gpu::built_with_cuda()) {
      throw Error("gemm --device gpu: this fpscope was built without CUDA (nvcc was not found at configure time)");
    }
    try {
      const gpu::DeviceInfo info = gpu::device_info();
      device_json["name"] = info.name;
      device_json["compute_capability"] = fmt::format("{}.{}", info.compute_major, info.compute_minor);
    } catch (const Error& e) {
      throw Error(std::string("gemm --device gpu: ") + e.what());
    }
    device_products = [](const QuantizedGemm& q) { return gpu::replay_gemm_on_device(q); };
  }
  std::unique_ptr<std::regex> filter;
  if (!args.filter.empty()) {
    try {
      filter = std::make_unique<std::regex>(args.filter);
    } catch (const std::regex_error& e) {
      throw Error("--filter '" + args.filter + "': " + e.what());
    }
  }

  nlohmann::json doc{{"fpscope_gemm_version", "1.0"},
                     {"models", nlohmann::json::array()},
                     {"device", device_json},
                     {"scaling", "one scale per operand (tensor) or per GEMM row (row), computed by core/scaling.h; "
                                 "applied to the model's result in binary64 after the accumulation"},
                     {"reference", "exact dot products of the original operands, rounded once to binary64"},
                     {"gemm", nlohmann::json::array()},
                     {"k_sweep", nlohmann::json::array()}};
  for (const AccumulationModel& m : models) doc["models"].push_back(accumulation_model_name(m));
  int exit_code = 0;

  if (args.k_sweep && args.paths.empty()) {
    // Synthetic operands: 16 x 16 outputs, N(mean, 1) inputs.
    if (args.k_max < 16) throw Error("--k-max must be at least 16");
    const GemmOperands ops = synthetic_operands(GemmShape{16, 16, args.k_max}, args.synthetic_mean, args.seed);
    const std::vector<std::size_t> depths = sweep_depths(args.k_max);
    for (const GemmFormats& f : formats) {
      for (const Recipe& r : recipes) {
        const std::vector<KSweepPoint> points = k_sweep(ops, depths, f.forward, f.forward, r, models, args.threads);
        const std::string title = fmt::format("synthetic N({}, 1) operands, 16x16 outputs, seed {}, {} x {}, recipe {}",
                                              args.synthetic_mean, args.seed, format_name(f.forward),
                                              format_name(f.forward), recipe_name(r));
        print_sweep(title, points);
        nlohmann::json sweep{{"source", "synthetic"}, {"mean", args.synthetic_mean}, {"seed", args.seed},
                             {"format", format_name(f.forward)}, {"recipe", recipe_name(r)},
                             {"points", nlohmann::json::array()}};
        for (const KSweepPoint& p : points) sweep["points"].push_back(to_json(p));
        doc["k_sweep"].push_back(sweep);
      }
    }
  } else {
    std::vector<std::string> paths = args.paths;
    if (paths.empty()) paths.push_back(default_data_path());
    // Each linear layer's X, W and dY, per file (a dump holds one step per file): analysis/gemm_layers.h,
    // shared with `fpscope analyze --gemm`.
    const std::vector<LinearLayerTensors> layers =
        collect_linear_layers(paths, filter.get(), [&](const std::string& message) {
          fmt::print(stderr, "fpscope gemm: {}\n", message);
          exit_code = 1;
        });
    std::size_t steps = 0;
    {
      std::vector<std::string> files;
      for (const LinearLayerTensors& t : layers) files.push_back(t.file);
      std::sort(files.begin(), files.end());
      steps = static_cast<std::size_t>(std::unique(files.begin(), files.end()) - files.begin());
    }
    fmt::print("fpscope gemm: rows of A sampled: at most {} per GEMM, uniformly without replacement, seed {}\n",
               args.sample_rows, args.seed);
    fmt::print("error split: input_q = exact product of the quantized operands vs the fp64 product of the originals; "
               "accum = model vs that exact product; acc% = accumulation's share of the error energy; "
               "nonfin = outputs that overflowed (left out)\n\n");
    print_replay_header(args.device == "gpu" ? kDeviceModelWidth : kModelWidth);
    const GemmReplayOptions options{formats, recipes, models, args.sample_rows, args.seed, args.threads};
    std::vector<LayerGemmReplay> replays;
    for (const LinearLayerTensors& t : layers) {
      const std::string label = steps > 1 && t.step >= 0 ? fmt::format("{}@{}", t.layer, t.step) : t.layer;
      try {
        for (LayerGemmReplay& r : replay_linear_layer(t, label, options, device_products)) {
          print_replay(r.replay, args.device == "gpu" ? kDeviceModelWidth : kModelWidth);
          replays.push_back(std::move(r));
        }
      } catch (const Error& e) {
        fmt::print(stderr, "fpscope gemm: {}\n", e.what());
        exit_code = 1;
        continue;
      }
      if (args.k_sweep) {
        const std::size_t tokens = t.input.size() / static_cast<std::size_t>(t.weight_shape[1]);
        const GemmOperands ops = forward_operands(t.input, t.weight, tokens, static_cast<std::size_t>(t.weight_shape[1]),
                                                  static_cast<std::size_t>(t.weight_shape[0]));
        std::vector<std::size_t> depths;
        for (std::size_t k = 16; k < ops.shape.depth; k *= 2) depths.push_back(k);
        depths.push_back(ops.shape.depth);
        for (const GemmFormats& f : formats) {
          for (const Recipe& r : recipes) {
            const std::vector<KSweepPoint> points = k_sweep(ops, depths, f.forward, f.forward, r, models, args.threads);
            print_sweep(fmt::format("{} forward, first K columns of X and W, {}, recipe {}", label,
                                    format_name(f.forward), recipe_name(r)),
                        points);
            nlohmann::json sweep{{"source", "layer"}, {"layer", label}, {"file", t.file}, {"gemm", "forward"},
                                 {"format", format_name(f.forward)}, {"recipe", recipe_name(r)},
                                 {"points", nlohmann::json::array()}};
            for (const KSweepPoint& p : points) sweep["points"].push_back(to_json(p));
            doc["k_sweep"].push_back(sweep);
          }
        }
      }
    }
    const std::size_t replayed = replays.size();
    // The same section shape as `fpscope analyze --gemm` writes (reports/schema/result.schema.json "gemm").
    doc["gemm"] = gemm_section_json(replays);
    if (replayed == 0) {
      fmt::print(stderr, "fpscope gemm: no linear layer with a captured <layer>:input and <layer>.weight in {}\n",
                 fmt::join(paths, ", "));
      if (exit_code == 0) exit_code = 1;
    }
  }
  if (!args.json_path.empty()) write_file_atomically(args.json_path, doc.dump(2) + "\n");
  return exit_code;
}

}  // namespace

void add_gemm_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<GemmArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gemm", "Replay linear layers' GEMMs under tensor-core accumulation models: input-quantization vs accumulation error");
  cmd->add_option("PATH", args->paths,
                  "safetensors / .npy files, directories or globs holding <layer>:input, <layer>.weight and "
                  "<layer>:grad_output (default: the bundled dump examples/data/tiny-gpt, or $FPSCOPE_DATA)");
  cmd->add_option("--formats", args->formats,
                  "comma-separated operand formats; F or FWD/GRAD (X and W in FWD, dY in GRAD)")
      ->capture_default_str();
  cmd->add_option("--recipes", args->recipes, "comma-separated scaling recipes: none, tensor[:pow2][:margin=N], row[:pow2]")
      ->capture_default_str();
  std::string model_help = "comma-separated accumulation models: presets (";
  for (const AccumulationPreset& p : accumulation_presets()) model_help += std::string(p.name) + " ";
  model_help += ") or specs such as fused:k=32:f=13:acc=e8m13:round=rtz:promote=128";
  cmd->add_option("--models", args->models, model_help)->capture_default_str();
  cmd->add_option("--sample-rows", args->sample_rows, "rows of A kept per GEMM (0 = all), chosen with --seed")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "seed of the row sampling and of synthetic data")->capture_default_str();
  cmd->add_option("--filter", args->filter, "replay only layers whose name matches this regular expression");
  cmd->add_flag("--k-sweep", args->k_sweep,
                "error versus the reduction length K: on synthetic data without PATH, else on each layer's X and W");
  cmd->add_option("--k-max", args->k_max, "largest K of the synthetic sweep")->capture_default_str();
  cmd->add_option("--mean", args->synthetic_mean, "mean of the synthetic N(mean, 1) operands")->capture_default_str();
  cmd->add_option("--threads", args->threads, "worker threads (0 = all cores); never changes the results")
      ->capture_default_str();
  cmd->add_option("--json", args->json_path, "write the results as JSON (atomically)");
  cmd->add_option("--device", args->device,
                  "cpu, or gpu: also multiply each GEMM's quantized operands with cuBLASLt on the device (FP8 with "
                  "per-tensor scales, fast accumulation off and on; bf16/fp16), as extra 'gpu:' models with their "
                  "agreement with the matching CPU model; `tensor` recipes only")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "gpu"}));
  cmd->footer(
      "Examples:\n"
      "  fpscope gemm                                        # the bundled tiny-gpt dump\n"
      "  fpscope gemm dump/ --formats e4m3/e5m2,bf16 --recipes tensor,row --json out/gemm.json\n"
      "  fpscope gemm --k-sweep --k-max 16384 --models nv-h100-fp8,nv-h100-fp8-promote128\n"
      "  fpscope gemm --device gpu --formats e4m3/e4m3 --recipes tensor  # cuBLASLt beside the CPU models\n"
      "Exit status: 0 all replayed; 1 some tensors could not be read or no layer was found; 2 usage error.");
  cmd->callback([args, &exit_code] { exit_code = run_gemm(*args); });
}

}  // namespace fpscope::cli

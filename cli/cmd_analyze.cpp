// cli/cmd_analyze.cpp: `fpscope analyze`: every tensor x format x recipe x rounding, verdicts, training checks, JSON and CSV.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "analysis/atomic_file.h"
#include "analysis/dataset.h"
#include "analysis/engine.h"
#include "analysis/gemm_layers.h"
#include "analysis/result_json.h"
#include "analysis/training_checks.h"
#include "analysis/verdict.h"
#include "cli/cmd_report.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/error.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::cli {
namespace {

struct AnalyzeArgs {
  std::vector<std::string> paths;
  std::string formats = "bf16,fp16,e4m3,e5m2,e2m1";
  std::string recipes = "none,tensor,mx,nvfp4";
  std::string rounding = "rne";
  std::string filter;
  int threads = 1;
  std::uint64_t seed = 0;
  std::uint64_t chunk_elements = 1u << 20;
  bool chunk_elements_given = false;
  std::string device = "cpu";  // cpu | gpu (gpu/fpscope_gpu.h make_chunk_evaluator)
  std::string json_path;
  std::string csv_path;
  std::string thresholds_path;
  std::string report_dir;
  bool quiet = false;
  bool gemm = false;
  std::string gemm_models = "fp32-seq,nv-h100-fp8,nv-h100-fp8-promote128";
  std::size_t gemm_sample_rows = 256;
};

char status_char(Status s) {
  switch (s) {
    case Status::tolerated: return 'T';
    case Status::marginal: return 'm';
    case Status::not_tolerated: return 'x';
  }
  return '?';
}

void print_summary(const DatasetAnalysis& a, const std::vector<Combination>& combos, const VerdictReport& v,
                   const TrainingReport& training, const std::vector<std::string>& inputs) {
  std::uint64_t elements = 0;
  for (const TensorAnalysis& t : a.tensors) elements += t.source.count;
  fmt::print("fpscope analyze: {} tensors ({} elements) from {}; {} combinations\n", a.tensors.size(), elements,
             fmt::format("{}", fmt::join(inputs, " ")), combos.size());
  if (!a.unsupported.empty() || !a.empty.empty() || a.filtered_out > 0) {
    fmt::print("  not analysed: {} integer/bool, {} empty, {} filtered out\n", a.unsupported.size(), a.empty.size(),
               a.filtered_out);
  }
  fmt::print("\nColumns (T tolerated, m marginal, x not tolerated):\n");
  for (std::size_t k = 0; k < combos.size(); ++k) {
    fmt::print("  {:>2} {}\n", k + 1, combination_id(combos[k]));
  }
  std::size_t width = 5;
  for (const LayerVerdict& lv : v.layers) width = std::max(width, lv.layer.size());
  width = std::min<std::size_t>(width, 48);
  fmt::print("\n{:<{}} {:<15} ", "layer", width, "role");
  for (std::size_t k = 0; k < combos.size(); ++k) fmt::print("{}", (k + 1) % 10);
  fmt::print("  cheapest tolerated\n");
  for (const LayerVerdict& lv : v.layers) {
    std::string layer = lv.layer.size() > width ? "..." + lv.layer.substr(lv.layer.size() - width + 3) : lv.layer;
    fmt::print("{:<{}} {:<15} ", layer, width, role_name(lv.role));
    for (const auto& e : lv.entries) fmt::print("{}", status_char(e.status));
    if (lv.cheapest >= 0) {
      const auto& e = lv.entries[static_cast<std::size_t>(lv.cheapest)];
      fmt::print("  {} ({:.3g} bits)\n", combination_id(combos[e.combination]), e.bits_per_element);
    } else {
      fmt::print("  none\n");
    }
  }
  fmt::print("\nMost sensitive layers:\n");
  for (std::size_t r = 0; r < std::min<std::size_t>(v.ranking.size(), 10); ++r) {
    const LayerVerdict& lv = v.layers[v.ranking[r]];
    fmt::print("  {:>2}. {} ({}): {}\n", r + 1, lv.layer, role_name(lv.role), lv.reason);
  }
  // Worst offenders: the tensors x combinations with the largest miss of a threshold, cheapest formats first.
  struct Offender {
    std::size_t tensor, combo;
    const Failure* failure;
  };
  std::vector<Offender> offenders;
  for (std::size_t t = 0; t < v.per_tensor.size(); ++t) {
    for (std::size_t k = 0; k < combos.size(); ++k) {
      const Verdict& verdict = v.per_tensor[t][k];
      if (verdict.status == Status::not_tolerated) offenders.push_back({t, k, &verdict.failures.front()});
    }
  }
  std::stable_sort(offenders.begin(), offenders.end(), [](const Offender& x, const Offender& y) {
    return x.failure->by > y.failure->by;
  });
  if (!offenders.empty()) {
    fmt::print("\nWorst offenders (not tolerated, largest miss first):\n");
    for (std::size_t i = 0; i < std::min<std::size_t>(offenders.size(), 10); ++i) {
      const Offender& o = offenders[i];
      const TensorInfo& info = a.tensors[o.tensor].info;
      fmt::print("  {} step {} {}: {}\n", info.name.empty() ? info.file : info.name, info.step,
                 combination_id(combos[o.combo]), o.failure->describe());
    }
  }
  if (!training.loss_scaling.empty()) {
    fmt::print("\nLoss scaling (gradients, per step):\n");
    for (const LossScaleCheck& c : training.loss_scaling) {
      fmt::print("  step {:>6} {:<6} scale 2^{:<4} underflow {:.3g}% subnormal {:.3g}% (unscaled: underflow {:.3g}%, subnormal {:.3g}%)\n",
                 c.step, c.format, c.log2_scale, 100 * c.underflow_fraction, 100 * c.subnormal_fraction,
                 100 * c.unscaled_underflow_fraction, 100 * c.unscaled_subnormal_fraction);
    }
  }
  if (!training.update_swamping.empty()) {
    // Aggregated over every weight, per (step pair, format); the JSON has each tensor.
    struct Total {
      double updates = 0, lost_rne = 0, lost_sr = 0;
    };
    std::map<std::tuple<std::int64_t, std::int64_t, std::string>, Total> totals;
    for (const SwampingCheck& c : training.update_swamping) {
      Total& t = totals[{c.step_before, c.step_after, c.format}];
      const double u = static_cast<double>(c.updates);
      t.updates += u;
      t.lost_rne += u * c.lost_fraction_rne;
      t.lost_sr += u * c.lost_fraction_sr;
    }
    fmt::print("\nUpdate swamping (weights between captured steps, master copy kept in the format; updates lost):\n");
    for (const auto& [key, t] : totals) {
      const auto& [before, after, format] = key;
      fmt::print("  steps {}->{} {:<6} {:>10.0f} updates: lost {:.3g}% (RNE), {:.3g}% (SR)\n", before, after, format,
                 t.updates, t.updates > 0 ? 100 * t.lost_rne / t.updates : 0.0,
                 t.updates > 0 ? 100 * t.lost_sr / t.updates : 0.0);
    }
  }
  if (!training.storage.empty()) {
    fmt::print("\nStorage of weights + grads + optimizer state (latest step of each):\n");
    for (const StorageCost& s : training.storage) {
      fmt::print("  {:<24} {:>7.3f} bits/element {:>12.0f} bytes\n", s.combination, s.bits_per_element, s.total_bytes);
    }
  }
  if (!a.failures.empty()) {
    fmt::print("\n{} read failure(s), listed on stderr\n", a.failures.size());
  }
}

// `--gemm`: each linear layer's GEMMs replayed (analysis/gemm_layers.h, as `fpscope gemm`) for every
// combination the replay can take: rounding rne (the replay rounds the operands to nearest) and recipes
// none, tensor or row (one scale per GEMM row; block scales vary along the reduction). The combination's
// format quantizes X, W and dY alike. The worst relative Frobenius error over the layer's GEMMs, models and
// steps is the layer's GemmCheck for the verdicts.
struct GemmResults {
  std::vector<GemmSectionEntry> replays;
  std::vector<GemmCheck> checks;
};
GemmResults replay_gemms(const AnalyzeArgs& args, const std::vector<std::string>& inputs, const std::regex* filter,
                         const std::vector<Combination>& combos, std::vector<ReadError>& failures) {
  GemmResults out;
  std::vector<AccumulationModel> models;
  for (const std::string& spec : split_list(args.gemm_models, "gemm-models")) {
    try {
      models.push_back(parse_accumulation_model(spec));
    } catch (const Error& e) {
      throw Error(std::string("--gemm-models: ") + e.what());
    }
  }
  // Tensors that cannot be read are reported by the engine already: not twice.
  const std::vector<LinearLayerTensors> layers = collect_linear_layers(inputs, filter, [](const std::string&) {});
  std::vector<std::string> files;
  for (const LinearLayerTensors& t : layers) files.push_back(t.file);
  std::sort(files.begin(), files.end());
  const bool several_steps = std::unique(files.begin(), files.end()) - files.begin() > 1;
  std::map<std::pair<std::string, std::size_t>, double> worst;  // (layer, combination) -> error
  std::set<std::pair<std::string, std::string>> reported;        // (file, layer) with a shape error
  for (std::size_t k = 0; k < combos.size(); ++k) {
    const Combination& c = combos[k];
    const RecipeKind kind = c.recipe.kind;
    if (c.rounding_name != "rne" || (kind != RecipeKind::none && kind != RecipeKind::tensor && kind != RecipeKind::row)) {
      continue;
    }
    const GemmReplayOptions options{{GemmFormats{c.format, c.format, c.format_name}}, {c.recipe}, models,
                                    args.gemm_sample_rows, args.seed, args.threads};
    for (const LinearLayerTensors& t : layers) {
      const std::string label = several_steps && t.step >= 0 ? fmt::format("{}@{}", t.layer, t.step) : t.layer;
      std::vector<LayerGemmReplay> replays;
      try {
        replays = replay_linear_layer(t, label, options);
      } catch (const Error& e) {
        // Once per layer and file, not once per combination.
        if (reported.insert({t.file, t.layer}).second) {
          failures.push_back(ReadError{t.file, t.layer, std::string("gemm: ") + e.what()});
        }
        continue;
      }
      for (LayerGemmReplay& r : replays) {
        const double e = worst_rel_frobenius(r.replay);
        auto [it, inserted] = worst.try_emplace({t.layer, k}, e);
        if (!inserted) it->second = std::max(it->second, e);
        out.replays.push_back(GemmSectionEntry{std::move(r), k});
      }
    }
  }
  for (const auto& [key, e] : worst) out.checks.push_back(GemmCheck{key.first, key.second, e});
  return out;
}

void print_gemm_summary(const GemmResults& g, const std::vector<Combination>& combos, const Thresholds& thresholds) {
  if (g.replays.empty()) return;
  double limit = std::numeric_limits<double>::quiet_NaN();
  for (const Threshold& t : thresholds.defaults) {
    if (t.statistic == "gemm_rel_frobenius") limit = t.tolerated;
  }
  fmt::print("\nGEMM replay ({} GEMMs; worst relative Frobenius error vs the fp64 product over layers, GEMMs and models; "
             "gemm_rel_frobenius limit {}):\n", g.replays.size(), limit);
  for (std::size_t k = 0; k < combos.size(); ++k) {
    const GemmSectionEntry* worst = nullptr;
    double worst_error = 0.0;
    std::size_t over = 0;
    for (const GemmCheck& c : g.checks) {
      if (c.combination == k && !(c.rel_frobenius <= limit)) ++over;
    }
    for (const GemmSectionEntry& e : g.replays) {
      if (e.combination != k) continue;
      const double err = worst_rel_frobenius(e.replay.replay);
      if (worst == nullptr || err > worst_error) {
        worst = &e;
        worst_error = err;
      }
    }
    if (worst == nullptr) continue;
    std::string model;
    worst_rel_frobenius(worst->replay.replay, &model);
    fmt::print("  {:<24} worst {:.3g} ({} {}, {}; input quantization alone {:.3g}); {} layer(s) over the limit\n",
               combination_id(combos[k]), worst_error, worst->replay.replay.layer, worst->replay.replay.gemm, model,
               worst->replay.replay.input_quantization.rel_frobenius(), over);
  }
}

// Update swamping: weights captured at two or more steps, consecutive captured steps paired.
std::vector<SwampingCheck> swamping_checks(const DatasetAnalysis& a, const std::vector<Combination>& combos,
                                           std::uint64_t seed, std::uint64_t chunk_elements) {
  std::map<std::string, std::vector<const TensorInfo*>> by_name;
  for (const TensorAnalysis& t : a.tensors) {
    if (t.info.role == Role::weight && t.info.step >= 0 && !t.info.name.empty()) by_name[t.info.name].push_back(&t.info);
  }
  std::vector<std::string> formats;
  std::vector<Format> parsed;
  for (const Combination& c : combos) {
    if (std::find(formats.begin(), formats.end(), c.format_name) == formats.end()) {
      formats.push_back(c.format_name);
      parsed.push_back(c.format);
    }
  }
  // Each file opened once (its header parsed once), whatever the number of pairs and formats.
  std::map<std::string, std::vector<DatasetEntry>> files;
  auto open = [&files](const TensorInfo& info) -> TensorReader* {
    auto it = files.find(info.file);
    if (it == files.end()) it = files.emplace(info.file, open_file(info.file)).first;
    for (DatasetEntry& e : it->second) {
      if (e.reader && e.reader->info().name == info.name) return e.reader.get();
    }
    return nullptr;
  };
  std::vector<SwampingCheck> out;
  for (auto& [name, infos] : by_name) {
    std::sort(infos.begin(), infos.end(), [](const TensorInfo* x, const TensorInfo* y) { return x->step < y->step; });
    for (std::size_t i = 0; i + 1 < infos.size(); ++i) {
      for (std::size_t f = 0; f < parsed.size(); ++f) {
        TensorReader* before = open(*infos[i]);
        TensorReader* after = open(*infos[i + 1]);
        if (!before || !after || before->info().element_count() != after->info().element_count()) continue;
        out.push_back(update_swamping(*before, *after, parsed[f], formats[f], seed, chunk_elements));
      }
    }
  }
  return out;
}

int run_analyze(const AnalyzeArgs& args) {
  const std::vector<std::string> formats = split_list(args.formats, "formats");
  const std::vector<std::string> recipes = split_list(args.recipes, "recipes");
  const std::vector<std::string> roundings = split_list(args.rounding, "rounding");
  const std::vector<Combination> combos = make_combinations(formats, recipes, roundings);
  if (combos.empty()) throw Error("--recipes '" + args.recipes + "' applies to none of --formats '" + args.formats + "'");
  if (args.threads < 0) throw Error("--threads " + std::to_string(args.threads) + ": must be 0 (all cores) or more");
  const Thresholds thresholds = args.thresholds_path.empty() ? default_thresholds() : load_thresholds(args.thresholds_path);
  std::unique_ptr<std::regex> filter;
  if (!args.filter.empty()) {
    try {
      filter = std::make_unique<std::regex>(args.filter);
    } catch (const std::regex_error& e) {
      throw Error("--filter '" + args.filter + "': not a valid regular expression: " + e.what());
    }
  }
  std::vector<std::string> inputs = args.paths;
  if (inputs.empty()) inputs.push_back(default_data_path());

  EngineOptions options{combos, args.threads, args.chunk_elements, args.seed, {}};
  if (args.device == "gpu") {
    // As validate --target gpu: no CUDA build or no device is a usage error (one line, exit 2).
    if (!gpu::built_with_cuda()) {
      throw Error("analyze --device gpu: this fpscope was built without CUDA (nvcc was not found at configure time)");
    }
    try {
      options.evaluator = gpu::make_chunk_evaluator();
    } catch (const Error& e) {
      throw Error(std::string("analyze --device gpu: ") + e.what());
    }
    // Larger chunks keep the device busy (8 bytes x 2^24 = 128 MiB per chunk on the host and the device).
    if (!args.chunk_elements_given) options.chunk_elements = std::uint64_t{1} << 24;
  }
  const bool tty = isatty(STDERR_FILENO) == 1 && !args.quiet;
  ProgressCallback progress;
  if (tty) {
    progress = [](std::size_t done, std::size_t total, std::uint64_t done_elements, std::uint64_t total_elements) {
      if (total_elements < (1u << 22)) return;  // short runs stay quiet
      const double pct = total_elements == 0 ? 100.0 : 100.0 * static_cast<double>(done_elements) / static_cast<double>(total_elements);
      const int bar = static_cast<int>(pct / 5);
      fmt::print(stderr, "\r[{:<20}] {:5.1f}% {}/{} tensors", std::string(static_cast<std::size_t>(bar), '#'), pct, done, total);
      if (done == total) fmt::print(stderr, "\n");
    };
  }
  DatasetAnalysis analysis = analyze_dataset(open_dataset(inputs), options, filter.get(), progress);
  GemmResults gemm;
  if (args.gemm) gemm = replay_gemms(args, inputs, filter.get(), combos, analysis.failures);
  const VerdictReport verdicts = judge_all(analysis, combos, thresholds, gemm.checks);
  TrainingReport training;
  training.loss_scaling = loss_scale_checks(analysis, combos);
  training.storage = storage_costs(analysis, combos);
  try {
    training.update_swamping = swamping_checks(analysis, combos, args.seed, args.chunk_elements);
  } catch (const Error& e) {
    analysis.failures.push_back(ReadError{"", "", std::string("update swamping: ") + e.what()});
  }

  for (const ReadError& e : analysis.failures) fmt::print(stderr, "fpscope: {}\n", e.message);
  if (!args.quiet) {
    print_summary(analysis, combos, verdicts, training, inputs);
    print_gemm_summary(gemm, combos, thresholds);
  }

  RunInfo run;
  run.inputs = inputs;
  run.formats = formats;
  run.recipes = recipes;
  run.roundings = roundings;
  if (!args.filter.empty()) run.filter = args.filter;
  run.seed = args.seed;
  if (args.gemm) {
    run.gemm_models = split_list(args.gemm_models, "gemm-models");
    run.gemm_sample_rows = args.gemm_sample_rows;
  }
  const std::vector<GemmSectionEntry>* gemm_section = args.gemm ? &gemm.replays : nullptr;
  if (!args.json_path.empty()) {
    // Streamed tensor by tensor: a dump of thousands of tensors never holds its whole JSON tree.
    AtomicFile out(args.json_path);
    write_result_json(out, run, analysis, combos, thresholds, verdicts, &training, gemm_section);
    out.commit();
  }
  if (!args.report_dir.empty()) {
    // report.html, report.md and result.json (cli/cmd_report.cpp): the page embeds the whole document.
    const nlohmann::json doc = result_to_json(run, analysis, combos, thresholds, verdicts, &training, gemm_section);
    write_report_directory(doc, args.report_dir, "--report " + args.report_dir);
  }
  if (!args.csv_path.empty()) write_file_atomically(args.csv_path, result_to_csv(analysis, combos, verdicts));
  return analysis.failures.empty() ? 0 : 1;
}

}  // namespace

void add_analyze_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<AnalyzeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "analyze", "Error, overflow and underflow statistics of tensors in every format, recipe and rounding, with verdicts");
  cmd->add_option("PATH", args->paths,
                  "safetensors / .npy files, directories or globs (default: the bundled dump examples/data/tiny-gpt, "
                  "or $FPSCOPE_DATA)");
  cmd->add_option("--formats", args->formats, "comma-separated formats (presets or specs)")->capture_default_str();
  cmd->add_option("--recipes", args->recipes,
                  "comma-separated recipes: none, tensor[:pow2][:margin=N], delayed[:len=N][:algo=max|most_recent], "
                  "row, col, block:RxC, mx, nvfp4 (mx/nvfp4 only where the format applies)")
      ->capture_default_str();
  cmd->add_option("--rounding", args->rounding, "comma-separated rounding modes: rne rna rtz rup rdn rto sr sr:N")
      ->capture_default_str();
  cmd->add_option("--filter", args->filter, "analyse only tensors whose name matches this regular expression");
  cmd->add_option("--threads", args->threads, "worker threads (0 = all cores); never changes the results")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "stochastic rounding seed")->capture_default_str();
  cmd->add_option("--chunk-elements", args->chunk_elements,
                  "elements per chunk (memory per thread = 8 bytes x this; default 2^24 with --device gpu)")
      ->capture_default_str();
  cmd->add_option("--device", args->device,
                  "cpu, or gpu: every chunk's statistics computed by the CUDA kernels (results equal the CPU's)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "gpu"}));
  cmd->add_option("--json", args->json_path, "write the result document (reports/schema/result.schema.json)");
  cmd->add_option("--csv", args->csv_path, "write one CSV row per tensor x format x recipe x rounding");
  cmd->add_option("--report", args->report_dir, "write report.html, report.md and result.json into this directory");
  cmd->add_option("--thresholds", args->thresholds_path, "verdict thresholds (JSON; see analysis/verdict.h)");
  cmd->add_flag("--quiet", args->quiet, "no summary and no progress bar");
  cmd->add_flag("--gemm", args->gemm,
                "also replay each linear layer's GEMMs (as `fpscope gemm`) for the rne combinations with recipe none, "
                "tensor or row; the JSON gains a \"gemm\" section and the verdicts the gemm_rel_frobenius limit");
  cmd->add_option("--gemm-models", args->gemm_models, "accumulation models of --gemm (see `fpscope gemm --help`)")
      ->capture_default_str();
  cmd->add_option("--gemm-sample-rows", args->gemm_sample_rows,
                  "rows of A kept per GEMM for --gemm (0 = all), chosen with --seed")
      ->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  fpscope analyze                                   # the bundled tiny-gpt dump\n"
      "  fpscope analyze dump/ --formats e4m3,e5m2 --recipes tensor,delayed,block:1x128 --json out/result.json\n"
      "  fpscope analyze model.safetensors --filter 'mlp' --rounding rne,sr --threads 2 --csv out/result.csv\n"
      "Exit status: 0 all analysed; 1 some tensors could not be read; 2 usage error.");
  cmd->callback([args, cmd, &exit_code] {
    args->chunk_elements_given = cmd->count("--chunk-elements") > 0;
    exit_code = run_analyze(*args);
  });
}

}  // namespace fpscope::cli

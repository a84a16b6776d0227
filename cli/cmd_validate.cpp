// cli/cmd_validate.cpp: `fpscope validate`: the CPU's or GPU's own float32 conversions against encode(), every input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "analysis/atomic_file.h"
#include "analysis/validate.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/format.h"
#include "core/rounding_spec.h"
#include "gpu/fpscope_gpu.h"

namespace fpscope::cli {
namespace {

struct Options {
  std::string target;
  std::string formats;
  std::string roundings;
  std::string allow;
  int threads = 0;
  std::uint64_t stride = 1;
  int examples = 4;
  std::string json;
};

// One conversion to check, from either target, with how to run it.
struct Job {
  std::string name;
  std::string format_spec;
  Format format{};
  Rounding rounding{};
  std::string unavailable;
  std::function<ValidationResult()> run;
};

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// A --format item selects a conversion by its spec ("e4m3:sat=finite"), by the
// spec's preset part ("e4m3"), or by naming the same format another way.
bool format_matches(const std::string& item, const Job& job) {
  if (item == job.format_spec || item == job.format_spec.substr(0, job.format_spec.find(':'))) return true;
  return parse_format(item) == job.format;
}

std::vector<Job> cpu_jobs(const Options& o) {
  std::vector<Job> jobs;
  for (ConversionTarget& t : cpu_conversion_targets()) {
    auto target = std::make_shared<ConversionTarget>(std::move(t));
    ValidateOptions options;
    options.threads = o.threads;
    options.max_examples = o.examples;
    const SweepRange range{0, std::uint64_t{1} << 32, o.stride};
    jobs.push_back(Job{target->name, target->format_spec, target->format, target->rounding, target->unavailable,
                       [target, options, range] { return validate_sweep(*target, range, options); }});
  }
  return jobs;
}

std::vector<Job> gpu_jobs(const Options& o) {
  if (!gpu::built_with_cuda()) {
    throw Error("validate --target gpu: this fpscope was built without CUDA (nvcc was not found at configure time)");
  }
  const gpu::DeviceInfo device = gpu::device_info();  // throws "no CUDA device: ..." without one
  fmt::print("device: {} (sm_{}{}, {} SMs; this build: sm_{})\n", device.name, device.compute_major,
             device.compute_minor, device.multiprocessors, device.compiled_architectures);
  std::vector<Job> jobs;
  for (const gpu::GpuConversion& c : gpu::gpu_conversions(device)) {
    const SweepRange range{0, std::uint64_t{1} << 32, o.stride};
    const int examples = o.examples;
    jobs.push_back(Job{c.name, c.format_spec, c.format, c.rounding, c.unavailable,
                       [c, range, examples] { return gpu::validate_conversion(c, range, examples); }});
  }
  return jobs;
}

std::string hex(std::uint64_t bits, int digits) { return fmt::format("0x{:0{}x}", bits, digits); }

nlohmann::json result_json(const ValidationResult& r, std::span<const MismatchClass> allowed, int digits) {
  nlohmann::json mismatches = nlohmann::json::object();
  nlohmann::json examples = nlohmann::json::object();
  for (int c = 0; c < kMismatchClasses; ++c) {
    const auto k = static_cast<std::size_t>(c);
    const std::string name(mismatch_class_name(static_cast<MismatchClass>(c)));
    mismatches[name] = r.mismatches[k];
    nlohmann::json list = nlohmann::json::array();
    for (const MismatchExample& m : r.examples[k]) {
      list.push_back({{"input", hex(m.input, 8)}, {"expected", hex(m.expected, digits)}, {"actual", hex(m.actual, digits)}});
    }
    examples[name] = list;
  }
  return {{"conversion", r.target},
          {"format", r.format_spec},
          {"rounding", rounding_name(r.rounding)},
          {"inputs_checked", r.inputs_checked},
          {"seconds", r.seconds},
          {"mismatches", mismatches},
          {"mismatches_outside_allow", r.disallowed_mismatches(allowed)},
          {"examples", examples}};
}

int run(const Options& o) {
  // Every argument is checked before the first sweep starts.
  std::vector<MismatchClass> allowed;
  if (!o.allow.empty()) {
    for (const std::string& item : split_list(o.allow)) allowed.push_back(parse_mismatch_class(item, "--allow"));
  }
  std::vector<Rounding> roundings;
  if (!o.roundings.empty()) roundings = parse_rounding_list(o.roundings);
  std::vector<std::string> formats;
  if (!o.formats.empty()) {
    formats = split_list(o.formats);
    for (const std::string& f : formats) parse_format(f);  // throws naming a bad spec
  }
  std::vector<Job> jobs = o.target == "gpu" ? gpu_jobs(o) : cpu_jobs(o);

  std::vector<Job> selected;
  for (Job& job : jobs) {
    const bool format_ok = formats.empty() || std::any_of(formats.begin(), formats.end(), [&](const std::string& f) {
                             return format_matches(f, job);
                           });
    const bool rounding_ok = roundings.empty() || std::any_of(roundings.begin(), roundings.end(), [&](Rounding r) {
                               return r.mode == job.rounding.mode;
                             });
    if (format_ok && rounding_ok) selected.push_back(std::move(job));
  }
  if (selected.empty()) {
    std::string have;
    for (const Job& j : jobs) have += fmt::format("{}{} ({}, {})", have.empty() ? "" : "; ", j.name, j.format_spec,
                                                  rounding_name(j.rounding));
    throw Error(fmt::format("validate --target {}: no conversion matches --format '{}' --rounding '{}'; the {} has: {}",
                            o.target, o.formats, o.roundings, o.target, have));
  }

  const std::uint64_t per_conversion = ((std::uint64_t{1} << 32) + o.stride - 1) / o.stride;
  fmt::print("fpscope validate --target {}: {} float32 inputs per conversion{} against encode(); allowed: {}\n",
             o.target, per_conversion, o.stride == 1 ? " (all of them)" : fmt::format(" (every {}th)", o.stride),
             o.allow.empty() ? "none" : o.allow);
  fmt::print("{:<36} {:<16} {:<5} {:>11} {:>11} {:>9} {:>8}\n", "conversion", "format", "mode", "inputs", "mismatches",
             "outside", "seconds");
  nlohmann::json conversions = nlohmann::json::array();
  nlohmann::json skipped = nlohmann::json::array();
  int ran = 0;
  int failed = 0;
  for (const Job& job : selected) {
    if (!job.unavailable.empty()) {
      fmt::print("skipped: {} ({})\n", job.name, job.unavailable);
      skipped.push_back({{"conversion", job.name}, {"format", job.format_spec}, {"reason", job.unavailable}});
      continue;
    }
    const ValidationResult r = job.run();
    ++ran;
    const std::uint64_t outside = r.disallowed_mismatches(allowed);
    failed += outside != 0 ? 1 : 0;
    fmt::print("{:<36} {:<16} {:<5} {:>11} {:>11} {:>9} {:>8.2f}\n", r.target, r.format_spec,
               rounding_name(r.rounding), r.inputs_checked, r.total_mismatches(), outside, r.seconds);
    const int digits = (limits(job.format).total_bits + 3) / 4;
    for (int c = 0; c < kMismatchClasses; ++c) {
      const auto k = static_cast<std::size_t>(c);
      if (r.mismatches[k] == 0) continue;
      const auto cls = static_cast<MismatchClass>(c);
      const bool is_allowed = std::find(allowed.begin(), allowed.end(), cls) != allowed.end();
      fmt::print("  {:<26} {:>11}{}\n", mismatch_class_name(cls), r.mismatches[k], is_allowed ? "  (allowed)" : "");
      for (const MismatchExample& m : r.examples[k]) {
        fmt::print("    input {} ({:g}): expected {} actual {}\n", hex(m.input, 8),
                   static_cast<double>(std::bit_cast<float>(m.input)), hex(m.expected, digits),
                   hex(m.actual, digits));
      }
    }
    conversions.push_back(result_json(r, allowed, digits));
  }
  if (ran == 0) {
    throw Error(fmt::format("validate --target {}: none of the selected conversions can run here (see the skipped lines)",
                            o.target));
  }
  const bool pass = failed == 0;
  fmt::print("result: {}: {} of {} conversions with mismatches outside --allow\n", pass ? "PASS" : "FAIL", failed, ran);
  if (!o.json.empty()) {
    nlohmann::json allowed_json = nlohmann::json::array();
    for (MismatchClass c : allowed) allowed_json.push_back(std::string(mismatch_class_name(c)));
    const nlohmann::json doc = {{"command", "validate"}, {"target", o.target},     {"stride", o.stride},
                                {"allowed", allowed_json}, {"conversions", conversions}, {"skipped", skipped},
                                {"pass", pass}};
    write_file_atomically(o.json, doc.dump(2) + "\n");
  }
  return pass ? 0 : 1;
}

}  // namespace

void add_validate_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "Run every float32 input through the CPU's or GPU's own conversions and compare with encode()");
  cmd->add_option("--target", o->target, "cpu (F16C, AVX-512 FP16, AVX512-BF16) or gpu (the cvt instructions)")
      ->required()
      ->check(CLI::IsMember({"cpu", "gpu"}));
  cmd->add_option("--format", o->formats, "Only conversions to these formats (comma-separated; default all)");
  cmd->add_option("--rounding", o->roundings, "Only these rounding modes (comma-separated; default all)");
  cmd->add_option("--allow", o->allow,
                  "Mismatch classes that do not fail the run: nan-encoding (alias nan-payload), sign-of-zero, "
                  "subnormal-input-flushed, saturation-vs-inf, subnormal-output-flushed, rounding-direction, other");
  cmd->add_option("--threads", o->threads, "CPU worker threads (0 = all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->add_option("--stride", o->stride, "Check every N-th float32 pattern only (1 = all 2^32)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 32))
      ->capture_default_str();
  cmd->add_option("--examples", o->examples, "Mismatching inputs shown per class (the lowest bit patterns)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--json", o->json, "Also write the results as JSON to this file (atomically)");
  cmd->footer(
      "Exit status 0 when no conversion has a mismatch outside --allow, 1 when one has,\n"
      "2 for a bad argument or when nothing can run (no such unit, no CUDA device).\n"
      "\nExamples:\n"
      "  fpscope validate --target cpu --allow nan-encoding\n"
      "  fpscope validate --target cpu --format bf16 --allow nan-encoding,subnormal-input-flushed\n"
      "  fpscope validate --target gpu --format e4m3,e5m2 --json gpu_cvt.json\n");
  cmd->callback([o, &exit_code] { exit_code = run(*o); });
}

}  // namespace fpscope::cli

// analysis/validate.cpp: the sweep driver of analysis/validate.h: chunks, threads, reference encodings, classification.
//
// A sweep is cut into chunks of consecutive patterns that worker threads claim
// from an atomic counter. For each chunk the reference is encode_array() from
// core/array.h (the branch-free fast path, checked bit for bit against
// round_pack()), the hardware side is the target's vectorised conversion, and
// only the rare mismatches go through the scalar classify_mismatch().
#include "analysis/validate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "core/array.h"
#include "core/error.h"

namespace fpscope {
namespace {

constexpr std::array<std::string_view, kMismatchClasses> kClassNames = {
    "nan-encoding",      "sign-of-zero",       "subnormal-input-flushed", "saturation-vs-inf",
    "subnormal-output-flushed", "rounding-direction", "other",
};

// Patterns per chunk: the float inputs and both result arrays stay in L2.
constexpr std::size_t kChunkPatterns = std::size_t{1} << 14;

struct Worker {
  ValidationResult partial;
  std::vector<float> in = std::vector<float>(kChunkPatterns);
  std::vector<std::uint16_t> expected = std::vector<std::uint16_t>(kChunkPatterns);
  std::vector<std::uint16_t> actual = std::vector<std::uint16_t>(kChunkPatterns);
};

void check_chunk(const ConversionTarget& target, std::size_t n, Worker& w, int max_examples) {
  const std::span<const float> in(w.in.data(), n);
  const std::span<std::uint16_t> expected(w.expected.data(), n);
  const std::span<std::uint16_t> actual(w.actual.data(), n);
  ArrayOptions reference_options;
  reference_options.rounding = target.rounding;
  encode_array<std::uint16_t>(in, expected, target.format, reference_options);
  target.convert(in, actual);
  for (std::size_t i = 0; i < n; ++i) {
    if (expected[i] == actual[i]) continue;
    const MismatchExample m{std::bit_cast<std::uint32_t>(in[i]), expected[i], actual[i]};
    record_mismatch(w.partial, m, classify_mismatch(m.input, m.expected, m.actual, target.format, target.rounding),
                    max_examples);
  }
  w.partial.inputs_checked += n;
}

// Runs `count` patterns; fill(first_index, n, out) writes patterns first_index.. as floats.
template <class Fill>
ValidationResult run_sweep(const ConversionTarget& target, std::uint64_t count, const ValidateOptions& options,
                           Fill fill) {
  if (!target.unavailable.empty()) {
    throw Error("validate: conversion '" + target.name + "' is not available here: " + target.unavailable);
  }
  if (!target.convert) throw Error("validate: conversion '" + target.name + "' has no conversion function");
  if (limits(target.format).total_bits > 16) {
    throw Error("validate: conversion '" + target.name + "': format " + target.format_spec +
                " has more than 16 bits; the CPU sweep handles formats of at most 16 bits");
  }
  const auto start = std::chrono::steady_clock::now();
  const std::uint64_t chunks = (count + kChunkPatterns - 1) / kChunkPatterns;
  int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = static_cast<int>(std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::max(threads, 1)), 1,
                                                       std::max<std::uint64_t>(chunks, 1)));
  std::atomic<std::uint64_t> next_chunk{0};
  std::vector<Worker> workers(static_cast<std::size_t>(threads));
  auto work = [&](Worker& w) {
    for (std::uint64_t c = next_chunk++; c < chunks; c = next_chunk++) {
      const std::uint64_t first = c * kChunkPatterns;
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(kChunkPatterns, count - first));
      fill(first, n, w.in.data());
      check_chunk(target, n, w, options.max_examples);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, std::ref(workers[static_cast<std::size_t>(t)]));
  work(workers[0]);
  for (std::thread& t : pool) t.join();

  ValidationResult result;
  result.target = target.name;
  result.format_spec = target.format_spec;
  result.rounding = target.rounding;
  for (const Worker& w : workers) merge(result, w.partial, options.max_examples);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

void push_float(std::vector<std::uint32_t>& out, double v) {
  const auto f = static_cast<float>(v);
  if (static_cast<double>(f) != v) return;  // only points float32 can hold
  const float neighbours[] = {std::nextafter(f, -std::numeric_limits<float>::infinity()), f,
                              std::nextafter(f, std::numeric_limits<float>::infinity())};
  for (float n : neighbours) {
    out.push_back(std::bit_cast<std::uint32_t>(n));
    out.push_back(std::bit_cast<std::uint32_t>(-n));
  }
}

}  // namespace

std::string_view mismatch_class_name(MismatchClass c) { return kClassNames[static_cast<std::size_t>(c)]; }

MismatchClass parse_mismatch_class(std::string_view name, std::string_view what) {
  if (name == "nan-payload") return MismatchClass::nan_encoding;
  for (std::size_t i = 0; i < kClassNames.size(); ++i) {
    if (kClassNames[i] == name) return static_cast<MismatchClass>(i);
  }
  std::string valid;
  for (std::string_view n : kClassNames) valid += (valid.empty() ? "" : ", ") + std::string(n);
  throw Error(std::string(what) + ": unknown mismatch class '" + std::string(name) + "'; valid: " + valid +
              " (nan-payload = nan-encoding)");
}

std::uint64_t ValidationResult::total_mismatches() const {
  std::uint64_t total = 0;
  for (std::uint64_t m : mismatches) total += m;
  return total;
}

std::uint64_t ValidationResult::disallowed_mismatches(std::span<const MismatchClass> allowed) const {
  std::uint64_t total = 0;
  for (int c = 0; c < kMismatchClasses; ++c) {
    if (std::find(allowed.begin(), allowed.end(), static_cast<MismatchClass>(c)) == allowed.end()) {
      total += mismatches[static_cast<std::size_t>(c)];
    }
  }
  return total;
}

void record_mismatch(ValidationResult& result, MismatchExample m, MismatchClass c, int max_examples) {
  const auto k = static_cast<std::size_t>(c);
  ++result.mismatches[k];
  std::vector<MismatchExample>& ex = result.examples[k];
  const auto limit = static_cast<std::size_t>(std::max(max_examples, 0));
  if (ex.size() == limit && (limit == 0 || ex.back().input < m.input)) return;
  ex.insert(std::upper_bound(ex.begin(), ex.end(), m,
                             [](const MismatchExample& a, const MismatchExample& b) { return a.input < b.input; }),
            m);
  if (ex.size() > limit) ex.pop_back();
}

void merge(ValidationResult& into, const ValidationResult& from, int max_examples) {
  into.inputs_checked += from.inputs_checked;
  for (std::size_t c = 0; c < kMismatchClasses; ++c) {
    into.mismatches[c] += from.mismatches[c];
    std::vector<MismatchExample>& ex = into.examples[c];
    ex.insert(ex.end(), from.examples[c].begin(), from.examples[c].end());
    std::sort(ex.begin(), ex.end(),
              [](const MismatchExample& a, const MismatchExample& b) { return a.input < b.input; });
    ex.resize(std::min(ex.size(), static_cast<std::size_t>(std::max(max_examples, 0))));
  }
  into.seconds += from.seconds;
}

ValidationResult validate_sweep(const ConversionTarget& target, SweepRange range, const ValidateOptions& options) {
  if (range.stride == 0) throw Error("validate: sweep stride must be at least 1");
  constexpr std::uint64_t kPatterns = std::uint64_t{1} << 32;
  if (range.first >= kPatterns) throw Error("validate: sweep start " + std::to_string(range.first) + " is not a float32 pattern");
  const std::uint64_t span = std::min(range.count, kPatterns - range.first);
  const std::uint64_t count = (span + range.stride - 1) / range.stride;
  return run_sweep(target, count, options, [&](std::uint64_t first_index, std::size_t n, float* out) {
    // Consecutive patterns vectorise as an iota; the wrap-free range keeps them in uint32.
    auto pattern = static_cast<std::uint32_t>(range.first + first_index * range.stride);
    const auto stride = static_cast<std::uint32_t>(range.stride);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(pattern + static_cast<std::uint32_t>(i) * stride);
  });
}

ValidationResult validate_inputs(const ConversionTarget& target, std::span<const std::uint32_t> inputs,
                                 const ValidateOptions& options) {
  return run_sweep(target, inputs.size(), options, [&](std::uint64_t first_index, std::size_t n, float* out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(inputs[first_index + i]);
  });
}

std::vector<std::uint32_t> boundary_inputs(const Format& f) {
  const FormatLimits l = limits(f);
  if (l.total_bits > 16) throw Error("boundary_inputs: format " + format_name(f) + " has more than 16 bits");
  // Every finite non-negative value of the format, ascending.
  std::vector<double> values;
  for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << l.total_bits); ++bits) {
    const Class c = classify(bits, f);
    if (c == Class::nan || c == Class::inf) continue;
    const double v = decode(bits, f);
    if (v >= 0.0) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  std::vector<std::uint32_t> out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    push_float(out, values[i]);
    if (i + 1 < values.size()) push_float(out, (values[i] + values[i + 1]) / 2);
  }
  // The overflow threshold: half a gap of the top binade above max finite.
  push_float(out, l.max_finite + std::ldexp(1.0, l.emax - f.man_bits - 1));
  push_float(out, 2 * l.max_finite);
  // Specials and float32 subnormals (where denormals-are-zero shows).
  const std::uint32_t specials[] = {0x0000'0000u, 0x7F80'0000u, 0x7FC0'0000u, 0x7F80'0001u, 0x7FBF'FFFFu,
                                    0x7FC0'0001u, 0x7FFF'FFFFu, 0x7FE0'0000u, 0x0000'0001u, 0x0000'0002u,
                                    0x0000'8000u, 0x0040'0000u, 0x007F'FFFFu, 0x0080'0000u, 0x7F7F'FFFFu};
  for (std::uint32_t s : specials) {
    out.push_back(s);
    out.push_back(s | 0x8000'0000u);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace fpscope

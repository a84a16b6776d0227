// analysis/validate.h: hardware conversions checked against encode() for every float32 input, mismatches classified.
//
// `fpscope validate` (issue 7) runs float32 bit patterns through a hardware
// conversion (a "target": x86 F16C / AVX-512 instructions here, the GPU's cvt
// instructions in gpu/) and compares each result with encode() from
// core/round.h for the same format, rounding and saturation. A mismatch is
// sorted into one of a few classes that name the known ways hardware departs
// from IEEE-style rounding (NUMERICS.md s3), so that a user can allow, say,
// NaN-encoding differences and still fail on anything else.
// classify_mismatch() is __host__ __device__: the GPU sweep classifies on the device.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

// Why a hardware result differs from the reference; checked in this order.
enum class MismatchClass : std::uint8_t {
  nan_encoding,              // NaN input, both results NaN, different bits (payload, sign, quiet bit)
  sign_of_zero,              // both results are zeros of opposite sign
  subnormal_input_flushed,   // float32 subnormal input became a zero (denormals-are-zero, DAZ)
  saturation_vs_inf,         // one side gave +-inf, the other +-max finite (same sign)
  subnormal_output_flushed,  // the reference is a subnormal of the format, the hardware gave zero (FTZ)
  rounding_direction,        // the hardware gave the other neighbour of the input in the format
  other,                     // none of the above: a real disagreement
};
inline constexpr int kMismatchClasses = 7;

// The names the CLI prints and --allow reads: "nan-encoding", "sign-of-zero", ...
std::string_view mismatch_class_name(MismatchClass c);

// Parses one class name ("nan-payload" is accepted for nan-encoding). Throws
// fpscope::Error naming `what` (the option) and listing the valid names.
MismatchClass parse_mismatch_class(std::string_view name, std::string_view what);

// Sorts one mismatch (expected != actual) of the conversion of float32 `input`
// to format f with rounding r. `expected` is encode(input, f, r).bits.
FPSCOPE_HD constexpr MismatchClass classify_mismatch(std::uint32_t input, std::uint64_t expected,
                                                     std::uint64_t actual, const Format& f, Rounding r) {
  const std::uint32_t magnitude = input & 0x7FFF'FFFFu;
  const bool sign = (input >> 31) != 0 && f.is_signed;
  const Class expected_class = classify(expected, f);
  const Class actual_class = classify(actual, f);
  if (magnitude > 0x7F80'0000u) {
    return actual_class == Class::nan ? MismatchClass::nan_encoding : MismatchClass::other;
  }
  if (expected_class == Class::zero && actual_class == Class::zero) return MismatchClass::sign_of_zero;
  if (magnitude != 0 && magnitude < 0x0080'0000u && actual_class == Class::zero) {
    return MismatchClass::subnormal_input_flushed;
  }
  const std::uint64_t max_finite = detail::max_finite_bits(f, sign);
  if ((expected_class == Class::inf && actual == max_finite) ||
      (actual_class == Class::inf && expected == max_finite)) {
    return MismatchClass::saturation_vs_inf;
  }
  if (expected_class == Class::subnormal && actual_class == Class::zero) {
    return MismatchClass::subnormal_output_flushed;
  }
  if (magnitude < 0x7F80'0000u) {
    // The two format values around the input are what the directed modes give;
    // the hardware chose the one the reference did not.
    const double x = static_cast<double>(std::bit_cast<float>(input));
    if (actual == encode(x, f, Rounding{Mode::rdn}).bits || actual == encode(x, f, Rounding{Mode::rup}).bits) {
      return MismatchClass::rounding_direction;
    }
  }
  (void)r;  // the class depends on the two results, not on which mode was asked for
  return MismatchClass::other;
}

// A hardware conversion of float32 to a format of at most 16 bits.
struct ConversionTarget {
  std::string name;         // e.g. "f16c vcvtps2ph imm=0"
  std::string format_spec;  // the spec encode() is given: "fp16", "e4m3:sat=finite"
  Format format{};
  Rounding rounding{};
  std::string unavailable;  // empty when it can run here; otherwise why not ("CPU lacks avx512_bf16")
  // Converts in[i] to out[i] (the encoding in the low bits); in.size() == out.size().
  std::function<void(std::span<const float> in, std::span<std::uint16_t> out)> convert;
};

struct MismatchExample {
  std::uint32_t input = 0;  // float32 bit pattern
  std::uint64_t expected = 0;
  std::uint64_t actual = 0;
  friend bool operator==(const MismatchExample&, const MismatchExample&) = default;
};

// The outcome of checking one conversion. Mergeable: counts add, examples keep
// the lowest input patterns, so results do not depend on threads or chunking.
struct ValidationResult {
  std::string target;
  std::string format_spec;
  Rounding rounding{};
  std::uint64_t inputs_checked = 0;
  std::array<std::uint64_t, kMismatchClasses> mismatches{};
  // The mismatches of each class with the lowest input patterns, ascending.
  std::array<std::vector<MismatchExample>, kMismatchClasses> examples{};
  double seconds = 0.0;

  std::uint64_t total_mismatches() const;
  // Mismatches in classes not in `allowed`.
  std::uint64_t disallowed_mismatches(std::span<const MismatchClass> allowed) const;
};

// Adds `from` into `into`, keeping at most `max_examples` examples per class.
void merge(ValidationResult& into, const ValidationResult& from, int max_examples);

// Records one mismatch (classified) into `result`, keeping the lowest `max_examples` per class.
void record_mismatch(ValidationResult& result, MismatchExample m, MismatchClass c, int max_examples);

// The patterns first, first + stride, ... below first + count (capped at 2^32).
struct SweepRange {
  std::uint64_t first = 0;
  std::uint64_t count = std::uint64_t{1} << 32;
  std::uint64_t stride = 1;
};

struct ValidateOptions {
  int threads = 0;       // 0 = hardware concurrency
  int max_examples = 4;  // examples kept per class
};

// Every pattern of `range` through target.convert and encode(); throws
// fpscope::Error when the target is unavailable here.
ValidationResult validate_sweep(const ConversionTarget& target, SweepRange range, const ValidateOptions& options);

// The same for an explicit list of patterns.
ValidationResult validate_inputs(const ConversionTarget& target, std::span<const std::uint32_t> inputs,
                                 const ValidateOptions& options);

// The float32 inputs where a conversion to f can go wrong: every finite value
// of f, every midpoint between neighbours and the one above max finite, each
// with its float32 neighbours, both signs; zeros, infinities, NaNs with several
// payloads and float32 subnormals. Sorted, unique. For formats of <= 16 bits.
std::vector<std::uint32_t> boundary_inputs(const Format& f);

// The conversions of this CPU's instruction sets (analysis/validate_x86.cpp):
// every known one, with `unavailable` set where the CPU lacks the feature.
std::vector<ConversionTarget> cpu_conversion_targets();

}  // namespace fpscope

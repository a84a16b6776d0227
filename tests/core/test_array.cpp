// tests/core/test_array.cpp: the array kernels (core/array.h), their fast paths (core/fast_paths.h),
// stochastic rounding statistics and determinism, and Philox known answers (core/random.h).
//
// The oracle for every value and flag is the scalar rounding core, encode() and
// quantize() of core/round.h (itself checked against MPFR in test_round_mpfr.cpp).
// Here the fast paths meet it on a strided sample of all 2^32 float32 inputs and on
// every rounding boundary of each format; test_array_exhaustive.cpp covers all 2^32.
#include "core/array.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/fast_paths.h"
#include "core/random.h"

namespace fpscope {
namespace {

constexpr std::uint64_t kSeed = 0x5EED'1234'ABCD'0001u;

std::uint32_t bits_of(float x) { return std::bit_cast<std::uint32_t>(x); }
float float_of(std::uint32_t u) { return std::bit_cast<float>(u); }

// ---- Philox4x32-10 (core/random.h) ----

// Random123's kat_vectors (Salmon et al. SC11): counter[4] key[2] -> output[4].
TEST(philox, random123_known_answers) {
  struct Kat {
    PhiloxBlock counter;
    std::uint32_t key0, key1;
    PhiloxBlock expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    const PhiloxBlock out = philox4x32_10(k.counter, k.key0, k.key1);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(out.word[w], k.expected.word[w]) << "word " << w;
  }
  // The 64-bit counter/seed form is the same generator with counter words 2, 3 zero.
  const PhiloxBlock zero = philox4x32(0, 0);
  EXPECT_EQ(zero.word[0], 0x6627e8d5u);
  EXPECT_EQ(zero.word[3], 0x9b00dbd8u);
  const PhiloxBlock a = philox4x32(0x299f31d0'a4093822u, 0x85a308d3'243f6a88u);
  const PhiloxBlock b = philox4x32_10({{0x243f6a88, 0x85a308d3, 0, 0}}, 0xa4093822, 0x299f31d0);
  for (int w = 0; w < 4; ++w) EXPECT_EQ(a.word[w], b.word[w]);
}

TEST(philox, sr_random_bits_takes_word_i_mod_4_of_block_i_div_4) {
  for (std::uint64_t i = 0; i < 64; ++i) {
    EXPECT_EQ(sr_random_bits(kSeed, i), philox4x32(kSeed, i / 4).word[i % 4]) << i;
  }
  const std::uint64_t far = (std::uint64_t{1} << 40) + 7;
  EXPECT_EQ(sr_random_bits(kSeed, far), philox4x32(kSeed, far >> 2).word[3]);
}

// ---- The oracle ----

struct Case {
  const char* format;
  Rounding rounding;
};

std::string describe(const Case& c) {
  static const char* const kModes[] = {"rne", "rna", "rtz", "rup", "rdn", "rto", "sr"};
  std::string s = std::string(c.format) + " " + kModes[static_cast<int>(c.rounding.mode)];
  if (c.rounding.mode == Mode::sr) s += ":" + std::to_string(c.rounding.sr_bits);
  return s;
}

// The generic path for one float32 input: quantize() narrowed to float, and encode().
struct Reference {
  std::uint32_t value_bits;
  std::uint64_t encoding;
  std::uint8_t flags;
};

Reference reference(float x, const Format& f, Rounding r, std::uint32_t random) {
  const Encoded e = encode(static_cast<double>(x), f, r, random);
  return {bits_of(static_cast<float>(decode(e.bits, f))), e.bits, e.flags};
}

const Rounding kAllRoundings[] = {
    {Mode::rne}, {Mode::rna}, {Mode::rtz}, {Mode::rup}, {Mode::rdn}, {Mode::rto},
    {Mode::sr, 32}, {Mode::sr, 13}, {Mode::sr, 1},
};

// Every preset the fast path takes, plus custom formats that reach its other
// branches: no subnormals, saturation and NaN overflow on ieee formats, a high
// bias, bf16 without subnormals (grid 2^-126), fn and fnuz with more bits.
const char* const kFastFormats[] = {
    "tf32", "bf16", "fp16", "e5m2", "e4m3", "e4m3fnuz", "e5m2fnuz", "e3m4", "e2m3", "e3m2",
    "e2m1", "e4m3:nosub", "e5m2:sat", "e5m2:sat=nan", "fp16:nosub:sat", "e8m7:nosub",
    "e8m3", "e3m2:bias=1", "e6m9:specials=fn", "e5m4:specials=fnuz", "e2m1:nosub",
    "e4m1:specials=fn"};

TEST(fast_path, applies_to_the_formats_inside_binary32_only) {
  for (const char* name : kFastFormats) {
    EXPECT_TRUE(detail::fast_path_applies(parse_format(name))) << name;
  }
  for (const char* name : {"fp32", "fp64", "e8m0", "e9m7", "e8m7:bias=120", "e4m3:unsigned",
                           "e4m3:nozero", "e8m10:bias=137"}) {
    EXPECT_FALSE(detail::fast_path_applies(parse_format(name))) << name;
  }
}

// Float32 inputs around every rounding boundary of f: each representable value
// (all of them for formats of 8 bits or less; for wider ones each binade's
// first, middle and last codes, and in the lowest and highest binades each power
// of two and its predecessor), the midpoint to the next value and the overflow
// threshold, with their float32 neighbours on either side; plus zeros,
// infinities, NaNs and float32 subnormals.
std::vector<float> boundary_inputs(const Format& f) {
  const FormatLimits l = limits(f);
  const std::uint64_t man_mask = (std::uint64_t{1} << f.man_bits) - 1;
  const std::uint64_t top = (std::uint64_t{1} << f.exp_bits) - 1;
  std::vector<float> out;
  const auto add_with_neighbours = [&](double v) {
    const float x = static_cast<float>(v);
    for (float y : {x, std::nextafter(x, -INFINITY), std::nextafter(x, INFINITY)}) {
      out.push_back(y);
      out.push_back(-y);
    }
  };
  const std::uint64_t magnitudes = std::uint64_t{1} << (f.exp_bits + f.man_bits);
  for (std::uint64_t code = 0; code < magnitudes; ++code) {
    const std::uint64_t field = code >> f.man_bits;
    const std::uint64_t man = code & man_mask;
    // Subnormal shifts depend on the leading bit: powers of two and their predecessors.
    const bool power_or_before = std::has_single_bit(man) || std::has_single_bit(man + 1);
    const bool wanted = l.total_bits <= 8 || man <= 2 || man + 2 >= man_mask ||
                        man == man_mask / 2 || man == man_mask / 2 + 1 ||
                        ((field == 0 || field + 1 >= top) && power_or_before);
    if (!wanted) continue;
    const double v = decode(code, f);
    if (!std::isfinite(v)) continue;
    add_with_neighbours(v);
    const double next = decode(code + 1, f);
    if (std::isfinite(next) && next > v) add_with_neighbours((v + next) / 2);
  }
  // Max finite, the overflow threshold (half an ulp above) and one ulp above.
  const double ulp_top = detail::ldexp_exact(1.0, l.emax - f.man_bits);
  add_with_neighbours(l.max_finite);
  add_with_neighbours(l.max_finite + ulp_top / 2);
  add_with_neighbours(l.max_finite + ulp_top);
  add_with_neighbours(l.min_subnormal / 2);
  add_with_neighbours(l.min_subnormal / 4);
  for (std::uint32_t u : {0x0000'0000u, 0x0000'0001u, 0x0000'0002u, 0x0040'0000u, 0x007F'FFFFu,
                          0x0080'0000u, 0x0080'0001u, 0x7F7F'FFFFu, 0x7F80'0000u, 0x7F80'0001u,
                          0x7FC0'0000u, 0x7FFF'FFFFu, 0x7FA0'0000u, 0x3F80'0000u}) {
    out.push_back(float_of(u));
    out.push_back(float_of(u | 0x8000'0000u));
  }
  return out;
}

// A strided sample of all 2^32 bit patterns (stride prime to 2^32) and the boundaries.
std::vector<float> sample_inputs(const Format& f) {
  std::vector<float> in = boundary_inputs(f);
  constexpr std::uint32_t kStride = 524287;  // the prime 2^19 - 1: 8193 patterns
  for (std::uint64_t u = 12345; u < (std::uint64_t{1} << 32); u += kStride) {
    in.push_back(float_of(static_cast<std::uint32_t>(u)));
  }
  return in;
}

// The array kernels against the oracle on `in`, element by element: values,
// encodings (in each unsigned width that holds them) and flags, per element
// (the scalar fast kernel) and per array (the OR quantize_array returns).
void expect_matches_oracle(const std::vector<float>& in, const Case& c, std::uint64_t offset) {
  SCOPED_TRACE(describe(c));
  const Format f = parse_format(c.format);
  ArrayOptions options;
  options.rounding = c.rounding;
  options.seed = kSeed;
  options.index_offset = offset;
  std::vector<float> values(in.size());
  std::vector<std::uint32_t> codes(in.size());
  std::vector<std::uint16_t> codes16(in.size());
  const std::uint8_t array_flags = quantize_array(in, values, f, options);
  EXPECT_EQ(encode_array<std::uint32_t>(in, codes, f, options), array_flags);
  if (limits(f).total_bits <= 16) encode_array<std::uint16_t>(in, codes16, f, options);
  const auto params = detail::make_fast_params(f, c.rounding, detail::FastOutput::value);
  std::uint8_t expected_flags = 0;
  int mismatches = 0;
  for (std::size_t i = 0; i < in.size() && mismatches < 10; ++i) {
    const std::uint32_t random = sr_random_bits(kSeed, offset + i);
    const Reference ref = reference(in[i], f, c.rounding, random);
    expected_flags |= ref.flags;
    std::uint8_t element_flags = ref.flags;
    if (params) {
      std::uint32_t events = 0;
      std::uint32_t scalar = 0;
      switch (c.rounding.mode) {
#define FPSCOPE_SCALAR_CASE(M)                                                              \
  case Mode::M:                                                                             \
    scalar = detail::round_float_bits<Mode::M, detail::FastOutput::value>(bits_of(in[i]), \
                                                                           random, *params, \
                                                                           events);        \
    break;
        FPSCOPE_SCALAR_CASE(rne)
        FPSCOPE_SCALAR_CASE(rna)
        FPSCOPE_SCALAR_CASE(rtz)
        FPSCOPE_SCALAR_CASE(rup)
        FPSCOPE_SCALAR_CASE(rdn)
        FPSCOPE_SCALAR_CASE(rto)
        FPSCOPE_SCALAR_CASE(sr)
#undef FPSCOPE_SCALAR_CASE
      }
      EXPECT_EQ(scalar, ref.value_bits) << "scalar kernel, input bits 0x" << std::hex << bits_of(in[i]);
      element_flags = detail::fast_flags(events, *params);
    }
    const bool ok = bits_of(values[i]) == ref.value_bits && codes[i] == ref.encoding &&
                    element_flags == ref.flags &&
                    (limits(f).total_bits > 16 || codes16[i] == ref.encoding);
    if (!ok) {
      ++mismatches;
      ADD_FAILURE() << "input " << in[i] << " (bits 0x" << std::hex << bits_of(in[i])
                    << "): value 0x" << bits_of(values[i]) << " expected 0x" << ref.value_bits
                    << ", code 0x" << codes[i] << " expected 0x" << ref.encoding << ", flags "
                    << int{element_flags} << " expected " << int{ref.flags};
    }
  }
  EXPECT_EQ(array_flags, expected_flags);
}

// Runs body(is_detected) once per kernel instruction set this CPU has (baseline,
// AVX2, AVX-512), then restores the detected one, which library users get.
template <class Body>
void for_each_kernel_isa(Body body) {
  const detail::KernelIsa detected = detail::detected_kernel_isa();
  for (detail::KernelIsa isa :
       {detail::KernelIsa::baseline, detail::KernelIsa::avx2, detail::KernelIsa::avx512}) {
    if (detail::use_kernel_isa_for_testing(isa) != isa) continue;
    SCOPED_TRACE("kernel ISA " + std::to_string(static_cast<int>(isa)));
    body(isa == detected);
  }
  detail::use_kernel_isa_for_testing(detected);
}

TEST(fast_path, matches_the_rounding_core_on_boundaries_and_a_strided_sample) {
  // Every fast format on the ISA in use; the other ISAs (same source, other
  // instructions and Philox layout) on the benchmarked formats and two customs,
  // to keep the sanitizer build's run short.
  const char* const fewer[] = {"bf16", "fp16", "e4m3", "e5m2", "e2m1", "e4m3:nosub", "e8m7:nosub"};
  for_each_kernel_isa([&](bool detected) {
    const std::span<const char* const> formats =
        detected ? std::span<const char* const>(kFastFormats) : std::span<const char* const>(fewer);
    for (const char* name : formats) {
      const std::vector<float> in = sample_inputs(parse_format(name));
      for (const Rounding& r : kAllRoundings) {
        expect_matches_oracle(in, Case{name, r}, 3);  // offset 3: SR starts mid-block
      }
    }
  });
}

// Formats outside binary32 take the generic path; same oracle, fewer inputs.
TEST(generic_path, matches_the_rounding_core) {
  for (const char* name : {"fp32", "e8m0", "e9m7", "e8m10:bias=137"}) {
    std::vector<float> in = boundary_inputs(parse_format("bf16"));
    in.resize(std::min<std::size_t>(in.size(), 20000));
    for (const Rounding& r : {Rounding{Mode::rne}, Rounding{Mode::rup}, Rounding{Mode::sr, 32}}) {
      expect_matches_oracle(in, Case{name, r}, 0);
    }
  }
}

// The SR decision at its threshold, with noise chosen from the exact fractional
// distance (computed in double, independent of the bit manipulation): with k
// bits, lead = floor(p * 2^k) and the result rounds up iff noise >= 2^k - lead.
TEST(fast_path, stochastic_threshold_matches_the_fractional_distance) {
  for (const char* name : {"bf16", "fp16", "e4m3", "e5m2", "e2m1", "e4m3:nosub"}) {
    const Format f = parse_format(name);
    for (int k : {1, 7, 13, 32}) {
      const Rounding sr{Mode::sr, k};
      const auto params = detail::make_fast_params(f, sr, detail::FastOutput::value);
      ASSERT_TRUE(params);
      const std::vector<float> in = boundary_inputs(f);
      for (std::size_t i = 0; i < in.size(); i += 3) {
        const double x = in[i];
        if (!std::isfinite(x)) continue;
        const double down = quantize(x, f, Rounding{Mode::rtz});
        const double up = quantize(x, f, Rounding{Mode::rup});
        const double away = std::fabs(down) < std::fabs(up) ? up : quantize(x, f, Rounding{Mode::rdn});
        if (down == x || away == down || !std::isfinite(away)) continue;
        const double p = (std::fabs(x) - std::fabs(down)) / (std::fabs(away) - std::fabs(down));
        const double lead = std::floor(std::ldexp(p, k));
        const double threshold = std::ldexp(1.0, k) - lead;  // smallest noise that rounds up
        for (double noise : {threshold - 1, threshold}) {
          if (noise < 0 || noise > std::ldexp(1.0, k) - 1) continue;
          const auto random = static_cast<std::uint32_t>(noise);
          std::uint32_t events = 0;
          const std::uint32_t got = detail::round_float_bits<Mode::sr, detail::FastOutput::value>(
              bits_of(in[i]), random, *params, events);
          const bool rounds_up = noise >= threshold;
          const double expected = rounds_up ? away : down;
          EXPECT_EQ(got, bits_of(static_cast<float>(expected)))
              << name << " sr:" << k << " x=" << x << " noise=" << noise;
          EXPECT_EQ(got, reference(in[i], f, sr, random).value_bits);
        }
      }
    }
  }
}

// round_double_sr_value: the value encode() gives by SR from a double (every
// bit of its fraction, not a float32's), for doubles over every binade of the
// format and beyond, the grid points, midpoints and their double neighbours,
// with random words at and around each one's decision threshold.
TEST(fast_path, stochastic_rounding_of_doubles_matches_the_rounding_core) {
  std::mt19937_64 rng(9);
  for (const char* name : {"bf16", "fp16", "e4m3", "e5m2", "e2m1", "e3m2", "e4m3:nosub", "e5m2fnuz", "tf32"}) {
    const Format f = parse_format(name);
    const FormatLimits lim = limits(f);
    const detail::FastDoubleParams dp = detail::make_fast_double_params(f);
    std::vector<double> in = {0.0, -0.0, lim.max_finite, std::nextafter(lim.max_finite, 1e300), 1e300,
                              std::numeric_limits<double>::denorm_min(), std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN()};
    for (const float b : boundary_inputs(f)) {
      if (!std::isfinite(b)) continue;
      in.push_back(b);
      in.push_back(std::nextafter(static_cast<double>(b), 0.0));
      in.push_back(std::nextafter(static_cast<double>(b), 1e300));
      in.push_back(static_cast<double>(b) * (1.0 + std::ldexp(static_cast<double>(rng() % 1024), -45)));
    }
    for (int i = 0; i < 20000; ++i) {
      const int e = static_cast<int>(rng() % static_cast<std::uint64_t>(lim.emax - lim.emin + 60)) + lim.emin - 50;
      in.push_back(std::ldexp(1.0 + std::ldexp(static_cast<double>(rng() >> 11), -53), e) * (rng() % 2 ? -1 : 1));
    }
    for (int k : {1, 8, 20, 32}) {
      const Rounding sr{Mode::sr, k};
      const auto p = detail::make_fast_params(f, sr, detail::FastOutput::value);
      ASSERT_TRUE(p) << name;
      std::size_t taken_count = 0;
      for (const double x : in) {
        for (int trial = 0; trial < 3; ++trial) {
          const auto random = static_cast<std::uint32_t>(rng());
          std::uint32_t taken = 0;
          const std::uint32_t got = detail::round_double_sr_value(x, random, *p, dp, taken);
          const Encoded e = encode(x, f, sr, random);
          const double expected = decode(e.bits, f);
          const bool must_take = std::isfinite(x) && (x == 0.0 || std::fabs(x) >= 0x1p-1022) &&
                                 std::isfinite(expected) && (e.flags & kOverflow) == 0;
          // Taken exactly when encode() gives a finite value without overflow from a normal (or zero) double.
          EXPECT_EQ(taken != 0, must_take) << name << " sr:" << k << " x=" << x;
          if (taken == 0) continue;
          ++taken_count;
          EXPECT_EQ(got, bits_of(static_cast<float>(expected))) << name << " sr:" << k << " x=" << x << " random=" << random;
        }
      }
      EXPECT_GT(taken_count, in.size()) << name;
    }
  }
}

// ---- Arrays: the generic and double paths, encodings, decoding ----

TEST(arrays, double_input_matches_the_rounding_core) {
  std::vector<double> in;
  for (double v : {0.0, -0.0, 1.0, 3.14, -3.14, 1e-7, 1e-30, 470.0, 65520.0, 1e300, 5e-324,
                   std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    for (int k = -3; k <= 3; ++k) in.push_back(v * (1.0 + k * 0x1p-30));
  }
  for (const char* name : {"bf16", "e4m3", "e2m1", "fp32", "e5m10"}) {
    const Format f = parse_format(name);
    for (const Rounding& r : kAllRoundings) {
      ArrayOptions o{r, kSeed, 10, 1};
      std::vector<double> values(in.size());
      std::vector<std::uint64_t> codes(in.size());
      const std::uint8_t flags = quantize_array(in, values, f, o);
      EXPECT_EQ(encode_array<std::uint64_t>(in, codes, f, o), flags);
      std::uint8_t expected_flags = 0;
      for (std::size_t i = 0; i < in.size(); ++i) {
        const Encoded e = encode(in[i], f, r, sr_random_bits(kSeed, 10 + i));
        expected_flags |= e.flags;
        EXPECT_EQ(codes[i], e.bits) << name << " " << in[i];
        EXPECT_EQ(std::bit_cast<std::uint64_t>(values[i]),
                  std::bit_cast<std::uint64_t>(decode(e.bits, f)))
            << name << " " << in[i];
      }
      EXPECT_EQ(flags, expected_flags) << name;
    }
  }
}

TEST(arrays, encodings_fit_every_wide_enough_unsigned_type) {
  const Format e4m3 = parse_format("e4m3");
  const std::vector<float> in = boundary_inputs(e4m3);
  std::vector<std::uint8_t> c8(in.size());
  std::vector<std::uint16_t> c16(in.size());
  std::vector<std::uint64_t> c64(in.size());
  const ArrayOptions o{};
  encode_array<std::uint8_t>(in, c8, e4m3, o);
  encode_array<std::uint16_t>(in, c16, e4m3, o);
  encode_array<std::uint64_t>(in, c64, e4m3, o);
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::uint64_t expected = encode(in[i], e4m3, Rounding{}).bits;
    ASSERT_EQ(c8[i], expected);
    ASSERT_EQ(c16[i], expected);
    ASSERT_EQ(c64[i], expected);
  }
}

TEST(arrays, in_place_quantize_equals_out_of_place) {
  const Format fp16 = parse_format("fp16");
  std::vector<float> in = sample_inputs(fp16);
  std::vector<float> out(in.size());
  const ArrayOptions o{Rounding{Mode::sr, 32}, kSeed, 0, 2};
  quantize_array(in, out, fp16, o);
  quantize_array(in, in, fp16, o);
  EXPECT_EQ(std::memcmp(in.data(), out.data(), in.size() * sizeof(float)), 0);
}

TEST(arrays, decode_matches_decode_for_every_encoding) {
  for (const char* name : {"e4m3", "e5m2fnuz", "e2m1", "fp16", "bf16", "e8m0", "e5m10"}) {
    const Format f = parse_format(name);
    const int bits = limits(f).total_bits;
    // Every code once (table path for formats of 16 bits or less), then a short
    // array (the direct path), both against decode().
    const std::size_t count = std::size_t{1} << std::min(bits, 16);
    std::vector<std::uint32_t> codes(count);
    std::iota(codes.begin(), codes.end(), 0u);
    std::vector<std::uint32_t> few(codes.begin(), codes.begin() + std::min<std::size_t>(count, 77));
    for (const std::vector<std::uint32_t>* in : {&codes, &few}) {
      std::vector<float> as_float(in->size());
      std::vector<double> as_double(in->size());
      decode_array<std::uint32_t>(*in, as_float, f, 2);
      decode_array<std::uint32_t>(*in, as_double, f);
      for (std::size_t i = 0; i < in->size(); ++i) {
        const double v = decode((*in)[i], f);
        ASSERT_EQ(std::bit_cast<std::uint64_t>(as_double[i]), std::bit_cast<std::uint64_t>(v))
            << name << " code " << (*in)[i];
        ASSERT_EQ(bits_of(as_float[i]), bits_of(static_cast<float>(v))) << name << " code " << (*in)[i];
      }
    }
  }
  // uint8 codes and a 64-bit wide format.
  const std::vector<std::uint8_t> small{0x00, 0x7E, 0x7F, 0x80, 0xFE, 0x38};
  std::vector<double> out(small.size());
  decode_array<std::uint8_t>(small, out, parse_format("e4m3"));
  EXPECT_EQ(out[1], 448.0);
  EXPECT_TRUE(std::isnan(out[2]));
  EXPECT_EQ(out[5], 1.0);
  const std::vector<std::uint64_t> wide{0x3FF0'0000'0000'0000u};
  std::vector<double> one(1);
  decode_array<std::uint64_t>(wide, one, parse_format("fp64"));
  EXPECT_EQ(one[0], 1.0);
}

// ---- Stochastic rounding: statistics ----

// N = 10^6 roundings of one value x, a fraction p of the gap above its lower
// neighbour. The count of round-ups is Binomial(N, p): its frequency must lie
// within 5 sigma of p, sigma = sqrt(p (1 - p) / N) (a false failure has odds
// below 1e-6), and the mean error within 5 sigma of zero, where the error's
// standard deviation is gap * sqrt(p (1 - p)) per sample.
struct SrSample {
  double up_frequency;
  double mean_error;
  double lower, gap;
};

SrSample sample_sr(const char* format, float x, int sr_bits, std::uint64_t seed) {
  constexpr std::size_t kN = 1'000'000;
  const Format f = parse_format(format);
  const std::vector<float> in(kN, x);
  std::vector<float> out(kN);
  quantize_array(in, out, f, ArrayOptions{Rounding{Mode::sr, sr_bits}, seed, 0, 2});
  SrSample s{};
  s.lower = quantize(x, f, Rounding{Mode::rtz});
  const double upper = x >= 0 ? quantize(x, f, Rounding{Mode::rup}) : quantize(x, f, Rounding{Mode::rdn});
  s.gap = std::fabs(upper - s.lower);
  std::size_t ups = 0;
  double error_sum = 0;
  for (float v : out) {
    EXPECT_TRUE(v == s.lower || v == upper) << v;
    ups += v == upper ? 1 : 0;
    error_sum += static_cast<double>(v) - static_cast<double>(x);
  }
  s.up_frequency = static_cast<double>(ups) / kN;
  s.mean_error = error_sum / kN;
  return s;
}

TEST(stochastic_rounding, up_frequency_matches_the_fractional_distance_and_is_unbiased) {
  constexpr double kN = 1'000'000;
  struct Probe {
    const char* format;
    float x;
  };
  // Normal, subnormal and negative values in each benchmarked format.
  const Probe probes[] = {
      {"bf16", 1.3f},      {"bf16", -0x1.234p-130f}, {"fp16", 0.1f},    {"fp16", 3e-6f},
      {"e4m3", 300.0f},    {"e4m3", 0.0041f},        {"e5m2", -1.7f},   {"e5m2", 1e-5f},
      {"e2m1", 2.3f},      {"e2m1", 0.3f},           {"e2m1", -5.5f},   {"e4m3", 1.0625f},
  };
  for (const Probe& probe : probes) {
    const SrSample s = sample_sr(probe.format, probe.x, 32, kSeed);
    const double p = (std::fabs(static_cast<double>(probe.x)) - std::fabs(s.lower)) / s.gap;
    const double sigma = std::sqrt(p * (1 - p) / kN);
    EXPECT_LE(std::fabs(s.up_frequency - p), 5 * sigma)
        << probe.format << " x=" << probe.x << " p=" << p << " freq=" << s.up_frequency;
    EXPECT_LE(std::fabs(s.mean_error), 5 * s.gap * sigma)
        << probe.format << " x=" << probe.x << " mean error " << s.mean_error;
  }
}

// With k random bits, P(up) = floor(p 2^k) / 2^k: p is quantised to multiples of 2^-k.
TEST(stochastic_rounding, sr_bits_quantise_the_probability) {
  constexpr double kN = 1'000'000;
  // 1 + 0.3 * 2^-7 in bf16: p = 0.3 (to float32 precision).
  const float x = 1.0f + 0.3f * 0x1p-7f;
  const double p = (static_cast<double>(x) - 1.0) / 0x1p-7;
  for (int k : {1, 2, 3, 8, 32}) {
    const SrSample s = sample_sr("bf16", x, k, kSeed + static_cast<std::uint64_t>(k));
    const double pk = std::floor(std::ldexp(p, k)) / std::ldexp(1.0, k);
    const double sigma = std::sqrt(pk * (1 - pk) / kN);
    if (pk == 0) {
      EXPECT_EQ(s.up_frequency, 0.0) << "k=" << k;  // p < 2^-k never rounds up
    } else {
      EXPECT_LE(std::fabs(s.up_frequency - pk), 5 * sigma) << "k=" << k << " P(up)=" << pk;
    }
  }
  // k = 2 gives 0.25, far (> 100 sigma) from the unquantised 0.3.
  EXPECT_LT(sample_sr("bf16", x, 2, kSeed).up_frequency, 0.26);
}

// ---- Stochastic rounding: determinism ----

void expect_same_bits_for_any_threads_and_chunking();

std::vector<float> sr_test_input() {
  std::vector<float> in((std::size_t{1} << 17) + 13);
  for (std::size_t i = 0; i < in.size(); ++i) {
    in[i] = static_cast<float>(std::sin(static_cast<double>(i)) * 100.0);
  }
  return in;
}

TEST(stochastic_rounding, same_seed_same_bits_for_any_threads_and_chunking) {
  for_each_kernel_isa([](bool) { expect_same_bits_for_any_threads_and_chunking(); });
}

void expect_same_bits_for_any_threads_and_chunking() {
  const std::vector<float> in = sr_test_input();
  for (const char* name : {"e4m3", "bf16", "e9m7"}) {  // e9m7: the generic path
    const Format f = parse_format(name);
    const ArrayOptions one{Rounding{Mode::sr, 32}, kSeed, 1000, 1};
    std::vector<float> reference_out(in.size());
    quantize_array(in, reference_out, f, one);
    for (int threads : {2, 3, 0}) {
      ArrayOptions o = one;
      o.threads = threads;
      std::vector<float> out(in.size());
      quantize_array(in, out, f, o);
      EXPECT_EQ(std::memcmp(out.data(), reference_out.data(), in.size() * sizeof(float)), 0)
          << name << " threads=" << threads;
    }
    // Chunks of odd sizes, each with index_offset = its global start.
    std::vector<float> chunked(in.size());
    const std::size_t sizes[] = {1, 3, 64, 1000, 65, 7, 40000};
    for (std::size_t begin = 0, k = 0; begin < in.size(); ++k) {
      const std::size_t size = std::min(sizes[k % std::size(sizes)], in.size() - begin);
      ArrayOptions o = one;
      o.index_offset = one.index_offset + begin;
      quantize_array(std::span(in).subspan(begin, size), std::span(chunked).subspan(begin, size), f, o);
      begin += size;
    }
    EXPECT_EQ(std::memcmp(chunked.data(), reference_out.data(), in.size() * sizeof(float)), 0) << name;
  }
}

TEST(stochastic_rounding, different_seeds_give_different_bits) {
  const std::vector<float> in = sr_test_input();
  const Format f = parse_format("e4m3");
  std::vector<float> a(in.size()), b(in.size());
  quantize_array(in, a, f, ArrayOptions{Rounding{Mode::sr, 32}, 1, 0, 1});
  quantize_array(in, b, f, ArrayOptions{Rounding{Mode::sr, 32}, 2, 0, 1});
  std::size_t differ = 0;
  std::size_t inexact = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    differ += a[i] != b[i] ? 1 : 0;
    inexact += quantize(in[i], f, Rounding{Mode::rtz}) != in[i] ? 1 : 0;
  }
  // An inexact element differs with probability 2p(1-p); over this input that is
  // well above 10% of the inexact elements.
  EXPECT_GT(differ, inexact / 10);
  // And an index offset moves the stream too.
  quantize_array(in, b, f, ArrayOptions{Rounding{Mode::sr, 32}, 1, 1, 1});
  EXPECT_NE(std::memcmp(a.data(), b.data(), in.size() * sizeof(float)), 0);
}

// ---- User errors ----

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(arrays, user_errors_name_the_function_and_say_what_is_wrong) {
  std::vector<float> in(10), out(9);
  std::vector<std::uint8_t> codes(10);
  std::vector<std::uint16_t> codes16(10);
  std::vector<double> din(10);
  const Format fp16 = parse_format("fp16");
  EXPECT_EQ(error_of([&] { quantize_array(in, out, fp16, ArrayOptions{}); }),
            "quantize_array: the input has 10 elements but the output has 9");
  EXPECT_EQ(error_of([&] { encode_array<std::uint8_t>(in, codes, fp16, ArrayOptions{}); }),
            "encode_array: format fp16 needs 16-bit encodings but the array holds 8-bit elements");
  EXPECT_EQ(error_of([&] { decode_array<std::uint8_t>(codes, in, fp16); }),
            "decode_array: format fp16 needs 16-bit encodings but the array holds 8-bit elements");
  EXPECT_EQ(error_of([&] { decode_array<std::uint16_t>(codes16, out, fp16); }),
            "decode_array: the input has 10 elements but the output has 9");
  EXPECT_EQ(error_of([&] {
              quantize_array(din, din, fp16, ArrayOptions{Rounding{Mode::sr, 0}, 0, 0, 1});
            }),
            "quantize_array: sr_bits must be 1..32, got 0");
  EXPECT_EQ(error_of([&] { quantize_array(in, in, fp16, ArrayOptions{Rounding{}, 0, 0, -1}); }),
            "quantize_array: threads must be >= 0 (0 = all cores), got -1");
  Format bad = fp16;
  bad.man_bits = 60;
  EXPECT_NE(error_of([&] { quantize_array(in, in, bad, ArrayOptions{}); }).find("quantize_array format"),
            std::string::npos);
}

TEST(arrays, empty_arrays_are_fine) {
  std::vector<float> none;
  EXPECT_EQ(quantize_array(none, none, parse_format("e4m3"), ArrayOptions{Rounding{Mode::sr, 32}, 0, 0, 0}), 0);
}

}  // namespace
}  // namespace fpscope

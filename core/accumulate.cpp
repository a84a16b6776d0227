// core/accumulate.cpp: the accumulation models (scalar reference paths and GEMM fast paths), presets and the spec parser.
#include "core/accumulate.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/exact_dot.h"

namespace fpscope {
namespace {

constexpr Format kFp32{.exp_bits = 8, .man_bits = 23, .bias = 127};
constexpr Format kFp64{.exp_bits = 11, .man_bits = 52, .bias = 1023};
// fp32 with 13 fraction bits: the H100 fp8 path's output (MMA-Sim "f32_e8m13").
constexpr Format kE8m13{.exp_bits = 8, .man_bits = 13, .bias = 127};

// Exponent given to zero (and to non-finite values, handled separately): far
// below every real exponent, so a zero product never sets a group's maximum and
// aligns to nothing. Two of them still add without overflowing int32.
constexpr std::int32_t kZeroExp = -(1 << 24);

// ---------------------------------------------------------------------------
// Exact two-term sums rounded once (the FMA and the adders of every model).

// +-mag * 2^lsb_exp, exact (mag < 2^120).
struct Term {
  bool negative = false;
  detail::uint128 mag = 0;
  int lsb_exp = 0;
};

Term term_of(double x) {
  const Unpacked p = unpack(x);
  if (p.kind != Unpacked::finite) return Term{p.sign, 0, 0};
  return Term{p.sign, p.sig >> 11, p.exp - 52};
}

// The exact product of two finite doubles.
Term product_term(double a, double b) {
  const Unpacked pa = unpack(a);
  const Unpacked pb = unpack(b);
  Term t;
  t.negative = pa.sign != pb.sign;
  if (pa.kind != Unpacked::finite || pb.kind != Unpacked::finite) return t;
  t.mag = static_cast<detail::uint128>(pa.sig >> 11) * (pb.sig >> 11);
  t.lsb_exp = pa.exp - 52 + pb.exp - 52;
  return t;
}

int bit_length(detail::uint128 x) {
  const auto hi = static_cast<std::uint64_t>(x >> 64);
  if (hi != 0) return 128 - detail::count_leading_zeros(hi);
  const auto lo = static_cast<std::uint64_t>(x);
  return lo == 0 ? 0 : 64 - detail::count_leading_zeros(lo);
}

// Rounds +-mag * 2^lsb_exp (mag != 0, plus a sticky bit below it) to f.
Encoded round_magnitude(bool negative, detail::uint128 mag, int lsb_exp, bool sticky,
                        const Format& f, Rounding r) {
  const int len = bit_length(mag);
  std::uint64_t sig;
  if (len > 64) {
    const int drop = len - 64;
    sig = static_cast<std::uint64_t>(mag >> drop);
    sticky = sticky || (mag & ((static_cast<detail::uint128>(1) << drop) - 1)) != 0;
  } else {
    sig = static_cast<std::uint64_t>(mag) << (64 - len);
  }
  return round_pack(negative, lsb_exp + len - 1, sig, sticky, f, r);
}

// a + b exactly, rounded once to f (IEEE 754 s6.3 for the sign of a zero sum).
double round_sum(const Term& a, const Term& b, const Format& f, Rounding r) {
  if (a.mag == 0 && b.mag == 0) {
    const bool negative = r.mode == Mode::rdn ? (a.negative || b.negative) : (a.negative && b.negative);
    return negative ? -0.0 : 0.0;
  }
  if (b.mag == 0 || a.mag == 0) {
    const Term& t = a.mag == 0 ? b : a;
    return decode(round_magnitude(t.negative, t.mag, t.lsb_exp, false, f, r).bits, f);
  }
  // hi has the higher leading bit; place it with its leading bit at 125 (two
  // spare bits for the carry) and bring lo to the same unit, its lost bits kept
  // as a sticky bit. Bits can be lost only when lo is far below hi, so the
  // subtraction below never changes the sign.
  const bool a_high = a.lsb_exp + bit_length(a.mag) >= b.lsb_exp + bit_length(b.mag);
  const Term& hi = a_high ? a : b;
  const Term& lo = a_high ? b : a;
  const int hi_shift = 125 - (bit_length(hi.mag) - 1);
  const detail::uint128 hi_mag = hi.mag << hi_shift;
  const int unit = hi.lsb_exp - hi_shift;
  const int lo_shift = lo.lsb_exp - unit;  // < 0: lo's low bits fall below the unit
  detail::uint128 lo_mag = 0;
  bool sticky = false;
  if (lo_shift >= 0) {
    lo_mag = lo.mag << lo_shift;
  } else if (lo_shift > -128) {
    lo_mag = lo.mag >> -lo_shift;
    sticky = (lo.mag & ((static_cast<detail::uint128>(1) << -lo_shift) - 1)) != 0;
  } else {
    sticky = true;
  }
  detail::uint128 mag;
  bool negative = hi.negative;
  if (hi.negative == lo.negative) {
    mag = hi_mag + lo_mag;
  } else if (hi_mag >= lo_mag) {
    mag = hi_mag - lo_mag;
    if (sticky) mag -= 1;  // the true lo is a little larger: the difference a little smaller
  } else {
    mag = lo_mag - hi_mag;  // sticky is false here (lo_shift >= 0)
    negative = lo.negative;
  }
  if (mag == 0) return r.mode == Mode::rdn ? -0.0 : 0.0;
  return decode(round_magnitude(negative, mag, unit, sticky, f, r).bits, f);
}

double round_sum(double a, double b, const Format& f, Rounding r) {
  return round_sum(term_of(a), term_of(b), f, r);
}

// ---------------------------------------------------------------------------
// Operand decoding: v = sig * 2^(exp - man_bits), exp = max(floor(log2|v|), emin).

struct OperandFormat {
  Format format;
  int man_bits;
  int emin;
  double max_finite;
};

OperandFormat operand_format(const Format& f) {
  const FormatLimits l = limits(f);
  return OperandFormat{f, f.man_bits, l.emin, l.max_finite};
}

struct DecodedValue {
  std::int32_t sig = 0;  // signed
  std::int32_t exp = kZeroExp;
  bool finite = true;
};

[[noreturn]] __attribute__((noinline)) void throw_not_a_value(double v, const OperandFormat& of, const char* which,
                                                               std::size_t index) {
  throw Error(std::string("accumulation model: operand ") + which + " element " + std::to_string(index) +
              " = " + std::to_string(v) + " is not a value of format " + format_name(of.format) +
              "; quantize the operands first");
}

// Hot in model_gemm (every operand element once): bit operations only; the
// message is built out of line.
FPSCOPE_FORCEINLINE DecodedValue decode_operand(double v, const OperandFormat& of, const char* which,
                                                std::size_t index) {
  DecodedValue d;
  const auto u = std::bit_cast<std::uint64_t>(v);
  if ((u << 1) == 0) return d;  // +-0
  const int field = static_cast<int>((u >> 52) & 0x7FF);
  if (field == 0x7FF) {
    d.finite = false;
    return d;
  }
  // v = sig53 * 2^(e_real - 52); binary64 subnormals are normalised by unpack().
  std::uint64_t sig53;
  int e_real;
  if (field != 0) {
    sig53 = (u & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{1} << 52);
    e_real = field - 1023;
  } else {
    const Unpacked p = unpack(v);
    sig53 = p.sig >> 11;
    e_real = p.exp;
  }
  const int e = std::max(e_real, of.emin);
  const int shift = 52 - of.man_bits + (e - e_real);  // from units of 2^(e_real - 52) to 2^(e - M)
  if (shift >= 53 || (sig53 & ((std::uint64_t{1} << shift) - 1)) != 0 || std::abs(v) > of.max_finite) {
    throw_not_a_value(v, of, which, index);
  }
  const auto m = static_cast<std::int32_t>(sig53 >> shift);
  d.sig = (u >> 63) ? -m : m;
  d.exp = e;
  return d;
}

// ---------------------------------------------------------------------------
// The fused multi-term adder, scalar (NUMERICS.md s4; MMA-Sim fused_sum).

struct FusedParams {
  int fraction_bits;
  int product_base;  // F - Ma - Mb: the left shift of a product aligned to its own exponent
  Mode alignment;
  int carry_bits;
  bool c_in_group;
  Format accumulator;
  Rounding rounding;
  int accumulator_emin;
  bool accumulator_has_inf;
};

FusedParams fused_params(const AccumulationModel& m, const OperandFormat& fa, const OperandFormat& fb) {
  return FusedParams{m.fraction_bits,
                     m.fraction_bits - fa.man_bits - fb.man_bits,
                     m.alignment,
                     m.carry_bits,
                     m.c_in_group,
                     m.accumulator,
                     m.accumulator_rounding,
                     limits(m.accumulator).emin,
                     m.accumulator.specials == Specials::ieee};
}

// mag * 2^-s, truncated or rounded to nearest even (s > 0).
std::uint64_t align_right(std::uint64_t mag, int s, Mode mode) {
  if (s >= 64) return 0;  // every operand here is below 2^62: under half a unit
  const std::uint64_t q = mag >> s;
  if (mode != Mode::rne) return q;
  const std::uint64_t rem = mag & ((std::uint64_t{1} << s) - 1);
  const std::uint64_t half = std::uint64_t{1} << (s - 1);
  return q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
}

// floor(log2|x|) of a finite non-zero double.
int exponent_of(double x) { return unpack(x).exp; }

// The group result S * 2^unit rounded to the accumulator (overflow gives inf
// where the format has one: the tensor core's output, as MMA-Sim models it).
double round_group_sum(std::int64_t sum, int unit, const FusedParams& p) {
  if (sum == 0) return 0.0;
  const bool negative = sum < 0;
  const std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(sum) : static_cast<std::uint64_t>(sum);
  const Encoded e = round_magnitude(negative, mag, unit, false, p.accumulator, p.rounding);
  if ((e.flags & kOverflow) && p.accumulator_has_inf) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  return decode(e.bits, p.accumulator);
}

// One group: n decoded products and the running sum c; returns the new running sum.
double fused_group(const FusedParams& p, const DecodedValue* a, const DecodedValue* b, std::size_t n,
                   double c) {
  std::int32_t max_exp = kZeroExp;
  for (std::size_t t = 0; t < n; ++t) {
    if (a[t].sig != 0 && b[t].sig != 0) max_exp = std::max(max_exp, a[t].exp + b[t].exp);
  }
  const bool c_joins = p.c_in_group && c != 0.0;
  if (c_joins) max_exp = std::max(max_exp, std::max(exponent_of(c), p.accumulator_emin));
  if (max_exp == kZeroExp) return p.c_in_group ? 0.0 : c;  // nothing non-zero
  std::int64_t sum = 0;
  for (std::size_t t = 0; t < n; ++t) {
    if (a[t].sig == 0 || b[t].sig == 0) continue;
    const std::int64_t product = static_cast<std::int64_t>(a[t].sig) * b[t].sig;
    const std::uint64_t mag = product < 0 ? 0 - static_cast<std::uint64_t>(product) : static_cast<std::uint64_t>(product);
    const int shift = p.product_base - (max_exp - (a[t].exp + b[t].exp));
    const std::uint64_t aligned = shift >= 0 ? mag << shift : align_right(mag, -shift, p.alignment);
    sum += product < 0 ? -static_cast<std::int64_t>(aligned) : static_cast<std::int64_t>(aligned);
  }
  if (c_joins) {
    const Term t = term_of(c);
    const auto m = static_cast<std::uint64_t>(t.mag);  // 53 bits
    const int shift = t.lsb_exp - (max_exp - p.fraction_bits);
    const std::uint64_t aligned = shift >= 0 ? m << shift : align_right(m, -shift, p.alignment);
    sum += t.negative ? -static_cast<std::int64_t>(aligned) : static_cast<std::int64_t>(aligned);
  }
  if (p.carry_bits > 0) {
    const int width = p.fraction_bits + 2 + p.carry_bits;  // bits of the adder, sign included
    if (width < 64) {
      sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(sum) << (64 - width)) >> (64 - width);
    }
  }
  const int unit = max_exp - p.fraction_bits;
  if (p.c_in_group) return round_group_sum(sum, unit, p);
  Term s;
  s.negative = sum < 0;
  s.mag = sum < 0 ? 0 - static_cast<std::uint64_t>(sum) : static_cast<std::uint64_t>(sum);
  s.lsb_exp = unit;
  if (s.mag == 0) s.negative = false;
  return round_sum(s, term_of(c), p.accumulator, p.rounding);
}

// ---------------------------------------------------------------------------
// The scalar reference chain over one promotion segment.

// IEEE semantics for operands with inf or NaN: the models' output is what the
// fp64 sum gives (MMA-Sim returns the fp64 sum's inf or NaN).
double special_sum(std::span<const double> a, std::span<const double> b, double c) {
  double s = c;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// a * b rounded to the accumulator (a multiply without FMA).
double product_rounded(double a, double b, const AccumulationModel& m) {
  const Term t = product_term(a, b);
  if (t.mag == 0) return t.negative ? -0.0 : 0.0;
  return decode(round_magnitude(t.negative, t.mag, t.lsb_exp, false, m.accumulator, m.accumulator_rounding).bits,
                m.accumulator);
}

Term leaf_term(double a, double b, const AccumulationModel& m) {
  if (m.exact_products) return product_term(a, b);
  return term_of(product_rounded(a, b, m));
}

double pairwise_sum(const AccumulationModel& m, const double* a, const double* b, std::size_t n) {
  if (n == 1) return round_sum(leaf_term(a[0], b[0], m), Term{}, m.accumulator, m.accumulator_rounding);
  if (n == 2 && m.exact_products) {
    return round_sum(leaf_term(a[0], b[0], m), leaf_term(a[1], b[1], m), m.accumulator,
                     m.accumulator_rounding);
  }
  const std::size_t half = n / 2;
  const double left = pairwise_sum(m, a, b, half);
  const double right = pairwise_sum(m, a + half, b + half, n - half);
  return round_sum(left, right, m.accumulator, m.accumulator_rounding);
}

double chain(const AccumulationModel& m, const FusedParams& fp, std::span<const double> a,
             std::span<const DecodedValue> da, std::span<const double> b,
             std::span<const DecodedValue> db, double c) {
  switch (m.summation) {
    case Summation::sequential: {
      double acc = c;
      for (std::size_t i = 0; i < a.size(); ++i) {
        acc = round_sum(term_of(acc), leaf_term(a[i], b[i], m), m.accumulator, m.accumulator_rounding);
      }
      return acc;
    }
    case Summation::pairwise:
      if (a.empty()) return c;
      return round_sum(c, pairwise_sum(m, a.data(), b.data(), a.size()), m.accumulator,
                       m.accumulator_rounding);
    case Summation::fused: {
      const auto k = static_cast<std::size_t>(m.group_size);
      double acc = c;
      for (std::size_t g = 0; g < a.size(); g += k) {
        const std::size_t n = std::min(k, a.size() - g);
        acc = fused_group(fp, da.data() + g, db.data() + g, n, acc);
        if (!std::isfinite(acc)) return acc;
      }
      return acc;
    }
  }
  return c;
}

// ---------------------------------------------------------------------------
// Presets and the spec parser.

AccumulationModel sequential(const Format& acc) {
  AccumulationModel m;
  m.summation = Summation::sequential;
  m.accumulator = acc;
  m.accumulator_rounding = Rounding{Mode::rne};
  return m;
}

AccumulationModel tensor_core(int k, int f, const Format& acc, int promote = 0) {
  AccumulationModel m;
  m.summation = Summation::fused;
  m.group_size = k;
  m.fraction_bits = f;
  m.accumulator = acc;
  m.accumulator_rounding = Rounding{Mode::rtz};
  m.promotion_interval = promote;
  m.promoted = kFp32;
  m.promoted_rounding = Rounding{Mode::rne};
  return m;
}

AccumulationModel pairwise_fp32() {
  AccumulationModel m = sequential(kFp32);
  m.summation = Summation::pairwise;
  m.exact_products = false;  // MMA-Sim pairwise_dot: leaves are fmaf(a, b, 0)
  return m;
}

// NUMERICS.md s4's table; K and F from MMA-Sim simulator/nv.py (arch_accum_fractional_bits,
// 13 bits and the e8m13 output for fp8 on Ada/Hopper).
const std::array kPresets{
    AccumulationPreset{"fp32-seq", sequential(kFp32), "sequential IEEE fp32 FMA (RNE), a CPU loop"},
    AccumulationPreset{"fp32-pairwise", pairwise_fp32(),
                       "pairwise IEEE fp32: products and sums rounded RNE (MMA-Sim pairwise_dot)"},
    AccumulationPreset{"fp64", sequential(kFp64), "sequential IEEE fp64 FMA (RNE)"},
    AccumulationPreset{"nv-v100", tensor_core(4, 23, kFp32), "V100 fp16 HMMA: K=4, F=23, fp32 out truncated (Fasi et al. 2021)"},
    AccumulationPreset{"nv-a100", tensor_core(8, 24, kFp32), "A100 fp16/bf16 HMMA: K=8, F=24, fp32 out truncated (MMA-Sim)"},
    AccumulationPreset{"nv-h100-hmma", tensor_core(16, 25, kFp32),
                       "H100/H200 fp16/bf16 HMMA: K=16, F=25, fp32 out truncated (MMA-Sim)"},
    AccumulationPreset{"nv-h100-fp8", tensor_core(32, 13, kE8m13),
                       "H100/H200 fp8 QGMMA: K=32, F=13, fp32 out truncated to 13 fraction bits (MMA-Sim; DeepSeek-V3)"},
    AccumulationPreset{"nv-h100-fp8-promote128", tensor_core(32, 13, kE8m13, 128),
                       "nv-h100-fp8 with promotion into fp32 (RNE) every 128 products (DeepSeek-V3 s3.3.2, CUTLASS)"},
    AccumulationPreset{"nv-b200-fp8", tensor_core(32, 25, kFp32),
                       "B200 fp8: K=32, F=25, fp32 out truncated (Khattak & Mikaitis 2025, secondary)"},
};

std::string preset_names() {
  std::string s;
  for (const AccumulationPreset& p : kPresets) {
    if (!s.empty()) s += ", ";
    s += p.name;
  }
  return s;
}

[[noreturn]] void fail(std::string_view spec, const std::string& why) {
  throw Error("accumulation model '" + std::string(spec) + "': " + why);
}

int parse_int(std::string_view spec, std::string_view key, std::string_view text) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    fail(spec, "'" + std::string(key) + "=" + std::string(text) + "' is not an integer");
  }
  return v;
}

constexpr std::array<std::string_view, 7> kModeNames{"rne", "rna", "rtz", "rup", "rdn", "rto", "sr"};

Mode parse_mode(std::string_view spec, std::string_view key, std::string_view text) {
  for (std::size_t i = 0; i + 1 < kModeNames.size(); ++i) {  // sr is not offered for sums
    if (text == kModeNames[i]) return static_cast<Mode>(i);
  }
  fail(spec, "unknown " + std::string(key) + "='" + std::string(text) +
                 "'; expected rne, rna, rtz, rup, rdn or rto");
}

Format parse_format_value(std::string_view spec, std::string_view key, const std::string& text) {
  try {
    return parse_format(text);
  } catch (const Error& e) {
    fail(spec, std::string(key) + ": " + e.what());
  }
}

constexpr std::array<std::string_view, 12> kKeys{"k", "f", "align", "carry", "c", "acc", "round",
                                                 "products", "promote", "promote-acc", "promote-round", "sum"};

bool is_model_key(std::string_view token) {
  const std::string_view key = token.substr(0, token.find('='));
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string mode_name(Mode m) { return std::string(kModeNames[static_cast<std::size_t>(m)]); }

}  // namespace

std::span<const AccumulationPreset> accumulation_presets() { return kPresets; }

const AccumulationPreset* find_accumulation_preset(std::string_view name) {
  for (const AccumulationPreset& p : kPresets) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

AccumulationModel parse_accumulation_model(std::string_view spec) {
  const std::vector<std::string_view> parts = split(spec, ':');
  const std::string_view base = parts.front();
  AccumulationModel m;
  if (const AccumulationPreset* p = find_accumulation_preset(base)) {
    m = p->model;
  } else if (base == "fused") {
    m = tensor_core(32, 13, kFp32);
  } else if (base == "seq" || base == "sequential") {
    m = sequential(kFp32);
  } else if (base == "pairwise") {
    m = sequential(kFp32);
    m.summation = Summation::pairwise;
  } else {
    fail(spec, "unknown model; expected a preset (" + preset_names() +
                   ") or fused/seq/pairwise with options, e.g. fused:k=32:f=13:acc=e8m13:round=rtz:promote=128");
  }
  // Group the tokens: a token that is not a model key continues the format
  // value before it (acc=e5m10:nosub).
  std::vector<std::string> options;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].empty()) fail(spec, "empty option");
    if (!is_model_key(parts[i]) && !options.empty()) {
      options.back() += ":" + std::string(parts[i]);
    } else {
      options.emplace_back(parts[i]);
    }
  }
  for (const std::string& opt : options) {
    const std::size_t eq = opt.find('=');
    if (eq == std::string::npos) {
      fail(spec, "option '" + opt + "' needs a value (key=value); keys: k, f, align, carry, c, acc, round, "
                 "products, promote, promote-acc, promote-round");
    }
    const std::string_view key = std::string_view(opt).substr(0, eq);
    const std::string value = opt.substr(eq + 1);
    if (key == "k") {
      m.group_size = parse_int(spec, key, value);
    } else if (key == "f") {
      m.fraction_bits = parse_int(spec, key, value);
    } else if (key == "align") {
      m.alignment = parse_mode(spec, key, value);
      if (m.alignment != Mode::rtz && m.alignment != Mode::rne) fail(spec, "align must be rtz or rne");
    } else if (key == "carry") {
      m.carry_bits = parse_int(spec, key, value);
    } else if (key == "c") {
      if (value == "group") {
        m.c_in_group = true;
      } else if (value == "late") {
        m.c_in_group = false;
      } else {
        fail(spec, "c='" + value + "': expected group or late");
      }
    } else if (key == "acc") {
      m.accumulator = parse_format_value(spec, key, value);
    } else if (key == "round") {
      m.accumulator_rounding = Rounding{parse_mode(spec, key, value)};
    } else if (key == "products") {
      if (value == "exact") {
        m.exact_products = true;
      } else if (value == "rounded") {
        m.exact_products = false;
      } else {
        fail(spec, "products='" + value + "': expected exact or rounded");
      }
    } else if (key == "promote") {
      m.promotion_interval = parse_int(spec, key, value);
    } else if (key == "promote-acc") {
      m.promoted = parse_format_value(spec, key, value);
    } else if (key == "promote-round") {
      m.promoted_rounding = Rounding{parse_mode(spec, key, value)};
    } else {
      fail(spec, "unknown option '" + std::string(key) + "'");
    }
  }
  validate(m, spec);
  return m;
}

void validate(const AccumulationModel& m, std::string_view what) {
  auto bad = [&](const std::string& why) { fail(what, why); };
  if (m.accumulator.man_bits > 52 || m.promoted.man_bits > 52) bad("formats wider than fp64 are not supported");
  if (m.promotion_interval < 0) bad("promote must be >= 0");
  if (m.summation == Summation::fused) {
    if (m.group_size < 1 || m.group_size > (1 << 16)) bad("k must be 1..65536");
    if (m.fraction_bits < 0 || m.fraction_bits > 40) bad("f must be 0..40");
    if (m.carry_bits < 0 || m.carry_bits > 40) bad("carry must be 0..40");
    if (m.alignment != Mode::rtz && m.alignment != Mode::rne) bad("align must be rtz or rne");
    if (!m.exact_products) bad("fused models take exact products");
  }
}

std::string accumulation_model_name(const AccumulationModel& m) {
  for (const AccumulationPreset& p : kPresets) {
    if (p.model == m) return std::string(p.name);
  }
  std::string s;
  switch (m.summation) {
    case Summation::sequential: s = "seq"; break;
    case Summation::pairwise: s = "pairwise"; break;
    case Summation::fused:
      s = "fused:k=" + std::to_string(m.group_size) + ":f=" + std::to_string(m.fraction_bits);
      if (m.alignment != Mode::rtz) s += ":align=" + mode_name(m.alignment);
      if (m.carry_bits != 0) s += ":carry=" + std::to_string(m.carry_bits);
      if (!m.c_in_group) s += ":c=late";
      break;
  }
  s += ":acc=" + format_name(m.accumulator) + ":round=" + mode_name(m.accumulator_rounding.mode);
  if (m.summation != Summation::fused) s += m.exact_products ? ":products=exact" : ":products=rounded";
  if (m.promotion_interval > 0) {
    s += ":promote=" + std::to_string(m.promotion_interval);
    if (m.promoted != kFp32) s += ":promote-acc=" + format_name(m.promoted);
    if (m.promoted_rounding.mode != Mode::rne) s += ":promote-round=" + mode_name(m.promoted_rounding.mode);
  }
  return s;
}

// ---------------------------------------------------------------------------
// model_dot: the scalar reference path.

double model_dot(const AccumulationModel& m, std::span<const double> a, const Format& fa,
                 std::span<const double> b, const Format& fb, double c) {
  validate(m, accumulation_model_name(m));
  if (a.size() != b.size()) {
    throw Error("model_dot: operand lengths differ (" + std::to_string(a.size()) + " and " +
                std::to_string(b.size()) + ")");
  }
  const OperandFormat ofa = operand_format(fa);
  const OperandFormat ofb = operand_format(fb);
  std::vector<DecodedValue> da(a.size());
  std::vector<DecodedValue> db(b.size());
  bool special = !std::isfinite(c);
  for (std::size_t i = 0; i < a.size(); ++i) {
    da[i] = decode_operand(a[i], ofa, "a", i);
    db[i] = decode_operand(b[i], ofb, "b", i);
    special = special || !da[i].finite || !db[i].finite;
  }
  if (special) return special_sum(a, b, c);
  const FusedParams fp = fused_params(m, ofa, ofb);
  if (m.promotion_interval == 0) return chain(m, fp, a, da, b, db, c);
  const auto interval = static_cast<std::size_t>(m.promotion_interval);
  double promoted = c;
  for (std::size_t s = 0; s < a.size(); s += interval) {
    const std::size_t n = std::min(interval, a.size() - s);
    const double partial = chain(m, fp, a.subspan(s, n), std::span(da).subspan(s, n), b.subspan(s, n),
                                 std::span(db).subspan(s, n), 0.0);
    if (!std::isfinite(partial)) return partial;
    promoted = round_sum(promoted, partial, m.promoted, m.promoted_rounding);
  }
  return promoted;
}

// ---------------------------------------------------------------------------
// model_gemm: operands decoded once; a vectorised kernel for the narrow fused
// case (fp8-sized inputs, rtz alignment), scalar paths otherwise.

namespace {

// Structure-of-arrays copy of a decoded operand matrix.
struct DecodedMatrix {
  std::vector<std::int32_t> sig;
  std::vector<std::int32_t> exp;
  std::vector<DecodedValue> values;  // for the scalar paths
  std::vector<char> row_special;     // the row holds inf or NaN
};

DecodedMatrix decode_matrix(std::span<const double> x, std::size_t rows, std::size_t depth,
                            const OperandFormat& of, const char* which, bool keep_values) {
  DecodedMatrix d;
  d.sig.resize(x.size());
  d.exp.resize(x.size());
  if (keep_values) d.values.resize(x.size());
  d.row_special.assign(rows, 0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const DecodedValue v = decode_operand(x[i], of, which, i);
    if (keep_values) d.values[i] = v;
    d.sig[i] = v.sig;
    d.exp[i] = v.sig == 0 ? kZeroExp : v.exp;
    if (!v.finite) d.row_special[i / depth] = 1;
  }
  return d;
}

bool narrow_kernel_applies(const AccumulationModel& m, const OperandFormat& fa, const OperandFormat& fb) {
  if (m.summation != Summation::fused || m.alignment != Mode::rtz || m.carry_bits != 0 || !m.c_in_group) {
    return false;
  }
  const int base = m.fraction_bits - fa.man_bits - fb.man_bits;
  int group_bits = 0;  // ceil(log2(K + 2)): the sum of K products below 4 and c below 2
  while ((1 << group_bits) < m.group_size + 2) ++group_bits;
  return base >= 0 && fa.man_bits + fb.man_bits + 2 <= 31 && m.fraction_bits + 2 + group_bits <= 30;
}

// The running sum of the narrow kernel: sig * 2^unit (sig signed), a value of
// the accumulator format kept as an integer so a group needs no floating point.
struct RunningSum {
  std::int64_t sig = 0;
  int unit = 0;
};

struct NarrowParams {
  FusedParams fused;
  int man_bits;       // of the accumulator
  int emax;           // of the accumulator
  std::uint64_t max_mantissa;
  bool round_nearest; // RNE, else RTZ (other modes take the general rounding)
  bool fast_rounding;
};

NarrowParams narrow_params(const FusedParams& p) {
  const ExponentRange r = exponent_range(p.accumulator);
  const Mode mode = p.rounding.mode;
  return NarrowParams{p, p.accumulator.man_bits, r.emax, r.max_mantissa, mode == Mode::rne,
                      (mode == Mode::rne || mode == Mode::rtz) && p.accumulator.is_signed};
}

RunningSum running_sum_of(double x) {
  const Term t = term_of(x);
  if (t.mag == 0) return RunningSum{};
  const auto m = static_cast<std::int64_t>(t.mag);
  return RunningSum{t.negative ? -m : m, t.lsb_exp};
}

// sum * 2^unit rounded to the accumulator: the integer fast path for normal
// results in RTZ or RNE, round_group_sum() (round_pack) otherwise. Returns false
// when the result is not finite (then *finite_or_special holds it).
FPSCOPE_FORCEINLINE bool round_to_running_sum(std::int64_t sum, int unit, const NarrowParams& np, RunningSum& c, double& special) {
  if (sum == 0) {
    c = RunningSum{};
    return true;
  }
  if (np.fast_rounding) {
    const bool negative = sum < 0;
    std::uint64_t mag = negative ? 0 - static_cast<std::uint64_t>(sum) : static_cast<std::uint64_t>(sum);
    const int lead = 63 - detail::count_leading_zeros(mag);
    int exp = unit + lead;
    if (exp >= np.fused.accumulator_emin && exp <= np.emax) {
      int shift = lead - np.man_bits;
      if (shift > 0) {
        std::uint64_t q = mag >> shift;
        if (np.round_nearest) {
          const std::uint64_t rem = mag & ((std::uint64_t{1} << shift) - 1);
          const std::uint64_t half = std::uint64_t{1} << (shift - 1);
          if (rem > half || (rem == half && (q & 1))) ++q;
          if (q >> (np.man_bits + 1)) {  // carried into the next binade
            q >>= 1;
            ++shift;
            ++exp;
          }
        }
        mag = q;
      } else {
        shift = 0;
      }
      const std::uint64_t mantissa = (mag << (np.man_bits - (63 - detail::count_leading_zeros(mag)))) &
                                     ((std::uint64_t{1} << np.man_bits) - 1);
      if (exp < np.emax || (exp == np.emax && mantissa <= np.max_mantissa)) {
        c = RunningSum{negative ? -static_cast<std::int64_t>(mag) : static_cast<std::int64_t>(mag), unit + shift};
        return true;
      }
    }
  }
  const double r = round_group_sum(sum, unit, np.fused);
  if (!std::isfinite(r)) {
    special = r;
    return false;
  }
  c = running_sum_of(r);
  return true;
}

// One group of the narrow kernel: the products' largest exponent and their
// aligned, truncated sum (c excluded). kLen > 0 fixes the length at compile
// time (full groups, unrolled), kLen = 0 takes `len`.
template <std::size_t kLen>
FPSCOPE_FORCEINLINE void narrow_group(const std::int32_t* ma, const std::int32_t* ea, const std::int32_t* mb,
                                      const std::int32_t* eb, std::size_t len, std::int32_t base,
                                      std::int32_t c_exp, std::int32_t& max_exp, std::int32_t& sum) {
  const std::size_t n = kLen > 0 ? kLen : len;
  std::int32_t top = c_exp;
  for (std::size_t t = 0; t < n; ++t) {
    // Zero operands carry kZeroExp, so their products never set the maximum.
    top = std::max(top, ea[t] + eb[t]);
  }
  std::int32_t total = 0;
  for (std::size_t t = 0; t < n; ++t) {
    const std::int32_t product = ma[t] * mb[t];
    const std::int32_t distance = std::min(top - (ea[t] + eb[t]), 31);
    const auto mag = static_cast<std::uint32_t>(product < 0 ? -product : product) << base;
    const auto aligned = static_cast<std::int32_t>(mag >> distance);
    total += product < 0 ? -aligned : aligned;
  }
  max_exp = top;
  sum = total;
}

// How the narrow kernel promotes (DeepSeek-V3 s3.3.2): every `interval`
// products (0 = never) the chain's value is added into the promoted sum.
struct NarrowPromotion {
  std::size_t interval = 0;
  bool fp32_rne = false;  // the promoted sum is fp32 RNE and the chain's values fit fp32
  const AccumulationModel* model = nullptr;
};

double promote_general(double promoted, double partial, const AccumulationModel& m) {
  return round_sum(promoted, partial, m.promoted, m.promoted_rounding);
}

FPSCOPE_FORCEINLINE double promote_value(double promoted, double partial, const NarrowPromotion& pr) {
  // fp32 RNE adds of values that fit fp32 are a binary64 add rounded to float
  // (Figueroa: 53 >= 2 * 24 + 2 makes the double rounding innocuous).
  if (pr.fp32_rne) return static_cast<double>(static_cast<float>(promoted + partial));
  return promote_general(promoted, partial, *pr.model);
}

// A whole dot product of the narrow fused chain for kCols columns that share
// the row of A: exactly fused_group() repeated (and promoted), with int32 lanes
// the compiler vectorises (products below 2^(F+2) after alignment, sums below
// 2^30). Two columns at a time let one column's scalar rounding overlap the
// other's vector work.
template <int kCols>
FPSCOPE_FORCEINLINE void narrow_dot_body(const NarrowParams& np, const NarrowPromotion& pr, const std::int32_t* sa,
                                         const std::int32_t* ea, const std::int32_t* const* sb,
                                         const std::int32_t* const* eb, std::size_t n, std::size_t group,
                                         double* out) {
  const FusedParams& p = np.fused;
  RunningSum c[kCols];
  double promoted[kCols] = {};
  bool finished[kCols] = {};
  const std::int32_t base = p.product_base;
  const std::size_t interval = pr.interval > 0 ? pr.interval : n;
  auto chain_value = [](const RunningSum& r) {
    return r.sig == 0 ? 0.0 : detail::ldexp_exact(static_cast<double>(r.sig), r.unit);
  };
  for (std::size_t seg = 0; seg < n; seg += interval) {
    const std::size_t seg_end = std::min(n, seg + interval);
    for (std::size_t g = seg; g < seg_end; g += group) {
      const std::size_t len = std::min(group, seg_end - g);
      for (int col = 0; col < kCols; ++col) {
        if (finished[col]) continue;
        RunningSum& cc = c[col];
        std::uint64_t c_mag = 0;
        std::int32_t c_exp = kZeroExp;
        if (cc.sig != 0) {
          c_mag = cc.sig < 0 ? 0 - static_cast<std::uint64_t>(cc.sig) : static_cast<std::uint64_t>(cc.sig);
          c_exp = std::max(cc.unit + 63 - detail::count_leading_zeros(c_mag), p.accumulator_emin);
        }
        std::int32_t max_exp = kZeroExp;
        std::int32_t sum = 0;
        if (len == 32) {  // the fp8 tensor-core group: fully unrolled
          narrow_group<32>(sa + g, ea + g, sb[col] + g, eb[col] + g, len, base, c_exp, max_exp, sum);
        } else {
          narrow_group<0>(sa + g, ea + g, sb[col] + g, eb[col] + g, len, base, c_exp, max_exp, sum);
        }
        if (max_exp < kZeroExp / 2) continue;  // all products zero and c zero
        std::int64_t total = sum;
        if (c_mag != 0) {
          // trunc(|c| * 2^(F - max_exp)): c's unit brought to the group's unit 2^(max_exp - F).
          const int shift = cc.unit - (max_exp - p.fraction_bits);
          const std::uint64_t aligned = shift >= 0 ? c_mag << shift : (shift > -64 ? c_mag >> -shift : 0);
          total += cc.sig < 0 ? -static_cast<std::int64_t>(aligned) : static_cast<std::int64_t>(aligned);
        }
        if (!round_to_running_sum(total, max_exp - p.fraction_bits, np, cc, out[col])) finished[col] = true;
      }
    }
    if (pr.interval > 0) {
      for (int col = 0; col < kCols; ++col) {
        if (finished[col]) continue;
        promoted[col] = promote_value(promoted[col], chain_value(c[col]), pr);
        c[col] = RunningSum{};
      }
    }
  }
  for (int col = 0; col < kCols; ++col) {
    if (!finished[col]) out[col] = pr.interval > 0 ? promoted[col] : chain_value(c[col]);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void narrow_dot1(
    const NarrowParams& np, const NarrowPromotion& pr, const std::int32_t* sa, const std::int32_t* ea,
    const std::int32_t* const* sb, const std::int32_t* const* eb, std::size_t n, std::size_t group, double* out) {
  narrow_dot_body<1>(np, pr, sa, ea, sb, eb, n, group, out);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void narrow_dot4(
    const NarrowParams& np, const NarrowPromotion& pr, const std::int32_t* sa, const std::int32_t* ea,
    const std::int32_t* const* sb, const std::int32_t* const* eb, std::size_t n, std::size_t group, double* out) {
  narrow_dot_body<4>(np, pr, sa, ea, sb, eb, n, group, out);
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void narrow_dot2(
    const NarrowParams& np, const NarrowPromotion& pr, const std::int32_t* sa, const std::int32_t* ea,
    const std::int32_t* const* sb, const std::int32_t* const* eb, std::size_t n, std::size_t group, double* out) {
  narrow_dot_body<2>(np, pr, sa, ea, sb, eb, n, group, out);
}

template <class Body>
void for_rows(std::size_t rows, int threads, const Body& body) {
  unsigned count = threads > 0 ? static_cast<unsigned>(threads) : std::max(1u, std::thread::hardware_concurrency());
  count = static_cast<unsigned>(std::min<std::size_t>(count, std::max<std::size_t>(rows, 1)));
  if (count <= 1) {
    body(std::size_t{0}, rows);
    return;
  }
  std::vector<std::thread> pool;
  const std::size_t chunk = (rows + count - 1) / count;
  for (unsigned t = 0; t < count; ++t) {
    const std::size_t r0 = t * chunk;
    const std::size_t r1 = std::min(rows, r0 + chunk);
    if (r0 >= r1) break;
    pool.emplace_back([&body, r0, r1] { body(r0, r1); });
  }
  for (std::thread& th : pool) th.join();
}

void check_shape(std::span<const double> a, std::span<const double> b, GemmShape s, std::span<double> out) {
  if (a.size() != s.rows * s.depth || b.size() != s.cols * s.depth || out.size() != s.rows * s.cols) {
    throw Error("gemm: operand sizes (" + std::to_string(a.size()) + ", " + std::to_string(b.size()) + ", " +
                std::to_string(out.size()) + ") do not match rows=" + std::to_string(s.rows) +
                " cols=" + std::to_string(s.cols) + " depth=" + std::to_string(s.depth));
  }
}

bool fits_fp32(const Format& f) {
  const FormatLimits l = limits(f);
  return l.precision <= 24 && l.max_finite <= std::numeric_limits<float>::max() &&
         l.min_subnormal >= std::numeric_limits<float>::denorm_min();
}

}  // namespace

void model_gemm(const AccumulationModel& m, std::span<const double> a, const Format& fa,
                std::span<const double> b, const Format& fb, GemmShape s, std::span<double> out,
                int threads) {
  validate(m, accumulation_model_name(m));
  check_shape(a, b, s, out);
  if (s.depth == 0) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  const OperandFormat ofa = operand_format(fa);
  const OperandFormat ofb = operand_format(fb);
  const FusedParams fp = fused_params(m, ofa, ofb);
  const bool narrow = narrow_kernel_applies(m, ofa, ofb);
  const DecodedMatrix da = decode_matrix(a, s.rows, s.depth, ofa, "A", !narrow);
  const DecodedMatrix db = decode_matrix(b, s.cols, s.depth, ofb, "B", !narrow);
  const std::size_t K = s.depth;
  const auto interval = m.promotion_interval > 0 ? static_cast<std::size_t>(m.promotion_interval) : K;
  const NarrowParams np = narrow_params(fp);
  const bool seq_fp32 = m.summation == Summation::sequential && m.exact_products &&
                        m.accumulator == kFp32 && m.accumulator_rounding.mode == Mode::rne &&
                        m.promotion_interval == 0 && fits_fp32(fa) && fits_fp32(fb);
  std::vector<float> fa32;
  std::vector<float> fb32;
  if (seq_fp32) {
    fa32.assign(a.begin(), a.end());
    fb32.assign(b.begin(), b.end());
  }
  // Promotion: fp32 RNE adds of accumulator values that fit fp32 are a binary64
  // add rounded to float (Figueroa: 53 >= 2 * 24 + 2 makes the double rounding innocuous).
  const bool promote_fp32 = m.promoted == kFp32 && m.promoted_rounding.mode == Mode::rne && fits_fp32(m.accumulator);
  auto promote = [&](double promoted, double partial) {
    if (promote_fp32) return static_cast<double>(static_cast<float>(promoted + partial));
    return round_sum(promoted, partial, m.promoted, m.promoted_rounding);
  };
  // The narrow kernel, two columns at a time (one when only one is left).
  const NarrowPromotion narrow_promotion{static_cast<std::size_t>(m.promotion_interval), promote_fp32, &m};
  auto narrow_columns = [&](std::size_t i, std::size_t j, int count, double* results) {
    const std::int32_t* sb[4];
    const std::int32_t* eb[4];
    for (int c = 0; c < 4; ++c) {
      const std::size_t col = j + static_cast<std::size_t>(std::min(c, count - 1));
      sb[c] = db.sig.data() + col * K;
      eb[c] = db.exp.data() + col * K;
    }
    const auto group = static_cast<std::size_t>(m.group_size);
    const std::int32_t* sa = da.sig.data() + i * K;
    const std::int32_t* ea = da.exp.data() + i * K;
    if (count == 4) {
      narrow_dot4(np, narrow_promotion, sa, ea, sb, eb, K, group, results);
    } else if (count >= 2) {
      narrow_dot2(np, narrow_promotion, sa, ea, sb, eb, K, group, results);
      if (count == 3) narrow_dot1(np, narrow_promotion, sa, ea, sb + 2, eb + 2, K, group, results + 2);
    } else {
      narrow_dot1(np, narrow_promotion, sa, ea, sb, eb, K, group, results);
    }
  };
  for_rows(s.rows, threads, [&](std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) {
      for (std::size_t j = 0; j < s.cols; ++j) {
        if (narrow && !da.row_special[i] && !db.row_special[j]) {
          // Up to four columns at a time, stopping before a column with inf or NaN.
          int count = 1;
          while (count < 4 && j + static_cast<std::size_t>(count) < s.cols && !db.row_special[j + static_cast<std::size_t>(count)]) ++count;
          double results[4];
          narrow_columns(i, j, count, results);
          for (int c = 0; c < count; ++c) out[i * s.cols + j + static_cast<std::size_t>(c)] = results[c];
          j += static_cast<std::size_t>(count) - 1;
          continue;
        }
        const std::span<const double> ra = a.subspan(i * K, K);
        const std::span<const double> rb = b.subspan(j * K, K);
        double& result = out[i * s.cols + j];
        if (da.row_special[i] || db.row_special[j]) {
          result = special_sum(ra, rb, 0.0);
          continue;
        }
        if (seq_fp32) {
          // std::fmaf is the correctly rounded fp32 FMA, which round_sum() computes too.
          float acc = 0.0f;
          const float* x = fa32.data() + i * K;
          const float* y = fb32.data() + j * K;
          for (std::size_t t = 0; t < K; ++t) acc = std::fmaf(x[t], y[t], acc);
          result = acc;
          continue;
        }
        const std::span<const DecodedValue> va = std::span(da.values).subspan(i * K, K);
        const std::span<const DecodedValue> vb = std::span(db.values).subspan(j * K, K);
        double promoted = 0.0;
        for (std::size_t seg = 0; seg < K; seg += interval) {
          const std::size_t n = std::min(interval, K - seg);
          const double partial = chain(m, fp, ra.subspan(seg, n), va.subspan(seg, n), rb.subspan(seg, n),
                                       vb.subspan(seg, n), 0.0);
          if (m.promotion_interval == 0 || !std::isfinite(partial)) {
            promoted = partial;
            if (!std::isfinite(partial)) break;
          } else {
            promoted = promote(promoted, partial);
          }
        }
        result = promoted;
      }
    }
  });
}

void exact_gemm(std::span<const double> a, std::span<const double> b, GemmShape s, std::span<double> out,
                int threads) {
  check_shape(a, b, s, out);
  const std::size_t K = s.depth;
  for_rows(s.rows, threads, [&](std::size_t r0, std::size_t r1) {
    ExactAccumulator acc;
    for (std::size_t i = r0; i < r1; ++i) {
      for (std::size_t j = 0; j < s.cols; ++j) {
        acc.clear();
        for (std::size_t t = 0; t < K; ++t) acc.add_product(a[i * K + t], b[j * K + t]);
        out[i * s.cols + j] = acc.value();
      }
    }
  });
}

}  // namespace fpscope

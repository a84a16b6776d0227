// analysis/validate_x86.cpp: the x86 conversion targets (F16C, AVX-512 FP16, AVX512-BF16) for `fpscope validate --target cpu`.
//
// Each conversion is compiled for its instruction set alone with
// __attribute__((target(...))), so the rest of the program stays at the
// baseline ISA, and is offered only when __builtin_cpu_supports() (CPUID plus
// the OS's XSAVE state) says the running CPU has it. NUMERICS.md s3: F16C
// vcvtps2ph rounds by its immediate (0 RNE, 1 toward -inf, 2 toward +inf, 3
// toward zero); AVX-512 FP16 vcvtps2phx takes an embedded rounding mode;
// AVX512-BF16 vcvtneps2bf16 rounds to nearest even and, by Intel's SDM
// pseudocode (convert_fp32_to_bfloat16), treats denormal inputs as zero.
#include <cstring>

#include "analysis/validate.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FPSCOPE_X86_TARGETS 1
#endif

namespace fpscope {
namespace {

struct ModeChoice {
  Mode mode;
  int x86_rounding;  // the _MM_FROUND_* direction (also vcvtps2ph's immediate 0..3)
  const char* name;
};

#if FPSCOPE_X86_TARGETS

constexpr ModeChoice kDirectedModes[] = {
    {Mode::rne, _MM_FROUND_TO_NEAREST_INT, "rne"},
    {Mode::rdn, _MM_FROUND_TO_NEG_INF, "rdn"},
    {Mode::rup, _MM_FROUND_TO_POS_INF, "rup"},
    {Mode::rtz, _MM_FROUND_TO_ZERO, "rtz"},
};

// The vector loops convert kLanes floats at a time; a tail shorter than that goes
// through a zero-padded block. A macro rather than a helper template, so that
// the loop body is compiled inside the function that carries the target ISA.
#define FPSCOPE_CONVERT_BLOCKS(kLanes, BLOCK)                                         \
  std::size_t i = 0;                                                                 \
  for (; i + (kLanes) <= in.size(); i += (kLanes)) {                                 \
    const float* src = in.data() + i;                                                \
    std::uint16_t* dst = out.data() + i;                                             \
    BLOCK;                                                                           \
  }                                                                                  \
  if (i < in.size()) {                                                               \
    float tail_in[kLanes] = {};                                                      \
    std::uint16_t tail_out[kLanes] = {};                                             \
    std::memcpy(tail_in, in.data() + i, (in.size() - i) * sizeof(float));            \
    const float* src = tail_in;                                                      \
    std::uint16_t* dst = tail_out;                                                   \
    BLOCK;                                                                           \
    std::memcpy(out.data() + i, tail_out, (in.size() - i) * sizeof(std::uint16_t));  \
  }

// F16C vcvtps2ph ymm -> xmm; the rounding immediate must be a constant.
template <int kImmediate>
__attribute__((target("f16c,avx"))) void f16c_convert(std::span<const float> in, std::span<std::uint16_t> out) {
  FPSCOPE_CONVERT_BLOCKS(8, _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                                             _mm256_cvtps_ph(_mm256_loadu_ps(src), kImmediate)))
}

// AVX-512 FP16 vcvtps2phx zmm -> ymm with embedded rounding (exceptions suppressed).
template <int kRounding>
__attribute__((target("avx512fp16,avx512vl,avx512bw,avx512f"))) void avx512fp16_convert(
    std::span<const float> in, std::span<std::uint16_t> out) {
  FPSCOPE_CONVERT_BLOCKS(16, _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                                                 _mm256_castph_si256(_mm512_cvtx_roundps_ph(
                                                     _mm512_loadu_ps(src), kRounding | _MM_FROUND_NO_EXC))))
}

// AVX512-BF16 vcvtneps2bf16 zmm -> ymm (round to nearest even; no rounding choice).
// memcpy: __m256bh's element type differs across GCC versions.
__attribute__((target("avx512bf16,avx512vl,avx512f"))) void avx512bf16_convert(std::span<const float> in,
                                                                                std::span<std::uint16_t> out) {
  FPSCOPE_CONVERT_BLOCKS(16, const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src));
                         std::memcpy(dst, &h, sizeof(h)))
}

#undef FPSCOPE_CONVERT_BLOCKS

#endif  // FPSCOPE_X86_TARGETS

ConversionTarget make_target(std::string name, std::string_view format_spec, Mode mode, std::string unavailable,
                             std::function<void(std::span<const float>, std::span<std::uint16_t>)> convert) {
  ConversionTarget t;
  t.name = std::move(name);
  t.format_spec = std::string(format_spec);
  t.format = parse_format(format_spec);
  t.rounding = Rounding{mode};
  t.unavailable = std::move(unavailable);
  if (t.unavailable.empty()) t.convert = std::move(convert);
  return t;
}

}  // namespace

std::vector<ConversionTarget> cpu_conversion_targets() {
  std::vector<ConversionTarget> targets;
#if FPSCOPE_X86_TARGETS
  __builtin_cpu_init();
  const bool has_f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  const bool has_fp16 = __builtin_cpu_supports("avx512fp16") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512bw");
  const bool has_bf16 = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vl");
  using Convert = void (*)(std::span<const float>, std::span<std::uint16_t>);
  const Convert f16c[] = {f16c_convert<_MM_FROUND_TO_NEAREST_INT>, f16c_convert<_MM_FROUND_TO_NEG_INF>,
                          f16c_convert<_MM_FROUND_TO_POS_INF>, f16c_convert<_MM_FROUND_TO_ZERO>};
  const Convert fp16[] = {avx512fp16_convert<_MM_FROUND_TO_NEAREST_INT>, avx512fp16_convert<_MM_FROUND_TO_NEG_INF>,
                          avx512fp16_convert<_MM_FROUND_TO_POS_INF>, avx512fp16_convert<_MM_FROUND_TO_ZERO>};
  for (std::size_t i = 0; i < std::size(kDirectedModes); ++i) {
    const ModeChoice& m = kDirectedModes[i];
    targets.push_back(make_target("f16c vcvtps2ph imm=" + std::to_string(m.x86_rounding), "fp16", m.mode,
                                  has_f16c ? "" : "CPU lacks f16c", f16c[i]));
  }
  for (std::size_t i = 0; i < std::size(kDirectedModes); ++i) {
    const ModeChoice& m = kDirectedModes[i];
    targets.push_back(make_target(std::string("avx512fp16 vcvtps2phx {") + m.name + "-sae}", "fp16", m.mode,
                                  has_fp16 ? "" : "CPU lacks avx512_fp16", fp16[i]));
  }
  targets.push_back(make_target("avx512bf16 vcvtneps2bf16", "bf16", Mode::rne,
                                has_bf16 ? "" : "CPU lacks avx512_bf16", avx512bf16_convert));
#else
  const char* why = "not an x86-64 build";
  for (Mode m : {Mode::rne, Mode::rdn, Mode::rup, Mode::rtz}) {
    targets.push_back(make_target("f16c vcvtps2ph", "fp16", m, why, nullptr));
  }
  targets.push_back(make_target("avx512bf16 vcvtneps2bf16", "bf16", Mode::rne, why, nullptr));
#endif
  return targets;
}

}  // namespace fpscope

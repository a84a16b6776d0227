// core/array.cpp: the array kernels of core/array.h: checks, threading, mode dispatch, fast paths.
//
// Each call checks its arguments, splits the array into contiguous chunks (one per
// thread), and dispatches once on the rounding mode and on the format: float32
// input to a format that fits binary32 takes the branch-free fast path of
// core/fast_paths.h, everything else the generic path, encode() from core/round.h
// per element. Both give the same bits (tests/core/test_array_exhaustive.cpp).
#include "core/array.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/fast_paths.h"
#include "core/random.h"

// The fast loops are compiled three times, for AVX-512, for AVX2 and for the
// baseline ISA (core/config.h FPSCOPE_TARGET_*), and the widest the CPU supports
// is picked at run time (function multiversioning by hand: GCC and Clang cannot
// multiversion templates, and the best Philox layout differs between AVX-512 and
// AVX2). Everything else is portable C++ that the compiler vectorises at the
// Release build's -O3.

namespace fpscope {
namespace {

using detail::FastOutput;
using detail::FastParams;
using detail::FastRange;
using detail::KernelIsa;

// ---- Philox for a tile of consecutive elements ----

// 32 Philox blocks = the random words of 128 consecutive elements, computed
// across blocks so the ten rounds vectorise; the same arithmetic as
// philox4x32() in core/random.h (test_array.cpp checks every layout against it).
// 32 blocks measured fastest here: the state then stays in vector registers.
constexpr std::size_t kTileBlocks = 32;
constexpr std::size_t kTileElements = 4 * kTileBlocks;

enum class PhiloxLayout : std::uint8_t {
  words,  // four uint32 arrays c0..c3; the 32x32 products as high and low halves
  pairs,  // two uint64 arrays (c1:c0, c3:c2); one 64-bit product per pair, a rotate
};

// Writes the tile's words in element order: block j's words w at 4j + w. Packing
// pairs into 64-bit lanes first makes the final interleave vectorise (scalar
// stores there would stall the vector loads that follow).
template <PhiloxLayout kLayout>
FPSCOPE_FORCEINLINE void philox_tile(std::uint64_t seed, std::uint64_t first_block,
                                     std::uint32_t* words) {
  std::uint64_t low_pair[kTileBlocks];   // c0 | c1 << 32
  std::uint64_t high_pair[kTileBlocks];  // c2 | c3 << 32
  if constexpr (kLayout == PhiloxLayout::words) {
    std::uint32_t c0[kTileBlocks], c1[kTileBlocks], c2[kTileBlocks], c3[kTileBlocks];
    for (std::size_t j = 0; j < kTileBlocks; ++j) {
      const std::uint64_t counter = first_block + j;
      c0[j] = static_cast<std::uint32_t>(counter);
      c1[j] = static_cast<std::uint32_t>(counter >> 32);
      c2[j] = 0;
      c3[j] = 0;
    }
    std::uint32_t k0 = static_cast<std::uint32_t>(seed);
    std::uint32_t k1 = static_cast<std::uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      // High and low halves as separate 32-bit products: GCC vectorises those
      // (the 64-bit product it does not), once it is told not to unroll.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
      for (std::size_t j = 0; j < kTileBlocks; ++j) {
        const std::uint32_t a = c0[j];
        const std::uint32_t b = c2[j];
        const auto high = [](std::uint32_t m, std::uint32_t v) {
          return static_cast<std::uint32_t>((std::uint64_t{m} * v) >> 32);
        };
        c0[j] = high(0xCD9E8D57u, b) ^ c1[j] ^ k0;
        c2[j] = high(0xD2511F53u, a) ^ c3[j] ^ k1;
        c1[j] = 0xCD9E8D57u * b;
        c3[j] = 0xD2511F53u * a;
      }
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    for (std::size_t j = 0; j < kTileBlocks; ++j) {
      low_pair[j] = c0[j] | (std::uint64_t{c1[j]} << 32);
      high_pair[j] = c2[j] | (std::uint64_t{c3[j]} << 32);
    }
  } else {
    for (std::size_t j = 0; j < kTileBlocks; ++j) {
      low_pair[j] = first_block + j;
      high_pair[j] = 0;
    }
    std::uint64_t k0 = seed & 0xFFFF'FFFFu;
    std::uint64_t k1 = seed >> 32;
    // One round: (c1:c0) <- rot32(M1 * c2) ^ c1 ^ k0 and (c3:c2) <- rot32(M0 * c0) ^ c3 ^ k1,
    // where rot32 swaps the halves of the 64-bit product (hi:lo -> lo:hi).
    for (int round = 0; round < 10; ++round) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 1
#endif
      for (std::size_t j = 0; j < kTileBlocks; ++j) {
        const std::uint64_t p0 = (low_pair[j] & 0xFFFF'FFFFu) * std::uint64_t{0xD2511F53u};
        const std::uint64_t p1 = (high_pair[j] & 0xFFFF'FFFFu) * std::uint64_t{0xCD9E8D57u};
        low_pair[j] = ((p1 >> 32) | (p1 << 32)) ^ (low_pair[j] >> 32) ^ k0;
        high_pair[j] = ((p0 >> 32) | (p0 << 32)) ^ (high_pair[j] >> 32) ^ k1;
      }
      k0 = (k0 + 0x9E3779B9u) & 0xFFFF'FFFFu;
      k1 = (k1 + 0xBB67AE85u) & 0xFFFF'FFFFu;
    }
  }
  std::uint64_t interleaved[2 * kTileBlocks];
  for (std::size_t j = 0; j < kTileBlocks; ++j) {
    interleaved[2 * j] = low_pair[j];
    interleaved[2 * j + 1] = high_pair[j];
  }
  static_assert(std::endian::native == std::endian::little, "words are read as uint32 halves");
  std::memcpy(words, interleaved, sizeof interleaved);
}

// ---- The fast path: float32 in, a format that fits binary32 ----

template <class Out>
FPSCOPE_FORCEINLINE Out store_as(std::uint32_t bits) {
  if constexpr (std::is_same_v<Out, float>) {
    return std::bit_cast<float>(bits);
  } else {
    return static_cast<Out>(bits);
  }
}

// Rounds in[0, n) into out, with noise words[i] (SR only). Value outputs take two
// passes: the cheaper FastRange::up_to_max_finite kernel for all, then the full
// kernel again only for the inputs it passed through (NaN, inf, overflow
// candidates: rare), read back from `out` so that in-place calls work too.
template <Mode kMode, class Out>
FPSCOPE_FORCEINLINE std::uint32_t round_block(const float* in, Out* out, std::size_t n,
                                              const FastParams p, const std::uint32_t* words) {
  constexpr FastOutput kOut =
      std::is_same_v<Out, float> ? FastOutput::value : FastOutput::encoding;
  const auto noise = [&](std::size_t i) -> std::uint32_t {
    if constexpr (kMode == Mode::sr) {
      return words[i];
    } else {
      return 0;
    }
  };
  std::uint32_t events = 0;  // one accumulator per loop: Clang vectorises only plain reductions
  if constexpr (kOut == FastOutput::value) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
      out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut, FastRange::up_to_max_finite>(
          x, noise(i), p, events));
    }
    if (events & detail::kEventAboveMaxFinite) {
      std::uint32_t rerun_events = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t x = std::bit_cast<std::uint32_t>(out[i]);
        if ((x & 0x7FFF'FFFFu) > p.max_finite_bits) {
          out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut>(x, noise(i), p, rerun_events));
        }
      }
      events = (events & ~std::uint32_t{detail::kEventAboveMaxFinite}) | rerun_events;
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
      out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut>(x, noise(i), p, events));
    }
  }
  return events;
}

// Returns the OR of the elements' FastEvent bits. `p` by value: a local copy
// cannot alias `out`, so the loop keeps it in registers.
template <Mode kMode, PhiloxLayout kLayout, class Out>
FPSCOPE_FORCEINLINE std::uint32_t fast_loop(const float* in, Out* out, std::size_t n,
                                            const FastParams p, std::uint64_t seed,
                                            std::uint64_t first_index) {
  std::uint32_t events = 0;
  if constexpr (kMode != Mode::sr) {
    // Blocks small enough that a second pass finds them in L1.
    constexpr std::size_t kBlock = 1024;
    for (std::size_t i = 0; i < n; i += kBlock) {
      events |= round_block<kMode>(in + i, out + i, std::min(kBlock, n - i), p, nullptr);
    }
  } else {
    // Whole Philox blocks from the first index that is a multiple of 4, so each
    // block's four words serve four consecutive elements (sr_random_bits' layout).
    std::uint32_t words[kTileElements];
    std::size_t i = 0;
    const std::size_t head = std::min<std::size_t>(n, (4 - (first_index & 3)) & 3);
    const std::size_t tail_start = head + (n - head) / kTileElements * kTileElements;
    const auto scalar_words = [&](std::size_t begin, std::size_t end) {
      for (std::size_t k = begin; k < end; ++k) words[k - begin] = sr_random_bits(seed, first_index + k);
    };
    scalar_words(0, head);
    events |= round_block<kMode>(in, out, head, p, words);
    for (i = head; i < tail_start; i += kTileElements) {
      philox_tile<kLayout>(seed, (first_index + i) >> 2, words);
      events |= round_block<kMode>(in + i, out + i, kTileElements, p, words);
    }
    scalar_words(tail_start, n);
    events |= round_block<kMode>(in + tail_start, out + tail_start, n - tail_start, p, words);
  }
  return events;
}

template <PhiloxLayout kLayout, class Out>
FPSCOPE_FORCEINLINE std::uint32_t fast_dispatch(const float* in, Out* out, std::size_t n,
                                                const FastParams& p, Mode mode,
                                                std::uint64_t seed, std::uint64_t first_index) {
  switch (mode) {
    case Mode::rne: return fast_loop<Mode::rne, kLayout>(in, out, n, p, seed, first_index);
    case Mode::rna: return fast_loop<Mode::rna, kLayout>(in, out, n, p, seed, first_index);
    case Mode::rtz: return fast_loop<Mode::rtz, kLayout>(in, out, n, p, seed, first_index);
    case Mode::rup: return fast_loop<Mode::rup, kLayout>(in, out, n, p, seed, first_index);
    case Mode::rdn: return fast_loop<Mode::rdn, kLayout>(in, out, n, p, seed, first_index);
    case Mode::rto: return fast_loop<Mode::rto, kLayout>(in, out, n, p, seed, first_index);
    case Mode::sr: return fast_loop<Mode::sr, kLayout>(in, out, n, p, seed, first_index);
  }
  return 0;
}

// One entry per instruction set. On AVX-512 the 64-bit Philox products win
// (vpmullq); on AVX2, which emulates them, the 32-bit halves do.
template <class Out>
std::uint32_t fast_kernel_baseline(const float* in, Out* out, std::size_t n, const FastParams& p,
                                   Mode mode, std::uint64_t seed, std::uint64_t first_index) {
  return fast_dispatch<PhiloxLayout::words>(in, out, n, p, mode, seed, first_index);
}
#if FPSCOPE_X86_KERNELS
template <class Out>
FPSCOPE_TARGET_AVX2 std::uint32_t fast_kernel_avx2(const float* in, Out* out, std::size_t n,
                                                   const FastParams& p, Mode mode,
                                                   std::uint64_t seed, std::uint64_t first_index) {
  return fast_dispatch<PhiloxLayout::words>(in, out, n, p, mode, seed, first_index);
}
template <class Out>
FPSCOPE_TARGET_AVX512 std::uint32_t fast_kernel_avx512(const float* in, Out* out, std::size_t n,
                                                       const FastParams& p, Mode mode,
                                                       std::uint64_t seed,
                                                       std::uint64_t first_index) {
  return fast_dispatch<PhiloxLayout::pairs>(in, out, n, p, mode, seed, first_index);
}
#endif

KernelIsa cpu_kernel_isa() {
#if FPSCOPE_X86_KERNELS
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
                    __builtin_cpu_supports("popcnt");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl");
  return avx512 ? KernelIsa::avx512 : avx2 ? KernelIsa::avx2 : KernelIsa::baseline;
#else
  return KernelIsa::baseline;
#endif
}

std::atomic<KernelIsa>& active_isa() {
  static std::atomic<KernelIsa> isa{cpu_kernel_isa()};
  return isa;
}

template <class Out>
std::uint32_t fast_kernel(const float* in, Out* out, std::size_t n, const FastParams& p, Mode mode,
                          std::uint64_t seed, std::uint64_t first_index) {
  switch (active_isa().load(std::memory_order_relaxed)) {
#if FPSCOPE_X86_KERNELS
    case KernelIsa::avx512: return fast_kernel_avx512(in, out, n, p, mode, seed, first_index);
    case KernelIsa::avx2: return fast_kernel_avx2(in, out, n, p, mode, seed, first_index);
#endif
    default: return fast_kernel_baseline(in, out, n, p, mode, seed, first_index);
  }
}

// ---- The generic path: encode() per element, the mode fixed per loop ----

// Out is the value type (quantize) or an unsigned encoding type (encode).
template <Mode kMode, class In, class Out>
[[gnu::flatten]] std::uint8_t generic_loop(const In* in, Out* out, std::size_t n, const Format& f,
                                           int sr_bits, std::uint64_t seed,
                                           std::uint64_t first_index) {
  const Rounding rounding{kMode, sr_bits};
  std::uint8_t flags = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t random = kMode == Mode::sr ? sr_random_bits(seed, first_index + i) : 0;
    const Encoded e = encode(static_cast<double>(in[i]), f, rounding, random);
    flags |= e.flags;
    if constexpr (std::is_floating_point_v<Out>) {
      out[i] = static_cast<Out>(decode(e.bits, f));
    } else {
      out[i] = static_cast<Out>(e.bits);
    }
  }
  return flags;
}

template <class In, class Out>
std::uint8_t generic_dispatch(const In* in, Out* out, std::size_t n, const Format& f, Rounding r,
                              std::uint64_t seed, std::uint64_t first_index) {
  switch (r.mode) {
    case Mode::rne: return generic_loop<Mode::rne>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::rna: return generic_loop<Mode::rna>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::rtz: return generic_loop<Mode::rtz>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::rup: return generic_loop<Mode::rup>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::rdn: return generic_loop<Mode::rdn>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::rto: return generic_loop<Mode::rto>(in, out, n, f, r.sr_bits, seed, first_index);
    case Mode::sr: return generic_loop<Mode::sr>(in, out, n, f, r.sr_bits, seed, first_index);
  }
  return 0;
}

// ---- Checks and threads ----

template <class In, class Out>
void check_sizes(std::span<In> in, std::span<Out> out, const char* function) {
  if (in.size() != out.size()) {
    throw Error(std::string(function) + ": the input has " + std::to_string(in.size()) +
                " elements but the output has " + std::to_string(out.size()));
  }
}

void check_options(const Format& f, const ArrayOptions& options, const char* function) {
  validate(f, std::string(function) + " format");
  if (options.rounding.mode == Mode::sr &&
      (options.rounding.sr_bits < 1 || options.rounding.sr_bits > 32)) {
    throw Error(std::string(function) + ": sr_bits must be 1..32, got " +
                std::to_string(options.rounding.sr_bits));
  }
  if (options.threads < 0) {
    throw Error(std::string(function) + ": threads must be >= 0 (0 = all cores), got " +
                std::to_string(options.threads));
  }
}

template <class Bits>
void check_bits_type(const Format& f, const char* function) {
  const int needed = limits(f).total_bits;
  if (needed > static_cast<int>(8 * sizeof(Bits))) {
    throw Error(std::string(function) + ": format " + format_name(f) + " needs " +
                std::to_string(needed) + "-bit encodings but the array holds " +
                std::to_string(8 * sizeof(Bits)) + "-bit elements");
  }
}

// Below this many elements per thread, starting a thread costs more than it saves.
constexpr std::size_t kMinElementsPerThread = std::size_t{1} << 15;

// Runs work(begin, end) -> flags over contiguous chunks, one per thread, and ORs
// the flags. Chunk boundaries are multiples of the SR tile so that every chunk
// but the last runs whole Philox blocks; results never depend on them.
template <class Work>
std::uint8_t run_chunks(std::size_t n, int threads, const Work& work) {
  std::size_t workers = threads == 0 ? std::max(1u, std::thread::hardware_concurrency())
                                     : static_cast<std::size_t>(threads);
  workers = std::min(workers, std::max<std::size_t>(1, n / kMinElementsPerThread));
  if (workers <= 1) return work(std::size_t{0}, n);
  const auto boundary = [&](std::size_t k) {
    if (k == workers) return n;
    return (n / workers * k) / kTileElements * kTileElements;
  };
  std::vector<std::uint8_t> flags(workers, 0);
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (std::size_t k = 1; k < workers; ++k) {
    pool.emplace_back([&, k] { flags[k] = work(boundary(k), boundary(k + 1)); });
  }
  flags[0] = work(boundary(0), boundary(1));
  for (std::thread& t : pool) t.join();
  std::uint8_t all = 0;
  for (std::uint8_t f : flags) all |= f;
  return all;
}

// Quantize (Out = In) or encode (Out = unsigned) an array, fast path when it applies.
template <class In, class Out>
std::uint8_t round_array(std::span<const In> in, std::span<Out> out, const Format& f,
                         const ArrayOptions& options) {
  const Rounding r = options.rounding;
  if constexpr (std::is_same_v<In, float>) {
    constexpr FastOutput kOut =
        std::is_same_v<Out, float> ? FastOutput::value : FastOutput::encoding;
    if (const auto params = detail::make_fast_params(f, r, kOut)) {
      const FastParams& p = *params;
      return run_chunks(in.size(), options.threads, [&](std::size_t begin, std::size_t end) {
        const std::uint32_t events = fast_kernel(in.data() + begin, out.data() + begin,
                                                 end - begin, p, r.mode, options.seed,
                                                 options.index_offset + begin);
        return detail::fast_flags(events, p);
      });
    }
  }
  return run_chunks(in.size(), options.threads, [&](std::size_t begin, std::size_t end) {
    return generic_dispatch(in.data() + begin, out.data() + begin, end - begin, f, r,
                            options.seed, options.index_offset + begin);
  });
}

template <class Bits, class Out>
void decode_into(std::span<const Bits> in, std::span<Out> out, const Format& f, int threads) {
  check_sizes(in, out, "decode_array");
  validate(f, "decode_array format");
  check_bits_type<Bits>(f, "decode_array");
  if (threads < 0) {
    throw Error("decode_array: threads must be >= 0 (0 = all cores), got " +
                std::to_string(threads));
  }
  const int total_bits = limits(f).total_bits;
  // Formats of 16 bits or less: decode each encoding once, then look values up.
  std::vector<Out> table;
  if (total_bits <= 16 && in.size() >= (std::size_t{1} << total_bits)) {
    table.resize(std::size_t{1} << total_bits);
    for (std::size_t code = 0; code < table.size(); ++code) {
      table[code] = static_cast<Out>(decode(code, f));
    }
  }
  const std::uint64_t code_mask =
      total_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << total_bits) - 1;
  run_chunks(in.size(), threads, [&](std::size_t begin, std::size_t end) {
    if (!table.empty()) {
      for (std::size_t i = begin; i < end; ++i) out[i] = table[in[i] & code_mask];
    } else {
      for (std::size_t i = begin; i < end; ++i) out[i] = static_cast<Out>(decode(in[i], f));
    }
    return std::uint8_t{0};
  });
}

}  // namespace

std::uint8_t quantize_array(std::span<const float> in, std::span<float> out, const Format& f,
                            const ArrayOptions& options) {
  check_sizes(in, out, "quantize_array");
  check_options(f, options, "quantize_array");
  return round_array(in, out, f, options);
}

std::uint8_t quantize_array(std::span<const double> in, std::span<double> out, const Format& f,
                            const ArrayOptions& options) {
  check_sizes(in, out, "quantize_array");
  check_options(f, options, "quantize_array");
  return round_array(in, out, f, options);
}

template <class Bits>
std::uint8_t encode_array(std::span<const float> in, std::span<Bits> out, const Format& f,
                          const ArrayOptions& options) {
  check_sizes(in, out, "encode_array");
  check_options(f, options, "encode_array");
  check_bits_type<Bits>(f, "encode_array");
  return round_array(in, out, f, options);
}

template <class Bits>
std::uint8_t encode_array(std::span<const double> in, std::span<Bits> out, const Format& f,
                          const ArrayOptions& options) {
  check_sizes(in, out, "encode_array");
  check_options(f, options, "encode_array");
  check_bits_type<Bits>(f, "encode_array");
  return round_array(in, out, f, options);
}

template <class Bits>
void decode_array(std::span<const Bits> in, std::span<float> out, const Format& f, int threads) {
  decode_into(in, out, f, threads);
}

template <class Bits>
void decode_array(std::span<const Bits> in, std::span<double> out, const Format& f, int threads) {
  decode_into(in, out, f, threads);
}

#define FPSCOPE_INSTANTIATE_ARRAY_KERNELS(Bits)                                                 \
  template std::uint8_t encode_array<Bits>(std::span<const float>, std::span<Bits>,            \
                                           const Format&, const ArrayOptions&);                \
  template std::uint8_t encode_array<Bits>(std::span<const double>, std::span<Bits>,           \
                                           const Format&, const ArrayOptions&);                \
  template void decode_array<Bits>(std::span<const Bits>, std::span<float>, const Format&, int); \
  template void decode_array<Bits>(std::span<const Bits>, std::span<double>, const Format&, int);

FPSCOPE_INSTANTIATE_ARRAY_KERNELS(std::uint8_t)
FPSCOPE_INSTANTIATE_ARRAY_KERNELS(std::uint16_t)
FPSCOPE_INSTANTIATE_ARRAY_KERNELS(std::uint32_t)
FPSCOPE_INSTANTIATE_ARRAY_KERNELS(std::uint64_t)
#undef FPSCOPE_INSTANTIATE_ARRAY_KERNELS

namespace detail {

KernelIsa detected_kernel_isa() { return cpu_kernel_isa(); }

KernelIsa use_kernel_isa_for_testing(KernelIsa isa) {
  const KernelIsa usable = std::min(isa, cpu_kernel_isa());
  active_isa().store(usable);
  return usable;
}

}  // namespace detail

}  // namespace fpscope

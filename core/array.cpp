// core/array.cpp: the array kernels of core/array.h: checks, threading, mode dispatch, fast paths.
//
// Each call checks its arguments, splits the array into contiguous chunks (one per
// thread), and dispatches once on the rounding mode and on the format: float32
// input to a format that fits binary32 takes the branch-free fast path of
// core/fast_paths.h, everything else the generic path, encode() from core/round.h
// per element. Both give the same bits (tests/core/test_array_exhaustive.cpp).
#include "core/array.h"

#include <algorithm>
#include <bit>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/fast_paths.h"
#include "core/random.h"

// The fast loops are compiled for AVX-512, AVX2 and the baseline ISA and picked at
// load time (GCC/Clang function multiversioning), so a Release build at default
// flags vectorises with the widest unit the running CPU has. Clang cannot
// multiversion templates: the clones are plain functions that inline templates.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FPSCOPE_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#elif defined(__x86_64__) && defined(__clang__)
#define FPSCOPE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FPSCOPE_MULTIVERSION
#endif

namespace fpscope {
namespace {

using detail::FastOutput;
using detail::FastParams;

// ---- Philox for a tile of consecutive elements ----

// 16 Philox blocks = the random words of 64 consecutive elements. Written over
// arrays (structure of arrays) so the ten rounds vectorise across blocks; the
// same arithmetic as philox4x32() in core/random.h (checked by test_array.cpp).
constexpr std::size_t kTileBlocks = 16;
constexpr std::size_t kTileElements = 4 * kTileBlocks;

FPSCOPE_FORCEINLINE void philox_tile(std::uint64_t seed, std::uint64_t first_block,
                                     std::uint32_t* words) {
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
    // (the 64-bit product it does not), once it is told not to unroll this loop.
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
    words[4 * j + 0] = c0[j];
    words[4 * j + 1] = c1[j];
    words[4 * j + 2] = c2[j];
    words[4 * j + 3] = c3[j];
  }
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

// Returns the OR of the elements' FastEvent bits.
// `p` by value: a local copy cannot alias `out`, so the loop keeps it in registers.
template <Mode kMode, class Out>
FPSCOPE_FORCEINLINE std::uint32_t fast_loop(const float* in, Out* out, std::size_t n,
                                            const FastParams p, std::uint64_t seed,
                                            std::uint64_t first_index) {
  constexpr FastOutput kOut =
      std::is_same_v<Out, float> ? FastOutput::value : FastOutput::encoding;
  std::uint32_t events = 0;
  if constexpr (kMode != Mode::sr) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
      out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut>(x, 0, p, events));
    }
  } else {
    // Whole Philox blocks from the first index that is a multiple of 4, so each
    // block's four words serve four consecutive elements (sr_random_bits' layout).
    std::size_t i = 0;
    for (; i < n && ((first_index + i) & 3) != 0; ++i) {
      const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
      const std::uint32_t random = sr_random_bits(seed, first_index + i);
      out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut>(x, random, p, events));
    }
    std::uint32_t words[kTileElements];
    for (; i + kTileElements <= n; i += kTileElements) {
      philox_tile(seed, (first_index + i) >> 2, words);
      std::uint32_t tile_events = 0;
      for (std::size_t j = 0; j < kTileElements; ++j) {
        const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i + j]);
        out[i + j] =
            store_as<Out>(detail::round_float_bits<kMode, kOut>(x, words[j], p, tile_events));
      }
      events |= tile_events;
    }
    for (; i < n; ++i) {
      const std::uint32_t x = std::bit_cast<std::uint32_t>(in[i]);
      const std::uint32_t random = sr_random_bits(seed, first_index + i);
      out[i] = store_as<Out>(detail::round_float_bits<kMode, kOut>(x, random, p, events));
    }
  }
  return events;
}

template <class Out>
FPSCOPE_FORCEINLINE std::uint32_t fast_dispatch(const float* in, Out* out, std::size_t n,
                                                const FastParams& p, Mode mode,
                                                std::uint64_t seed, std::uint64_t first_index) {
  switch (mode) {
    case Mode::rne: return fast_loop<Mode::rne>(in, out, n, p, seed, first_index);
    case Mode::rna: return fast_loop<Mode::rna>(in, out, n, p, seed, first_index);
    case Mode::rtz: return fast_loop<Mode::rtz>(in, out, n, p, seed, first_index);
    case Mode::rup: return fast_loop<Mode::rup>(in, out, n, p, seed, first_index);
    case Mode::rdn: return fast_loop<Mode::rdn>(in, out, n, p, seed, first_index);
    case Mode::rto: return fast_loop<Mode::rto>(in, out, n, p, seed, first_index);
    case Mode::sr: return fast_loop<Mode::sr>(in, out, n, p, seed, first_index);
  }
  return 0;
}

// One multiversioned entry per output type (overloads, since Clang cannot clone templates).
FPSCOPE_MULTIVERSION std::uint32_t fast_kernel(const float* in, float* out, std::size_t n,
                                               const FastParams& p, Mode mode, std::uint64_t seed,
                                               std::uint64_t first_index) {
  return fast_dispatch(in, out, n, p, mode, seed, first_index);
}
FPSCOPE_MULTIVERSION std::uint32_t fast_kernel(const float* in, std::uint8_t* out, std::size_t n,
                                               const FastParams& p, Mode mode, std::uint64_t seed,
                                               std::uint64_t first_index) {
  return fast_dispatch(in, out, n, p, mode, seed, first_index);
}
FPSCOPE_MULTIVERSION std::uint32_t fast_kernel(const float* in, std::uint16_t* out, std::size_t n,
                                               const FastParams& p, Mode mode, std::uint64_t seed,
                                               std::uint64_t first_index) {
  return fast_dispatch(in, out, n, p, mode, seed, first_index);
}
FPSCOPE_MULTIVERSION std::uint32_t fast_kernel(const float* in, std::uint32_t* out, std::size_t n,
                                               const FastParams& p, Mode mode, std::uint64_t seed,
                                               std::uint64_t first_index) {
  return fast_dispatch(in, out, n, p, mode, seed, first_index);
}
FPSCOPE_MULTIVERSION std::uint32_t fast_kernel(const float* in, std::uint64_t* out, std::size_t n,
                                               const FastParams& p, Mode mode, std::uint64_t seed,
                                               std::uint64_t first_index) {
  return fast_dispatch(in, out, n, p, mode, seed, first_index);
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

}  // namespace fpscope

// core/array.h: quantize, encode and decode whole float32/float64 arrays.
//
// The rounding-mode and format dispatch happens once per call, outside the
// element loop (CPFloat's design); common formats take fast paths that are
// checked bit for bit against round_pack(). Stochastic rounding draws the bits
// of element i from sr_random_bits(seed, index_offset + i), so results never
// depend on `threads` or on how a caller chunks an array.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/format.h"
#include "core/round.h"

namespace fpscope {

struct ArrayOptions {
  Rounding rounding{};
  std::uint64_t seed = 0;          // stochastic rounding only
  std::uint64_t index_offset = 0;  // global index of element 0 of this call
  int threads = 1;                 // worker threads; 0 = hardware concurrency
};

// out[i] = quantize(in[i]). `in` and `out` may be the same array; sizes must match.
// Returns the OR of the flags of every element.
std::uint8_t quantize_array(std::span<const float> in, std::span<float> out, const Format& f,
                            const ArrayOptions& options);
std::uint8_t quantize_array(std::span<const double> in, std::span<double> out, const Format& f,
                            const ArrayOptions& options);

// out[i] = encode(in[i]).bits; the element type must hold limits(f).total_bits bits.
template <class Bits>
std::uint8_t encode_array(std::span<const float> in, std::span<Bits> out, const Format& f,
                          const ArrayOptions& options);
template <class Bits>
std::uint8_t encode_array(std::span<const double> in, std::span<Bits> out, const Format& f,
                          const ArrayOptions& options);

// out[i] = decode(in[i]) (narrowed to float for the float overload: exact when f fits fp32).
template <class Bits>
void decode_array(std::span<const Bits> in, std::span<float> out, const Format& f, int threads = 1);
template <class Bits>
void decode_array(std::span<const Bits> in, std::span<double> out, const Format& f, int threads = 1);

}  // namespace fpscope

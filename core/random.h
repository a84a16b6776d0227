// core/random.h: counter-based random bits for stochastic rounding, keyed by (seed, element index).
//
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC11), the generator cuRAND and JAX use. One call yields four 32-bit words;
// element i takes word i % 4 of the block for counter i / 4, so an element's
// bits depend only on (seed, i): never on thread count, chunking or device.
#pragma once

#include <cstdint>

#include "core/config.h"

namespace fpscope {

struct PhiloxBlock {
  std::uint32_t word[4];
};

// Philox4x32-10 on a full 128-bit counter and 64-bit key (Random123's
// philox4x32_R(10, ctr, key); its kat_vectors check this in test_array.cpp).
FPSCOPE_HD constexpr PhiloxBlock philox4x32_10(PhiloxBlock counter, std::uint32_t key0,
                                               std::uint32_t key1) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u;
  constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;
  constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;
  std::uint32_t c0 = counter.word[0];
  std::uint32_t c1 = counter.word[1];
  std::uint32_t c2 = counter.word[2];
  std::uint32_t c3 = counter.word[3];
  std::uint32_t k0 = key0;
  std::uint32_t k1 = key1;
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const std::uint32_t n1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const std::uint32_t n3 = static_cast<std::uint32_t>(p0);
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return PhiloxBlock{{c0, c1, c2, c3}};
}

// The block for a 64-bit counter (high counter words zero) under a 64-bit seed.
FPSCOPE_HD constexpr PhiloxBlock philox4x32(std::uint64_t seed, std::uint64_t counter) {
  return philox4x32_10(PhiloxBlock{{static_cast<std::uint32_t>(counter),
                                    static_cast<std::uint32_t>(counter >> 32), 0, 0}},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

// The 32 random bits stochastic rounding uses for element `index` under `seed`.
FPSCOPE_HD constexpr std::uint32_t sr_random_bits(std::uint64_t seed, std::uint64_t index) {
  return philox4x32(seed, index >> 2).word[index & 3];
}

}  // namespace fpscope

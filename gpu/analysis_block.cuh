// gpu/analysis_block.cuh: per-thread and per-block work of the analysis kernels: the device Sinks of gpu/analysis_stats.h and their flush into the global mirror.
//
// Counters and extrema live in registers per thread and are reduced over the
// warp once, at the end (one atomic per warp and word); histogram bins live in
// shared memory as 32-bit counts (a block sees < 2^32 elements per launch, the
// dispatch makes sure); the exact-sum bins live in shared memory when the
// device has room (227 KiB per block on sm_90), else in the global mirror.
// Everything is added, so the result does not depend on the order of the adds.
#pragma once

#include <cstdint>

#include "gpu/analysis_stats.h"

namespace fpscope::gpu::detail {

using ull = unsigned long long;
inline constexpr unsigned kFullWarp = 0xFFFFFFFFu;

__device__ inline ull warp_sum(ull v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(kFullWarp, v, offset);
  return v;
}
__device__ inline ull warp_max(ull v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const ull o = __shfl_down_sync(kFullWarp, v, offset);
    v = o > v ? o : v;
  }
  return v;
}
__device__ inline ull warp_min(ull v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const ull o = __shfl_down_sync(kFullWarp, v, offset);
    v = o < v ? o : v;
  }
  return v;
}

// Adds `count` words of shared 32-bit bins to global 64-bit words (non-zero ones only).
__device__ inline void flush_bins(const unsigned int* bins, int count, ull* target) {
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) {
    if (bins[i] != 0) atomicAdd(target + i, static_cast<ull>(bins[i]));
  }
}
__device__ inline void flush_sums(const ull* bins, int count, ull* target) {
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) {
    if (bins[i] != 0) atomicAdd(target + i, bins[i]);
  }
}
__device__ inline void zero_shared(unsigned int* bins, int count) {
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) bins[i] = 0;
}
__device__ inline void zero_shared(ull* bins, int count) {
  for (int i = static_cast<int>(threadIdx.x); i < count; i += static_cast<int>(blockDim.x)) bins[i] = 0;
}

// The exact-sum part of a Sink: bins at `sums` (shared or global), specials in the global mirror.
template <class W>
struct SumBins {
  ull* sums;      // W::kSums x kSumWords
  ull* specials;  // global: W::kSums x kSpecialsPerSum
  __device__ void add_sum(int sum, unsigned index, std::int64_t high, std::int64_t low) {
    ull* bins = sums + sum * kSumWords;
    if (high != 0) atomicAdd(bins + index, static_cast<ull>(high));  // two's complement: signed adds wrap exactly
    if (low != 0) atomicAdd(bins + kSumExponents + index, static_cast<ull>(low));
  }
  __device__ void add_special(int sum, int which) { atomicAdd(specials + sum * kSpecialsPerSum + which, 1ull); }
};

// Shared histogram of the source kernel: the magnitudes' binades.
inline constexpr int kSourceHistBins = kBinades;
// Shared histogram of the element kernel: the relative-error bins, then the window.
inline constexpr int kQuantHistBins = kRelBins + kOutcomes * kBinades;

struct SourceBlockSink : SumBins<SourceWords> {
  using W = SourceWords;
  ull* words;
  unsigned int* hist;  // shared, kSourceHistBins
  ull counters[W::kCounters] = {};
  ull min = kKeyPosInf;
  ull max = kKeyNegInf;
  ull amax = kKeyZero;
  ull amin_nonzero = kKeyPosInf;

  __device__ void add(int w, std::uint64_t n) { counters[w] += n; }
  __device__ void add_bin(int w) { atomicAdd(hist + (w - W::magnitudes), 1u); }
  __device__ void max_key(int w, std::uint64_t key) {
    ull& r = w == W::max ? max : amax;
    r = key > r ? key : r;
  }
  __device__ void min_key(int w, std::uint64_t key) {
    ull& r = w == W::min ? min : amin_nonzero;
    r = key < r ? key : r;
  }
  // Every thread of the block calls it once, after its last element.
  __device__ void flush() {
    const bool lead = (threadIdx.x & 31) == 0;
#pragma unroll
    for (int i = 0; i < W::kCounters; ++i) {
      const ull total = warp_sum(counters[i]);
      if (lead && total != 0) atomicAdd(words + i, total);
    }
    const ull block_min = warp_min(min);
    const ull block_amin = warp_min(amin_nonzero);
    const ull block_max = warp_max(max);
    const ull block_amax = warp_max(amax);
    if (lead) {
      atomicMin(words + W::min, block_min);
      atomicMin(words + W::amin_nonzero, block_amin);
      atomicMax(words + W::max, block_max);
      atomicMax(words + W::amax, block_amax);
    }
  }
};

struct QuantBlockSink : SumBins<QuantWords> {
  using W = QuantWords;
  ull* words;
  unsigned int* hist;  // shared, kQuantHistBins
  ull counters[W::kCounters] = {};
  ull max_abs = kKeyZero;
  ull max_rel = kKeyZero;

  __device__ void add(int w, std::uint64_t n) { counters[w] += n; }
  __device__ void add_bin(int w) {
    atomicAdd(hist + (w < W::window ? w - W::rel_bins : kRelBins + (w - W::window)), 1u);
  }
  __device__ void max_key(int w, std::uint64_t key) {
    ull& r = w == W::max_abs_error ? max_abs : max_rel;
    r = key > r ? key : r;
  }
  __device__ void min_key(int w, std::uint64_t key) { atomicMin(words + w, static_cast<ull>(key)); }
  __device__ void flush() {
    const bool lead = (threadIdx.x & 31) == 0;
#pragma unroll
    for (int i = 0; i < W::kCounters; ++i) {
      const ull total = warp_sum(counters[i]);
      if (lead && total != 0) atomicAdd(words + i, total);
    }
    const ull abs_max = warp_max(max_abs);
    const ull rel_max = warp_max(max_rel);
    if (lead) {
      atomicMax(words + W::max_abs_error, abs_max);
      atomicMax(words + W::max_rel_error, rel_max);
    }
  }
};

// The per-group scale summary: counters and extrema in registers, reduced per warp.
struct ScaleSink {
  using W = QuantWords;
  ull* words;
  ull count = 0, saturated = 0, underflowed = 0;
  ull scale_min = kKeyPosInf;
  ull scale_inv_min = scale_min;
  ull scale_max = kKeyNegInf;
  ull scale_inv_max = scale_max;

  __device__ void add(int w, std::uint64_t n) {
    if (w == W::scale_count) {
      count += n;
    } else if (w == W::scale_saturated) {
      saturated += n;
    } else {
      underflowed += n;
    }
  }
  __device__ void min_key(int w, std::uint64_t key) {
    ull& r = w == W::scale_min ? scale_min : scale_inv_min;
    r = key < r ? key : r;
  }
  __device__ void max_key(int w, std::uint64_t key) {
    ull& r = w == W::scale_max ? scale_max : scale_inv_max;
    r = key > r ? key : r;
  }
  __device__ void flush() {
    const bool lead = (threadIdx.x & 31) == 0;
    const ull c = warp_sum(count);
    const ull s = warp_sum(saturated);
    const ull u = warp_sum(underflowed);
    const ull mn = warp_min(scale_min);
    const ull imn = warp_min(scale_inv_min);
    const ull mx = warp_max(scale_max);
    const ull imx = warp_max(scale_inv_max);
    if (lead && c != 0) {
      atomicAdd(words + W::scale_count, c);
      if (s != 0) atomicAdd(words + W::scale_saturated, s);
      if (u != 0) atomicAdd(words + W::scale_underflowed, u);
      atomicMin(words + W::scale_min, mn);
      atomicMin(words + W::scale_inv_min, imn);
      atomicMax(words + W::scale_max, mx);
      atomicMax(words + W::scale_inv_max, imx);
    }
  }
};

}  // namespace fpscope::gpu::detail

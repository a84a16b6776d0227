// gpu/analysis_host.h: host side of the GPU analysis that needs no CUDA: the chunk plan (groups, given scales), the mirror's initial words, folding mirrors into SourceStats / QuantStats, and a host emulation of the device evaluator.
//
// Compiled in every build (with or without nvcc), so tests/gpu checks on the
// CPU that the device algorithm (gpu/analysis_stats.h run sequentially through
// evaluate_chunk_emulated) equals the engine's evaluate_chunk_cpu exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "analysis/engine.h"
#include "analysis/stats.h"
#include "gpu/analysis_stats.h"

namespace fpscope::gpu::detail {

// One combination's plan for one chunk.
struct CombinationPlan {
  QuantParams params;               // params.scales is filled in by whoever runs it
  std::vector<Scale> given_scales;  // one per group: scales fixed before the pass (none, tensor, delayed, col, row_scales)
  bool computed = false;            // else: per-group scales from the group's amax (row, block, mx, nvfp4)
  GroupScaleRule rule{};            // computed: how a group's amax becomes its scale
  std::size_t amax_grid = 0;        // computed: index into ChunkPlan::amax_grids
};

struct ChunkPlan {
  ChunkGeometry geometry;
  std::vector<GroupGrid> amax_grids;  // the distinct group grids whose amaxes are needed
  std::vector<CombinationPlan> combinations;
};

ChunkPlan plan_chunk(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations);

// A mirror before the first add: counters 0, extrema at their identities.
std::vector<std::uint64_t> initial_source_words();
std::vector<std::uint64_t> initial_quant_words();

// Adds what a mirror holds to `into` (merge(): the same as adding the elements one by one).
void fold_source_words(const std::uint64_t* words, SourceStats& into);
void fold_quant_words(const std::uint64_t* words, QuantStats& into);

// A Sink (gpu/analysis_stats.h) of plain adds into a host mirror; W is SourceWords or QuantWords.
template <class W>
struct HostSink {
  std::uint64_t* words;
  void add(int word, std::uint64_t n) { words[word] += n; }
  void add_bin(int word) { words[word] += 1; }
  void max_key(int word, std::uint64_t key) {
    if (key > words[word]) words[word] = key;
  }
  void min_key(int word, std::uint64_t key) {
    if (key < words[word]) words[word] = key;
  }
  void add_sum(int sum, unsigned index, std::int64_t high, std::int64_t low) {
    std::uint64_t* bins = words + W::sums + sum * kSumWords;
    bins[index] += static_cast<std::uint64_t>(high);  // two's complement wrap, as the device's atomicAdd
    bins[kSumExponents + index] += static_cast<std::uint64_t>(low);
  }
  void add_special(int sum, int which) { words[W::specials + sum * kSpecialsPerSum + which] += 1; }
};

// The device algorithm run sequentially on the host (a ChunkEvaluator): what
// gpu::make_chunk_evaluator computes, without a GPU. For tests.
void evaluate_chunk_emulated(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations,
                             std::uint64_t seed, SourceStats& source, std::vector<QuantStats>& results);

}  // namespace fpscope::gpu::detail

// analysis/engine.h: one pass over each tensor evaluating every requested (format, recipe, rounding).
//
// A tensor is seen as 2-D: rows = the product of the leading dimensions, cols =
// the last dimension (1-D: one row; 0-D: one element). It is read in chunks of
// whole rows (rows_per_chunk a multiple of every block recipe's R), or, when one
// row alone exceeds the chunk budget and no recipe needs R > 1 rows, in row
// segments aligned to every block width (so a block never straddles chunks).
// Each chunk is read once and evaluated for every combination.
//
// Passes: recipes that need an amax of a larger group than a chunk run a
// first, read-only pass: `tensor` and `nvfp4` (the tensor's amax), `col` (each
// column's amax: cols doubles of memory), and `row` when rows are split into
// segments (each row's amax: rows doubles). Memory is bounded by
// threads x chunk_elements doubles plus those vectors.
//
// Delayed scaling: the engine keeps, per tensor key (the tensor's name, or the
// file for unnamed .npy tensors), the amax of every step it has analysed.
// analyze_dataset() therefore analyses tensors ordered by (key, step, file):
// the scale of step t comes from the amaxes of the captured steps before t
// (TE DelayedScaling: amax_history_len, 'max' or 'most_recent'; scale 1 at the
// first captured step, as TE starts). Only captured steps enter the history.
//
// Threads: chunks are handed to workers in any order; each worker accumulates
// its own statistics, merged at the end. All statistics merge exactly
// (analysis/stats.h), so the output never depends on threads or chunk size.
//
// On the CPU, the source statistics and the RNE combinations of formats on the
// float32 fast path are evaluated by the vectorised tiles of
// analysis/fast_stats.h; the other combinations element by element through
// QuantStats::add_with. Both give the same statistics, exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <span>
#include <string>
#include <vector>

#include "analysis/dataset.h"
#include "analysis/stats.h"
#include "analysis/tensor.h"
#include "core/format.h"
#include "core/round.h"
#include "core/scaling.h"

namespace fpscope {

// One (format, recipe, rounding) to evaluate, with the names it prints under.
struct Combination {
  Format format;
  std::string format_name;  // as the user wrote it (a preset name or spec)
  Recipe recipe;
  Rounding rounding;
  std::string rounding_name;  // "rne", "sr:16", ...
};

// The cross product of formats x recipes x roundings, keeping only pairs where
// recipe_applies(); order: format, then recipe, then rounding, as given.
std::vector<Combination> make_combinations(const std::vector<std::string>& formats,
                                           const std::vector<std::string>& recipes,
                                           const std::vector<std::string>& roundings);

// One chunk of the 2-D view as the main pass hands it to an evaluator: rows
// [row0, row0 + nrows) x cols [col0, col0 + ncols), row-major in `values`.
// Element (i, j) has the flat index i * cols + j (stochastic rounding's counter).
struct ChunkView {
  std::span<const double> values;
  std::uint64_t row0 = 0;
  std::uint64_t nrows = 0;
  std::uint64_t col0 = 0;
  std::uint64_t ncols = 0;
  std::uint64_t cols = 0;  // the tensor's row length
};

// One combination with everything the main pass needs fixed for one tensor.
struct PreparedCombination {
  Format element;            // the combination's format (amax_scale and mx_scale take it)
  Format format;             // scaled_element_format(element, recipe): what elements round into
  Recipe recipe;
  Rounding rounding;
  Scale tensor_scale;        // tensor, delayed
  double nvfp4_scale = 1.0;  // nvfp4: the fp32 per-tensor encode scale
  std::vector<Scale> col_scales;  // col: one per column of the tensor
  std::vector<Scale> row_scales;  // row, when rows are split into segments: one per row (empty otherwise)
};

// Evaluates every combination on one chunk: adds each element to `source` once
// and to `results[k]` for combination k, exactly as the CPU path does, including
// the per-group scales (add_scale) of row (without row_scales), block, mx and
// nvfp4; the engine adds the scales fixed before the pass (tensor, delayed, col,
// row_scales) itself. gpu/ provides one (fpscope analyze --device gpu).
using ChunkEvaluator = std::function<void(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations,
                                          std::uint64_t seed, SourceStats& source, std::vector<QuantStats>& results)>;

struct EngineOptions {
  std::vector<Combination> combinations;
  int threads = 1;                           // workers; 0 = hardware concurrency
  std::uint64_t chunk_elements = 1u << 20;   // doubles per chunk buffer (per worker)
  std::uint64_t seed = 0;                    // stochastic rounding: element i uses sr_random_bits(seed, i)
  // Empty: the CPU evaluates chunks on `threads` workers. Set: it evaluates
  // every chunk, one at a time (the reads still go through the engine).
  ChunkEvaluator evaluator;
};

// Everything measured on one tensor.
struct TensorAnalysis {
  TensorInfo info;
  std::uint64_t rows = 0;
  std::uint64_t cols = 0;
  int passes = 1;                    // 2 when a pre-pass for amax was needed
  SourceStats source;
  std::vector<QuantStats> results;   // one per EngineOptions::combinations, same order
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  // Analyses one floating-point tensor. Throws fpscope::Error when the reader fails.
  TensorAnalysis analyze(TensorReader& reader);
  const EngineOptions& options() const { return options_; }

 private:
  EngineOptions options_;
  std::map<std::string, std::vector<double>> amax_history_;  // key -> amax per analysed step, oldest first
};

// What a whole run found.
struct DatasetAnalysis {
  std::vector<TensorAnalysis> tensors;   // in the dataset's order (not the processing order)
  std::vector<ReadError> failures;       // unreadable files and tensors (exit code 1)
  std::vector<TensorInfo> unsupported;   // integer and bool tensors: counted, not analysed
  std::vector<TensorInfo> empty;         // zero-element tensors
  std::uint64_t filtered_out = 0;        // tensors the --filter regex excluded
};

// Called after each tensor: (tensors done, tensors total, elements done, elements total).
using ProgressCallback = std::function<void(std::size_t, std::size_t, std::uint64_t, std::uint64_t)>;

// Analyses every entry (ordered for delayed scaling as described above). A
// tensor whose read fails mid-way becomes a failure; the others go on. With a
// filter, only tensors whose "name" (or "file" for unnamed ones) matches
// (std::regex_search) are analysed.
DatasetAnalysis analyze_dataset(std::vector<DatasetEntry> entries, const EngineOptions& options,
                                const std::regex* filter = nullptr, const ProgressCallback& progress = {});

// The key delayed scaling groups steps by.
std::string history_key(const TensorInfo& info);

}  // namespace fpscope

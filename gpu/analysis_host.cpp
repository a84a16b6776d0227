// gpu/analysis_host.cpp: the chunk plan, the mirrors' initial words and folding, and the host emulation of the device evaluator.
#include "gpu/analysis_host.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace fpscope::gpu::detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

GroupGrid make_grid(const ChunkGeometry& c, std::uint64_t group_rows, std::uint64_t group_cols) {
  GroupGrid g;
  g.group_rows = std::max<std::uint64_t>(group_rows, 1);
  g.group_cols = std::max<std::uint64_t>(group_cols, 1);
  g.groups_per_row = ceil_div(c.ncols, g.group_cols);
  g.groups = ceil_div(c.nrows, g.group_rows) * g.groups_per_row;
  return g;
}

// The exact sum held by one sum's bins and specials, added to `into`.
void fold_sum(const std::uint64_t* bins, const std::uint64_t* specials, ExactSum& into) {
  for (unsigned i = 0; i < static_cast<unsigned>(kSumExponents); ++i) {
    // Bin i holds significand parts of exponent index i: value = part * 2^(i [+ split] - 1074).
    into.add_integer(static_cast<std::int64_t>(bins[i]), i + kSumSplit);
    into.add_integer(static_cast<std::int64_t>(bins[kSumExponents + i]), i);
  }
  into.add_specials(specials[0], specials[1], specials[2]);
}

}  // namespace

ChunkPlan plan_chunk(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations) {
  ChunkPlan plan;
  ChunkGeometry& c = plan.geometry;
  c = ChunkGeometry{chunk.row0, chunk.nrows, chunk.col0, chunk.ncols, chunk.cols};
  if (chunk.values.size() != c.elements()) {
    throw Error("gpu analysis: a chunk of " + std::to_string(chunk.values.size()) + " values for " +
                std::to_string(c.nrows) + " x " + std::to_string(c.ncols) + " elements");
  }
  for (const PreparedCombination& p : combinations) {
    CombinationPlan cp;
    cp.params.format = p.format;
    cp.params.rounding = p.rounding;
    GroupGrid grid = make_grid(c, c.nrows, c.ncols);  // one group: the whole chunk
    switch (p.recipe.kind) {
      case RecipeKind::none:
        cp.given_scales = {Scale{}};
        break;
      case RecipeKind::tensor:
      case RecipeKind::delayed:
        cp.given_scales = {p.tensor_scale};
        break;
      case RecipeKind::col:
        grid = make_grid(c, c.nrows, 1);
        cp.given_scales.assign(p.col_scales.begin() + static_cast<std::ptrdiff_t>(c.col0),
                               p.col_scales.begin() + static_cast<std::ptrdiff_t>(c.col0 + c.ncols));
        break;
      case RecipeKind::row:
        grid = make_grid(c, 1, c.ncols);
        if (!p.row_scales.empty()) {
          cp.given_scales.assign(p.row_scales.begin() + static_cast<std::ptrdiff_t>(c.row0),
                                 p.row_scales.begin() + static_cast<std::ptrdiff_t>(c.row0 + c.nrows));
        } else {
          cp.computed = true;
        }
        break;
      case RecipeKind::block:
      case RecipeKind::mx:
      case RecipeKind::nvfp4:
        // engine.cpp group_rows / group_cols: R only for block; C for all three.
        grid = make_grid(c, p.recipe.kind == RecipeKind::block ? static_cast<std::uint64_t>(p.recipe.block_rows) : 1,
                         static_cast<std::uint64_t>(p.recipe.block_cols));
        cp.computed = true;
        break;
    }
    cp.params.grid = grid;
    if (cp.computed) {
      cp.rule = GroupScaleRule{p.element, p.recipe, p.nvfp4_scale};
      auto same = [&](const GroupGrid& g) { return g.group_rows == grid.group_rows && g.group_cols == grid.group_cols; };
      const auto it = std::find_if(plan.amax_grids.begin(), plan.amax_grids.end(), same);
      cp.amax_grid = static_cast<std::size_t>(it - plan.amax_grids.begin());
      if (it == plan.amax_grids.end()) plan.amax_grids.push_back(grid);
    }
    plan.combinations.push_back(std::move(cp));
  }
  return plan;
}

std::vector<std::uint64_t> initial_source_words() {
  using W = SourceWords;
  std::vector<std::uint64_t> w(W::total, 0);
  w[W::min] = order_key(kInf);  // SourceStats' initial values
  w[W::max] = order_key(-kInf);
  w[W::amax] = order_key(0.0);
  w[W::amin_nonzero] = order_key(kInf);
  return w;
}

std::vector<std::uint64_t> initial_quant_words() {
  using W = QuantWords;
  std::vector<std::uint64_t> w(W::total, 0);
  w[W::max_abs_error] = order_key(0.0);
  w[W::max_rel_error] = order_key(0.0);
  // Groups without values carry +inf / -inf extrema (stats.cpp add_scale).
  w[W::scale_min] = w[W::scale_inv_min] = order_key(kInf);
  w[W::scale_max] = w[W::scale_inv_max] = order_key(-kInf);
  return w;
}

void fold_source_words(const std::uint64_t* w, SourceStats& into) {
  using W = SourceWords;
  SourceStats d;
  d.count = w[W::count];
  d.zeros = w[W::zeros];
  d.nans = w[W::nans];
  d.infs = w[W::infs];
  d.min = from_order_key(w[W::min]);
  d.max = from_order_key(w[W::max]);
  d.amax = from_order_key(w[W::amax]);
  d.amin_nonzero = from_order_key(w[W::amin_nonzero]);
  ExactSum* sums[W::kSums] = {&d.sum, &d.sum_abs, &d.sum_sq};
  for (int k = 0; k < W::kSums; ++k) {
    fold_sum(w + W::sums + k * kSumWords, w + W::specials + k * kSpecialsPerSum, *sums[k]);
  }
  for (int b = 0; b < kBinades; ++b) d.magnitudes.counts[static_cast<std::size_t>(b)] = w[W::magnitudes + b];
  d.magnitudes.zero = d.zeros;
  d.magnitudes.inf = d.infs;
  d.magnitudes.nan = d.nans;
  into.merge(d);
}

void fold_quant_words(const std::uint64_t* w, QuantStats& into) {
  using W = QuantWords;
  QuantStats d;
  d.count = w[W::count];
  d.compared = w[W::compared];
  d.exact = w[W::exact];
  d.underflow_to_zero = w[W::underflow_to_zero];
  d.subnormal = w[W::subnormal];
  d.overflow = w[W::overflow];
  d.nan_produced = w[W::nan_produced];
  d.rel_count = w[W::rel_count];
  d.max_abs_error = from_order_key(w[W::max_abs_error]);
  d.max_rel_error = from_order_key(w[W::max_rel_error]);
  ExactSum* sums[W::kSums] = {&d.sum_error, &d.sum_sq_error, &d.sum_rel_error, &d.sum_xq, &d.sum_qq, &d.sum_xx};
  for (int k = 0; k < W::kSums; ++k) {
    fold_sum(w + W::sums + k * kSumWords, w + W::specials + k * kSpecialsPerSum, *sums[k]);
  }
  for (int o = 0; o < kOutcomes; ++o) {
    for (int b = 0; b < kBinades; ++b) {
      d.window.add(b + BinadeHistogram::kMinBinade, static_cast<WindowHistogram::Outcome>(o),
                   w[W::window + o * kBinades + b]);
    }
  }
  d.rel_error.exact = w[W::rel_exact];
  for (int b = 0; b < kRelBins; ++b) d.rel_error.counts[static_cast<std::size_t>(b)] = w[W::rel_bins + b];
  if (w[W::scale_count] > 0) {
    d.scales.count = w[W::scale_count];
    d.scales.saturated = w[W::scale_saturated];
    d.scales.underflowed = w[W::scale_underflowed];
    d.scales.scale_min = from_order_key(w[W::scale_min]);
    d.scales.scale_max = from_order_key(w[W::scale_max]);
    d.scales.scale_inv_min = from_order_key(w[W::scale_inv_min]);
    d.scales.scale_inv_max = from_order_key(w[W::scale_inv_max]);
  }
  into.merge(d);
}

void evaluate_chunk_emulated(const ChunkView& chunk, const std::vector<PreparedCombination>& combinations,
                             std::uint64_t seed, SourceStats& source, std::vector<QuantStats>& results) {
  const ChunkPlan plan = plan_chunk(chunk, combinations);
  const ChunkGeometry& c = plan.geometry;
  const std::uint64_t n = c.elements();
  const double* values = chunk.values.data();
  std::vector<std::uint64_t> source_words = initial_source_words();
  HostSink<SourceWords> source_sink{source_words.data()};
  for (std::uint64_t i = 0; i < n; ++i) add_source_element(values[i], source_sink);
  fold_source_words(source_words.data(), source);

  std::vector<std::vector<double>> amaxes;
  for (const GroupGrid& g : plan.amax_grids) {
    std::vector<double> amax(g.groups, 0.0);
    for (std::uint64_t i = 0; i < n; ++i) {
      double& a = amax[g.group_of(i, c.ncols)];
      a = std::max(a, finite_abs(values[i]));
    }
    amaxes.push_back(std::move(amax));
  }
  for (std::size_t k = 0; k < plan.combinations.size(); ++k) {
    const CombinationPlan& cp = plan.combinations[k];
    std::vector<std::uint64_t> words = initial_quant_words();
    HostSink<QuantWords> sink{words.data()};
    std::vector<Scale> scales = cp.given_scales;
    if (cp.computed) {
      const std::vector<double>& amax = amaxes[cp.amax_grid];
      scales.resize(amax.size());
      for (std::size_t g = 0; g < amax.size(); ++g) {
        scales[g] = cp.rule(amax[g]);
        add_group_scale(scales[g], amax[g] > 0.0, sink);
      }
    }
    QuantParams params = cp.params;
    params.scales = scales.data();
    for (std::uint64_t i = 0; i < n; ++i) {
      quantize_element(values[i], i, c, params, seed, RelErrorHistogram::kEdges.data(), sink);
    }
    fold_quant_words(words.data(), results[k]);
  }
}

}  // namespace fpscope::gpu::detail

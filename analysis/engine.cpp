// analysis/engine.cpp: the chunk plan, the amax pre-pass, the per-chunk evaluation of every combination, and the dataset loop.
#include "analysis/engine.h"

#include "analysis/fast_stats.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/fast_paths.h"
#include "core/random.h"
#include "core/rounding_spec.h"

namespace fpscope {
namespace {

// A rectangle of the 2-D view: rows [row0, row0 + nrows) x cols [col0, col0 + ncols),
// contiguous in the row-major data (whole rows, or a segment of one row).
struct Chunk {
  std::uint64_t row0 = 0;
  std::uint64_t nrows = 0;
  std::uint64_t col0 = 0;
  std::uint64_t ncols = 0;
};

struct ChunkPlan {
  std::uint64_t rows = 0;
  std::uint64_t cols = 0;
  bool segments = false;            // chunks are segments of single rows
  std::uint64_t rows_per_chunk = 1;  // whole-row chunks
  std::uint64_t segment_len = 0;     // segment chunks
  std::uint64_t segments_per_row = 0;
  std::uint64_t count = 0;

  Chunk chunk(std::uint64_t index) const {
    Chunk c;
    if (segments) {
      c.row0 = index / segments_per_row;
      c.nrows = 1;
      c.col0 = (index % segments_per_row) * segment_len;
      c.ncols = std::min(segment_len, cols - c.col0);
    } else {
      c.row0 = index * rows_per_chunk;
      c.nrows = std::min(rows_per_chunk, rows - c.row0);
      c.col0 = 0;
      c.ncols = cols;
    }
    return c;
  }
  std::uint64_t max_elements() const { return segments ? segment_len : rows_per_chunk * cols; }
};

std::uint64_t group_rows(const Recipe& r) { return r.kind == RecipeKind::block ? static_cast<std::uint64_t>(r.block_rows) : 1; }

std::uint64_t group_cols(const Recipe& r) {
  switch (r.kind) {
    case RecipeKind::block:
    case RecipeKind::mx:
    case RecipeKind::nvfp4:
      return static_cast<std::uint64_t>(r.block_cols);
    default:
      return 1;
  }
}

ChunkPlan make_plan(std::uint64_t rows, std::uint64_t cols, const std::vector<Combination>& combos,
                    std::uint64_t budget) {
  ChunkPlan plan;
  plan.rows = rows;
  plan.cols = cols;
  budget = std::max<std::uint64_t>(budget, 1);
  std::uint64_t r_lcm = 1;
  std::uint64_t c_lcm = 1;
  for (const Combination& c : combos) {
    r_lcm = std::lcm(r_lcm, group_rows(c.recipe));
    c_lcm = std::lcm(c_lcm, group_cols(c.recipe));
  }
  if (rows == 0 || cols == 0) return plan;
  if (cols > budget && r_lcm == 1) {
    plan.segments = true;
    plan.segment_len = std::max<std::uint64_t>(c_lcm, budget / c_lcm * c_lcm);
    plan.segments_per_row = (cols + plan.segment_len - 1) / plan.segment_len;
    plan.count = rows * plan.segments_per_row;
  } else {
    // Whole rows, a multiple of every block's R (more than the budget only when R rows exceed it).
    plan.rows_per_chunk = std::max<std::uint64_t>(r_lcm, budget / cols / r_lcm * r_lcm);
    plan.count = (rows + plan.rows_per_chunk - 1) / plan.rows_per_chunk;
  }
  return plan;
}

// Formats of at most kTableBits bits: decode() and classify() of every encoding,
// looked up per element instead of recomputed (the same values: they are pure).
constexpr int kTableBits = 16;
struct FormatTable {
  std::vector<double> decoded;
  std::vector<Class> classes;
};

// What the CPU path adds to a PreparedCombination: decode tables and the RNE fast path.
struct CpuPrepared {
  std::shared_ptr<const FormatTable> table;  // null for formats over kTableBits bits
  // The float32 fast path's parameters for FastStatsTile; empty when it does not apply.
  std::optional<detail::FastParams> fast;
};

// One table per format for the process (built on first use: 2^16 decodes).
std::shared_ptr<const FormatTable> format_table(const Format& f) {
  const int bits = limits(f).total_bits;
  if (bits > kTableBits) return nullptr;
  static std::mutex mutex;
  static std::vector<std::pair<Format, std::shared_ptr<const FormatTable>>> cache;
  std::lock_guard lock(mutex);
  for (const auto& [format, table] : cache) {
    if (format == f) return table;
  }
  auto table = std::make_shared<FormatTable>();
  const std::uint64_t encodings = std::uint64_t{1} << bits;
  table->decoded.resize(encodings);
  table->classes.resize(encodings);
  for (std::uint64_t b = 0; b < encodings; ++b) {
    table->decoded[b] = decode(b, f);
    table->classes[b] = classify(b, f);
  }
  cache.emplace_back(f, table);
  return table;
}

double finite_abs(double x) {
  const double a = std::fabs(x);
  return std::isfinite(a) ? a : 0.0;
}

std::vector<CpuPrepared> prepare_cpu(const std::vector<PreparedCombination>& prepared) {
  std::vector<CpuPrepared> out(prepared.size());
  for (std::size_t k = 0; k < prepared.size(); ++k) {
    const PreparedCombination& p = prepared[k];
    out[k].table = format_table(p.format);
    out[k].fast = fast_stats_params(p.format, p.rounding);
  }
  return out;
}

// The CPU evaluation of one chunk (engine.h ChunkEvaluator).
void evaluate_chunk_cpu(const ChunkView& c, const std::vector<PreparedCombination>& prepared,
                        const std::vector<CpuPrepared>& cpu_prepared, std::uint64_t seed, SourceStats& source,
                        std::vector<QuantStats>& stats) {
  const std::span<const double> buf = c.values;
  const std::uint64_t cols = c.cols;
  // Exact-sum scratch (stats.h ExactSumBuffer, 144 KiB), per thread so that it is
  // zeroed once, not per tensor; every bind() is followed by a flush() that empties it.
  static thread_local std::unique_ptr<SourceSumBuffers> source_sums = std::make_unique<SourceSumBuffers>();
  static thread_local std::unique_ptr<QuantSumBuffers> quant_sums = std::make_unique<QuantSumBuffers>();
  // This chunk's source magnitudes: the tiled combinations take their window's
  // `normal` counts from them (QuantStats::kNormalWindowFromSource).
  static thread_local std::unique_ptr<BinadeHistogram> chunk_magnitudes = std::make_unique<BinadeHistogram>();
  static thread_local std::unique_ptr<FastStatsTile> tile = std::make_unique<FastStatsTile>();
  BinadeHistogram& mags = *chunk_magnitudes;
  mags = BinadeHistogram{};
  SourceSumBuffers& ss = *source_sums;
  ss.bind(source);
  // This chunk's sums of x and x*x, which the combinations take over (stats.h SumSharing).
  ExactSum chunk_sum;
  ExactSum chunk_sq;
  ss.sum.bind(chunk_sum);
  ss.sum_sq.bind(chunk_sq);
  add_source_values(buf, source, ss, mags);
  ss.flush();
  source.magnitudes.merge(mags);
  ChunkMagnitudes chunk_mags{&mags, BinadeHistogram::kBins, 0};
  for (int b = 0; b < BinadeHistogram::kBins; ++b) {
    if (mags.counts[static_cast<std::size_t>(b)] == 0) continue;
    chunk_mags.lo = std::min(chunk_mags.lo, b);
    chunk_mags.hi = b + 1;
  }
  source.sum.merge(chunk_sum);
  source.sum_sq.merge(chunk_sq);
  QuantSumBuffers& qs = *quant_sums;
  auto at = [&](std::uint64_t i, std::uint64_t j) -> const double& { return buf[(i - c.row0) * c.ncols + (j - c.col0)]; };
  for (std::size_t k = 0; k < prepared.size(); ++k) {
    const PreparedCombination& p = prepared[k];
    const CpuPrepared& cp = cpu_prepared[k];
    const bool stochastic = p.rounding.mode == Mode::sr;
    QuantStats& st = stats[k];
    qs.bind(st);
    st.sum_xx.merge(chunk_sq);
    const FormatTable* table = cp.table.get();
    // Formats on the float32 fast path: the vectorised tiles of analysis/fast_stats.h.
    const bool tiled = cp.fast.has_value() && table != nullptr;
    const FastStatsFormat tile_format =
        tiled ? FastStatsFormat{&*cp.fast, limits(p.format).min_normal, table->decoded.data(), table->classes.data(),
                                p.format, p.rounding, seed, detail::make_fast_double_params(p.format)}
              : FastStatsFormat{};
    // Quantizes rows [r0, r1) x cols [c0, c1) (global indexes) with one scale,
    // element by element (formats off the fast path).
    auto apply = [&](const Scale& s, std::uint64_t r0, std::uint64_t r1, std::uint64_t c0, std::uint64_t c1) {
      for (std::uint64_t i = r0; i < r1; ++i) {
        const double* row = &at(i, c0);
        for (std::uint64_t j = c0; j < c1; ++j) {
          const double x = row[j - c0];
          const double xs = x * s.scale;
          const std::uint32_t random = stochastic ? sr_random_bits(seed, i * cols + j) : 0;
          const Encoded e = encode(xs, p.format, p.rounding, random);
          const double decoded = table != nullptr ? table->decoded[e.bits] : decode(e.bits, p.format);
          const Class result_class = table != nullptr ? table->classes[e.bits] : classify(e.bits, p.format);
          st.add_with<ExactSumBuffer, QuantStats::kXxFromSource>(x, decoded * s.scale_inv, e.flags, result_class,
                                                                 qs.error, qs.sq_error, qs.rel_error, qs.xq, qs.qq,
                                                                 qs.xx);
        }
      }
    };
    const std::uint64_t r_end = c.row0 + c.nrows;
    const std::uint64_t c_end = c.col0 + c.ncols;
    auto group_amax = [&](std::uint64_t r0, std::uint64_t r1, std::uint64_t c0, std::uint64_t c1) {
      double amax = 0.0;
      for (std::uint64_t i = r0; i < r1; ++i) amax = std::max(amax, finite_amax(&at(i, c0), c1 - c0));
      return amax;
    };
    auto quantize = [&](const Scale& s, std::uint64_t r0, std::uint64_t r1, std::uint64_t c0, std::uint64_t c1) {
      if (!tiled) {
        apply(s, r0, r1, c0, c1);
        return;
      }
      for (std::uint64_t i = r0; i < r1; ++i) tile->add_run(&at(i, c0), c1 - c0, s, i * cols + c0);
    };
    // The recipes with one scale for the chunk.
    auto apply_whole = [&](const Scale& s) { quantize(s, c.row0, r_end, c.col0, c_end); };
    if (tiled) tile->begin(tile_format, st, qs, chunk_mags);
    switch (p.recipe.kind) {
      case RecipeKind::none:
        apply_whole(Scale{});
        break;
      case RecipeKind::tensor:
      case RecipeKind::delayed:
        apply_whole(p.tensor_scale);
        break;
      case RecipeKind::col:
        for (std::uint64_t i = c.row0; i < r_end; ++i) {
          for (std::uint64_t j = c.col0; j < c_end; ++j) quantize(p.col_scales[j], i, i + 1, j, j + 1);
        }
        break;
      case RecipeKind::row:
        for (std::uint64_t i = c.row0; i < r_end; ++i) {
          if (!p.row_scales.empty()) {
            quantize(p.row_scales[i], i, i + 1, c.col0, c_end);
          } else {
            const double amax = group_amax(i, i + 1, c.col0, c_end);
            const Scale s = amax_scale(amax, p.element, p.recipe);
            st.add_scale(s, amax > 0.0);
            quantize(s, i, i + 1, c.col0, c_end);
          }
        }
        break;
      case RecipeKind::block:
      case RecipeKind::mx:
      case RecipeKind::nvfp4: {
        // The chunk starts at a multiple of R rows and (for segments) of C columns.
        const std::uint64_t R = group_rows(p.recipe);
        const std::uint64_t C = group_cols(p.recipe);
        const int element_emax = limits(p.element).emax;  // once, not per block
        for (std::uint64_t r0 = c.row0; r0 < r_end; r0 += R) {
          const std::uint64_t r1 = std::min(r_end, r0 + R);
          for (std::uint64_t c0 = c.col0; c0 < c_end; c0 += C) {
            const std::uint64_t c1 = std::min(c_end, c0 + C);
            const double amax = group_amax(r0, r1, c0, c1);
            Scale s;
            if (p.recipe.kind == RecipeKind::mx) {
              s = mx_scale_for_emax(amax, element_emax);
            } else if (p.recipe.kind == RecipeKind::nvfp4) {
              s = nvfp4_block_scale(amax, p.nvfp4_scale);
            } else {
              s = amax_scale(amax, p.element, p.recipe);
            }
            st.add_scale(s, amax > 0.0);
            quantize(s, r0, r1, c0, c1);
          }
        }
        break;
      }
    }
    if (tiled) tile->finish();
    qs.flush();
  }
}

// Runs fn(worker, chunk index) over all chunks on `threads` workers; rethrows the first exception.
template <class Fn>
void parallel_chunks(int threads, std::uint64_t count, Fn fn) {
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&](int worker) {
    try {
      for (std::uint64_t i = next++; i < count && !failed; i = next++) fn(worker, i);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  if (threads <= 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (int w = 1; w < threads; ++w) pool.emplace_back(work, w);
    work(0);
    for (std::thread& t : pool) t.join();
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

std::string history_key(const TensorInfo& info) { return info.name.empty() ? info.file : info.name; }

std::vector<Combination> make_combinations(const std::vector<std::string>& formats,
                                           const std::vector<std::string>& recipes,
                                           const std::vector<std::string>& roundings) {
  std::vector<Combination> out;
  std::vector<Recipe> parsed_recipes;
  for (const std::string& r : recipes) parsed_recipes.push_back(parse_recipe(r));
  std::vector<Rounding> parsed_roundings;
  for (const std::string& r : roundings) parsed_roundings.push_back(parse_rounding(r));
  for (const std::string& name : formats) {
    const Format f = parse_format(name);
    for (const Recipe& r : parsed_recipes) {
      if (!recipe_applies(r, f)) continue;
      for (const Rounding& rounding : parsed_roundings) {
        out.push_back(Combination{f, format_name(f), r, rounding, rounding_name(rounding)});
      }
    }
  }
  return out;
}

Engine::Engine(EngineOptions options) : options_(std::move(options)) {
  if (options_.threads <= 0) options_.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

TensorAnalysis Engine::analyze(TensorReader& reader) {
  const TensorInfo& info = reader.info();
  TensorAnalysis result;
  result.info = info;
  const std::uint64_t n = info.element_count();
  std::uint64_t cols = info.shape.empty() ? 1 : static_cast<std::uint64_t>(info.shape.back());
  std::uint64_t rows = cols == 0 ? 0 : n / cols;
  if (n == 0) rows = 0;
  result.rows = rows;
  result.cols = cols;
  const std::vector<Combination>& combos = options_.combinations;
  const ChunkPlan plan = make_plan(rows, cols, combos, options_.chunk_elements);
  if (plan.max_elements() > ExactSumBuffer::kMaxAdds) {
    // The exact-sum buffers are flushed once per chunk (a 512 GiB chunk: never in practice).
    throw Error(info.file + ": tensor '" + info.name + "': a chunk of " + std::to_string(plan.max_elements()) +
                " elements exceeds the engine's limit of 2^36");
  }
  const int threads = static_cast<int>(std::min<std::uint64_t>(static_cast<std::uint64_t>(options_.threads),
                                                               std::max<std::uint64_t>(plan.count, 1)));
  std::mutex read_mutex;  // TensorReader::read is not promised to be thread-safe
  auto read_chunk = [&](const Chunk& c, std::vector<double>& buffer) {
    const std::uint64_t count = c.nrows * c.ncols;
    buffer.resize(count);
    std::lock_guard lock(read_mutex);
    reader.read(c.row0 * cols + c.col0, std::span<double>(buffer.data(), count));
  };

  // ---- first pass: amaxes of groups larger than a chunk ----
  bool need_tensor_amax = false;
  bool need_col_amax = false;
  bool need_row_amax = false;
  for (const Combination& c : combos) {
    need_tensor_amax |= c.recipe.kind == RecipeKind::tensor || c.recipe.kind == RecipeKind::nvfp4;
    need_col_amax |= c.recipe.kind == RecipeKind::col;
    need_row_amax |= c.recipe.kind == RecipeKind::row && plan.segments;
  }
  double tensor_amax = 0.0;
  std::vector<double> col_amax;
  std::vector<double> row_amax;
  if (need_tensor_amax || need_col_amax || need_row_amax) {
    result.passes = 2;
    struct PrePass {
      double amax = 0.0;
      std::vector<double> col;
      std::vector<double> row;
      std::vector<double> buffer;
    };
    std::vector<PrePass> partial(static_cast<std::size_t>(threads));
    for (PrePass& p : partial) {
      if (need_col_amax) p.col.assign(cols, 0.0);
      if (need_row_amax) p.row.assign(rows, 0.0);
    }
    parallel_chunks(threads, plan.count, [&](int worker, std::uint64_t index) {
      PrePass& p = partial[static_cast<std::size_t>(worker)];
      const Chunk c = plan.chunk(index);
      read_chunk(c, p.buffer);
      for (std::uint64_t i = 0; i < c.nrows; ++i) {
        const double* row = &p.buffer[i * c.ncols];
        const double row_max = finite_amax(row, c.ncols);
        if (need_col_amax) {
          for (std::uint64_t j = 0; j < c.ncols; ++j) p.col[c.col0 + j] = std::max(p.col[c.col0 + j], finite_abs(row[j]));
        }
        p.amax = std::max(p.amax, row_max);
        if (need_row_amax) p.row[c.row0 + i] = std::max(p.row[c.row0 + i], row_max);
      }
    });
    if (need_col_amax) col_amax.assign(cols, 0.0);
    if (need_row_amax) row_amax.assign(rows, 0.0);
    for (const PrePass& p : partial) {
      tensor_amax = std::max(tensor_amax, p.amax);
      for (std::uint64_t j = 0; j < p.col.size(); ++j) col_amax[j] = std::max(col_amax[j], p.col[j]);
      for (std::uint64_t i = 0; i < p.row.size(); ++i) row_amax[i] = std::max(row_amax[i], p.row[i]);
    }
  }

  // ---- the scales fixed before the main pass ----
  const std::string key = history_key(info);
  const std::vector<double>* history = nullptr;
  if (auto it = amax_history_.find(key); it != amax_history_.end()) history = &it->second;
  std::vector<PreparedCombination> prepared(combos.size());
  for (std::size_t k = 0; k < combos.size(); ++k) {
    const Combination& c = combos[k];
    PreparedCombination& p = prepared[k];
    p.element = c.format;
    p.format = scaled_element_format(c.format, c.recipe);
    p.recipe = c.recipe;
    p.rounding = c.rounding;
    switch (c.recipe.kind) {
      case RecipeKind::tensor:
        p.tensor_scale = amax_scale(tensor_amax, c.format, c.recipe);
        break;
      case RecipeKind::delayed:
        // TE DelayedScaling: the amax history of earlier steps; scale 1 before any history.
        if (history != nullptr && !history->empty()) {
          const std::size_t len = std::min(history->size(), static_cast<std::size_t>(c.recipe.history_len));
          double amax = history->back();
          if (c.recipe.amax_algo == AmaxAlgo::max) {
            amax = *std::max_element(history->end() - static_cast<std::ptrdiff_t>(len), history->end());
          }
          p.tensor_scale = amax_scale(amax, c.format, c.recipe);
        }
        break;
      case RecipeKind::nvfp4:
        p.nvfp4_scale = nvfp4_tensor_scale(tensor_amax);
        break;
      case RecipeKind::col:
        p.col_scales.resize(cols);
        for (std::uint64_t j = 0; j < cols; ++j) p.col_scales[j] = amax_scale(col_amax[j], c.format, c.recipe);
        break;
      case RecipeKind::row:
        if (plan.segments) {
          p.row_scales.resize(rows);
          for (std::uint64_t i = 0; i < rows; ++i) p.row_scales[i] = amax_scale(row_amax[i], c.format, c.recipe);
        }
        break;
      default:
        break;
    }
  }

  // ---- main pass: each chunk read once, every combination evaluated from it ----
  struct Worker {
    SourceStats source;
    std::vector<QuantStats> stats;
    std::vector<double> buffer;
  };
  const bool cpu = !options_.evaluator;
  const int main_threads = cpu ? threads : 1;
  std::vector<Worker> workers(static_cast<std::size_t>(main_threads));
  for (Worker& w : workers) w.stats.resize(combos.size());
  std::vector<CpuPrepared> cpu_prepared;
  if (cpu) cpu_prepared = prepare_cpu(prepared);
  parallel_chunks(main_threads, plan.count, [&](int worker_index, std::uint64_t index) {
    Worker& w = workers[static_cast<std::size_t>(worker_index)];
    const Chunk c = plan.chunk(index);
    read_chunk(c, w.buffer);
    const ChunkView view{w.buffer, c.row0, c.nrows, c.col0, c.ncols, cols};
    if (cpu) {
      evaluate_chunk_cpu(view, prepared, cpu_prepared, options_.seed, w.source, w.stats);
    } else {
      options_.evaluator(view, prepared, options_.seed, w.source, w.stats);
    }
  });

  for (Worker& w : workers) {
    result.source.merge(w.source);
  }
  result.results.resize(combos.size());
  for (std::size_t k = 0; k < combos.size(); ++k) {
    for (Worker& w : workers) result.results[k].merge(w.stats[k]);
    // Scales that belong to the whole tensor (or were fixed before the pass) are noted once here.
    const PreparedCombination& p = prepared[k];
    QuantStats& st = result.results[k];
    st.window.trim();  // results keep only the binades seen (stats.h WindowHistogram)
    switch (p.recipe.kind) {
      case RecipeKind::tensor:
      case RecipeKind::delayed:
        st.add_scale(p.tensor_scale, result.source.amax > 0.0);
        break;
      case RecipeKind::col:
        for (std::uint64_t j = 0; j < cols; ++j) st.add_scale(p.col_scales[j], col_amax[j] > 0.0);
        break;
      case RecipeKind::row:
        for (std::uint64_t i = 0; i < p.row_scales.size(); ++i) st.add_scale(p.row_scales[i], row_amax[i] > 0.0);
        break;
      default:
        break;
    }
  }
  if (n > 0) amax_history_[key].push_back(result.source.amax);
  return result;
}

DatasetAnalysis analyze_dataset(std::vector<DatasetEntry> entries, const EngineOptions& options,
                                const std::regex* filter, const ProgressCallback& progress) {
  DatasetAnalysis out;
  struct Job {
    std::size_t order;
    std::unique_ptr<TensorReader> reader;
  };
  std::vector<Job> jobs;
  for (DatasetEntry& e : entries) {
    if (e.error) out.failures.push_back(*e.error);
    if (!e.reader) continue;
    const TensorInfo& info = e.reader->info();
    if (filter != nullptr && !std::regex_search(info.name.empty() ? info.file : info.name, *filter)) {
      ++out.filtered_out;
      continue;
    }
    if (!is_float(info.dtype)) {
      out.unsupported.push_back(info);
    } else if (info.element_count() == 0) {
      out.empty.push_back(info);
    } else {
      jobs.push_back(Job{jobs.size(), std::move(e.reader)});
    }
  }
  // Delayed scaling needs each tensor's steps in order (engine.h).
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    const TensorInfo& x = a.reader->info();
    const TensorInfo& y = b.reader->info();
    const std::string kx = history_key(x);
    const std::string ky = history_key(y);
    if (kx != ky) return kx < ky;
    if (x.step != y.step) return x.step < y.step;
    return x.file < y.file;
  });
  std::uint64_t total_elements = 0;
  for (const Job& j : jobs) total_elements += j.reader->info().element_count();
  Engine engine(options);
  std::vector<std::unique_ptr<TensorAnalysis>> slots(jobs.size());
  std::uint64_t done_elements = 0;
  std::size_t done = 0;
  for (Job& j : jobs) {
    const TensorInfo& info = j.reader->info();
    try {
      slots[j.order] = std::make_unique<TensorAnalysis>(engine.analyze(*j.reader));
    } catch (const Error& e) {
      out.failures.push_back(ReadError{info.file, info.name, e.what()});
    }
    done_elements += info.element_count();
    ++done;
    j.reader.reset();  // release the file as soon as it is done
    if (progress) progress(done, jobs.size(), done_elements, total_elements);
  }
  for (auto& s : slots) {
    if (s) out.tensors.push_back(std::move(*s));
  }
  return out;
}

}  // namespace fpscope

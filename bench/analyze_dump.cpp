// bench/analyze_dump.cpp: runs the analysis engine on files and prints every statistic it holds, exactly (the byte-identity check and the peak-memory driver of bench/RESULTS.md).
//
// Usage: fpscope_analyze_dump [--threads N] [--chunk N] [--formats a,b] [--recipes a,b] [--rounding a,b] [--quiet] PATH...
// Prints, per tensor and combination, every count, histogram and exact sum
// (as a hexadecimal double) so that two engine versions can be compared with cmp;
// --quiet prints only the totals (for memory measurements under /usr/bin/time -v).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "analysis/dataset.h"
#include "analysis/engine.h"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t comma = s.find(',', start);
    const std::size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void print_counts(const char* name, int first, const std::vector<std::uint64_t>& v) {
  std::printf("  %s", name);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != 0) std::printf(" %d:%llu", first + static_cast<int>(i), static_cast<unsigned long long>(v[i]));
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fpscope;
  std::string formats = "bf16,fp16,e4m3,e5m2,e2m1";
  std::string recipes = "none,tensor,mx,nvfp4";
  std::string rounding = "rne";
  EngineOptions options;
  bool quiet = false;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--threads") {
      options.threads = std::atoi(next().c_str());
    } else if (a == "--chunk") {
      options.chunk_elements = std::strtoull(next().c_str(), nullptr, 10);
    } else if (a == "--formats") {
      formats = next();
    } else if (a == "--recipes") {
      recipes = next();
    } else if (a == "--rounding") {
      rounding = next();
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      paths.push_back(a);
    }
  }
  options.combinations = make_combinations(split(formats), split(recipes), split(rounding));
  const DatasetAnalysis d = analyze_dataset(open_dataset(paths), options);
  std::uint64_t elements = 0;
  for (const TensorAnalysis& t : d.tensors) {
    elements += t.source.count;
    if (quiet) continue;
    const SourceStats& s = t.source;
    std::printf("tensor %s %s rows=%llu cols=%llu passes=%d\n", t.info.file.c_str(), t.info.name.c_str(),
                static_cast<unsigned long long>(t.rows), static_cast<unsigned long long>(t.cols), t.passes);
    std::printf("  count=%llu zeros=%llu nans=%llu infs=%llu min=%a max=%a amax=%a amin=%a sum=%a abs=%a sq=%a\n",
                static_cast<unsigned long long>(s.count), static_cast<unsigned long long>(s.zeros),
                static_cast<unsigned long long>(s.nans), static_cast<unsigned long long>(s.infs), s.min, s.max, s.amax,
                s.amin_nonzero, s.sum.value(), s.sum_abs.value(), s.sum_sq.value());
    print_counts("mag", BinadeHistogram::kMinBinade, s.magnitudes.counts);
    std::printf("  mag zero=%llu inf=%llu nan=%llu\n", static_cast<unsigned long long>(s.magnitudes.zero),
                static_cast<unsigned long long>(s.magnitudes.inf), static_cast<unsigned long long>(s.magnitudes.nan));
    for (std::size_t k = 0; k < t.results.size(); ++k) {
      const QuantStats& q = t.results[k];
      std::printf(" combo %s %s %s\n", options.combinations[k].format_name.c_str(),
                  recipe_name(options.combinations[k].recipe).c_str(), options.combinations[k].rounding_name.c_str());
      std::printf("  n=%llu cmp=%llu ex=%llu uf=%llu sub=%llu of=%llu nan=%llu rel=%llu maxabs=%a maxrel=%a\n",
                  static_cast<unsigned long long>(q.count), static_cast<unsigned long long>(q.compared),
                  static_cast<unsigned long long>(q.exact), static_cast<unsigned long long>(q.underflow_to_zero),
                  static_cast<unsigned long long>(q.subnormal), static_cast<unsigned long long>(q.overflow),
                  static_cast<unsigned long long>(q.nan_produced), static_cast<unsigned long long>(q.rel_count),
                  q.max_abs_error, q.max_rel_error);
      std::printf("  se=%a sse=%a srel=%a sxq=%a sqq=%a sxx=%a\n", q.sum_error.value(), q.sum_sq_error.value(),
                  q.sum_rel_error.value(), q.sum_xq.value(), q.sum_qq.value(), q.sum_xx.value());
      const char* names[] = {"w.under", "w.sub", "w.normal", "w.over"};
      for (int o = 0; o < WindowHistogram::kOutcomes; ++o) {
        print_counts(names[o], q.window.first, q.window.counts[static_cast<std::size_t>(o)]);
      }
      std::printf("  relhist exact=%llu", static_cast<unsigned long long>(q.rel_error.exact));
      for (const auto c : q.rel_error.counts) std::printf(" %llu", static_cast<unsigned long long>(c));
      std::printf("\n  scales n=%llu sat=%llu uf=%llu min=%a max=%a imin=%a imax=%a\n",
                  static_cast<unsigned long long>(q.scales.count), static_cast<unsigned long long>(q.scales.saturated),
                  static_cast<unsigned long long>(q.scales.underflowed), q.scales.scale_min, q.scales.scale_max,
                  q.scales.scale_inv_min, q.scales.scale_inv_max);
    }
  }
  std::printf("tensors=%zu failures=%zu elements=%llu\n", d.tensors.size(), d.failures.size(),
              static_cast<unsigned long long>(elements));
  return d.failures.empty() ? 0 : 1;
}

// tests/analysis/test_result_json.cpp: the streamed result document equals the whole document's dump, byte for byte.
#include "analysis/result_json.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include "core/error.h"
#include "tests/analysis/memory_reader.h"

namespace fpscope {
namespace {

using testing_support::MemoryReader;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The streamed file and the tree's dump for a dataset of `tensors` tensors.
void expect_stream_equals_dump(std::size_t tensors) {
  const auto combos = make_combinations({"e4m3", "bf16"}, {"none", "tensor"}, {"rne"});
  std::vector<DatasetEntry> entries;
  std::mt19937_64 rng(tensors);
  std::normal_distribution<double> normal(0.0, 0.02);
  for (std::size_t t = 0; t < tensors; ++t) {
    std::vector<double> x(96);
    for (double& v : x) v = normal(rng);
    if (t == 1) x[3] = std::numeric_limits<double>::quiet_NaN();  // "nan" strings in the document
    auto reader = std::make_unique<MemoryReader>("w" + std::to_string(t) + ".weight", std::vector<std::int64_t>{8, 12}, x);
    reader->info_.layer = "blocks.0.mlp";
    entries.push_back(DatasetEntry::from_reader(std::move(reader)));
  }
  entries.push_back(DatasetEntry::from_error("bad.safetensors", "", "bad.safetensors: truncated header"));
  const DatasetAnalysis analysis = analyze_dataset(std::move(entries), EngineOptions{combos, 1, 1u << 20, 0, {}});
  const Thresholds thresholds = default_thresholds();
  const VerdictReport verdicts = judge_all(analysis, combos, thresholds);
  RunInfo run;
  run.inputs = {"mem.safetensors", "bad.safetensors"};
  run.formats = {"e4m3", "bf16"};
  run.recipes = {"none", "tensor"};
  run.roundings = {"rne"};
  const std::string expected = result_to_json(run, analysis, combos, thresholds, verdicts, nullptr).dump(1) + "\n";
  const std::string path =
      (std::filesystem::temp_directory_path() / ("fpscope_test_result_json_" + std::to_string(tensors) + ".json")).string();
  AtomicFile out(path);
  write_result_json(out, run, analysis, combos, thresholds, verdicts, nullptr);
  out.commit();
  EXPECT_EQ(read_file(path), expected);
  std::filesystem::remove(path);
}

TEST(write_result_json, equals_the_documents_dump_byte_for_byte) {
  for (std::size_t tensors : {0u, 1u, 3u}) {
    SCOPED_TRACE(tensors);
    expect_stream_equals_dump(tensors);
  }
}

}  // namespace
}  // namespace fpscope

// tests/analysis/test_dataset.cpp: PATH... expansion (files, directories, globs), ordering, errors, .npy entries.
#include "analysis/dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "analysis/npy.h"

namespace fpscope {
namespace {

namespace fs = std::filesystem;

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(::testing::TempDir()) / ("fpscope_dataset_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string path(const std::string& relative) const { return (root_ / relative).string(); }

  void write_text(const std::string& relative, std::string_view bytes) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(path(relative), std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // A safetensors file with float32 tensors named `names`, each holding one value.
  void write_safetensors(const std::string& relative, const std::vector<std::string>& names) {
    std::string header = "{";
    std::string data;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0) header += ",";
      header += "\"" + names[i] + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" + std::to_string(4 * i) +
                "," + std::to_string(4 * i + 4) + "]}";
      const float v = static_cast<float>(i);
      data.append(reinterpret_cast<const char*>(&v), 4);
    }
    header += "}";
    std::string bytes(8, '\0');
    std::uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    write_text(relative, bytes + header + data);
  }

  void write_npy_file(const std::string& relative, std::vector<float> values) {
    fs::create_directories((root_ / relative).parent_path());
    const std::vector<std::int64_t> shape{static_cast<std::int64_t>(values.size())};
    write_npy(path(relative), DType::f32, shape, std::as_bytes(std::span<const float>(values)));
  }

  // "file|tensor" for readers, "!message" for errors, in order.
  std::vector<std::string> describe(const std::vector<DatasetEntry>& entries) const {
    std::vector<std::string> out;
    const std::string prefix = root_.string() + "/";
    auto strip = [&](std::string s) {
      for (std::size_t at; (at = s.find(prefix)) != std::string::npos;) s.erase(at, prefix.size());
      return s;
    };
    for (const DatasetEntry& e : entries) {
      EXPECT_NE(e.reader == nullptr, e.error == nullptr);
      out.push_back(e.reader ? strip(e.reader->info().file) + "|" + e.reader->info().name : "!" + strip(e.error->message));
    }
    return out;
  }

  std::vector<std::string> open(const std::vector<std::string>& args) const {
    return describe(open_dataset(std::span<const std::string>(args)));
  }

  fs::path root_;
};

TEST_F(DatasetTest, directories_are_walked_recursively_in_sorted_order) {
  write_safetensors("run/step_000002.safetensors", {"b.weight", "a.weight"});
  write_safetensors("run/step_000001.safetensors", {"x"});
  write_npy_file("run/sub/fc.weight.npy", {1.0f, 2.0f});
  write_text("run/notes.txt", "not a tensor file");
  write_text("run/sub/deeper/z.safetensors.bak", "ignored");
  EXPECT_EQ(open({path("run")}), (std::vector<std::string>{
                                     "run/step_000001.safetensors|x",
                                     "run/step_000002.safetensors|a.weight",
                                     "run/step_000002.safetensors|b.weight",
                                     "run/sub/fc.weight.npy|",
                                 }));
}

TEST_F(DatasetTest, arguments_keep_their_order_and_files_are_yielded_once) {
  write_safetensors("b.safetensors", {"t"});
  write_safetensors("a.safetensors", {"t"});
  EXPECT_EQ(open({path("b.safetensors"), path("a.safetensors"), root_.string(), path("./b.safetensors")}),
            (std::vector<std::string>{"b.safetensors|t", "a.safetensors|t"}));
}

TEST_F(DatasetTest, globs_are_expanded_and_sorted) {
  write_safetensors("d/step_10.safetensors", {"t"});
  write_safetensors("d/step_2.safetensors", {"t"});
  write_safetensors("d/other.safetensors", {"t"});
  write_safetensors("e/step_1.safetensors", {"t"});
  EXPECT_EQ(open({path("*/step_*.safetensors")}),
            (std::vector<std::string>{"d/step_10.safetensors|t", "d/step_2.safetensors|t", "e/step_1.safetensors|t"}));
  // A glob matching a directory walks it.
  EXPECT_EQ(open({path("[e]")}), (std::vector<std::string>{"e/step_1.safetensors|t"}));
}

TEST_F(DatasetTest, missing_paths_and_empty_globs_are_errors_in_place) {
  write_safetensors("a.safetensors", {"t"});
  write_safetensors("c.safetensors", {"t"});
  EXPECT_EQ(open({path("a.safetensors"), path("missing.safetensors"), path("nothing*.npy"), path("c.safetensors")}),
            (std::vector<std::string>{
                "a.safetensors|t",
                "!missing.safetensors: no such file or directory",
                "!nothing*.npy: no file matches this pattern",
                "c.safetensors|t",
            }));
}

TEST_F(DatasetTest, a_bad_file_does_not_stop_the_others) {
  write_safetensors("d/1.safetensors", {"t"});
  write_text("d/2.safetensors", "short");
  write_text("d/3.npy", "\x93NUMPY garbage");
  write_safetensors("d/4.safetensors", {"u"});
  const std::vector<std::string> got = open({path("d")});
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0], "d/1.safetensors|t");
  EXPECT_EQ(got[1], "!d/2.safetensors: file is 5 bytes, too short for the 8-byte header length");
  EXPECT_EQ(got[2].rfind("!d/3.npy: ", 0), 0u) << got[2];
  EXPECT_EQ(got[3], "d/4.safetensors|u");
}

TEST_F(DatasetTest, npy_entries_get_role_layer_and_step_from_their_path) {
  write_npy_file("step_000042/blocks.0.fc1.weight.npy", {1.5f, -2.0f, 0.25f});
  auto entries = open_dataset(std::vector<std::string>{root_.string()});
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].ok());
  const TensorInfo& info = entries[0].reader->info();
  EXPECT_EQ(info.name, "");
  EXPECT_EQ(info.role, Role::weight);
  EXPECT_TRUE(info.role_inferred);
  EXPECT_EQ(info.layer, "blocks.0.fc1");
  EXPECT_EQ(info.step, 42);
  std::vector<double> values(3);
  entries[0].reader->read(0, std::span<double>(values));
  EXPECT_EQ(values, (std::vector<double>{1.5, -2.0, 0.25}));
}

TEST_F(DatasetTest, file_kind_comes_from_the_content_when_the_name_does_not_say) {
  write_npy_file("x.npy", {3.0f});
  fs::rename(path("x.npy"), path("x.bin"));
  write_safetensors("y.bin", {"t"});
  EXPECT_EQ(open({path("x.bin"), path("y.bin")}), (std::vector<std::string>{"x.bin|", "y.bin|t"}));
  // Directories only yield the two known extensions.
  EXPECT_TRUE(open({root_.string()}).empty());
}

TEST_F(DatasetTest, symlinked_directories_are_not_followed) {
  write_safetensors("real/a.safetensors", {"t"});
  fs::create_directory_symlink(root_ / "real", root_ / "real/loop");
  EXPECT_EQ(open({path("real")}), (std::vector<std::string>{"real/a.safetensors|t"}));
}

TEST_F(DatasetTest, special_files_are_errors) {
  EXPECT_EQ(open({"/dev/null"}), (std::vector<std::string>{"!/dev/null: not a regular file or directory"}));
}

TEST_F(DatasetTest, expand_paths_and_for_each_entry_agree_with_open_dataset) {
  write_safetensors("d/a.safetensors", {"p", "q"});
  write_npy_file("d/b.npy", {1.0f});
  const std::vector<std::string> args{path("d"), path("missing")};
  std::vector<ReadError> errors;
  const std::vector<std::string> files = expand_paths(args, errors);
  EXPECT_EQ(files, (std::vector<std::string>{path("d/a.safetensors"), path("d/b.npy")}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].file, path("missing"));
  EXPECT_EQ(errors[0].tensor, "");
  std::vector<DatasetEntry> streamed;
  for_each_entry(args, [&](DatasetEntry&& e) { streamed.push_back(std::move(e)); });
  EXPECT_EQ(describe(streamed), open(args));
  EXPECT_EQ(describe(streamed).size(), 4u);
}

}  // namespace
}  // namespace fpscope

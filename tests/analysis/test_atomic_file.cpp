// tests/analysis/test_atomic_file.cpp: AtomicFile writes all or nothing and never leaves its temp file.
#include "analysis/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "tests/temp_dir_test.h"

namespace fs = std::filesystem;

namespace {

class AtomicFileTest : public fpscope::test::TempDirTest {
 protected:
  // Every entry of the directory, so a test can see that no temp file is left.
  std::size_t entry_count() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

};

TEST_F(AtomicFileTest, commit_makes_the_file_visible) {
  const std::string path = (dir_ / "out.txt").string();
  {
    fpscope::AtomicFile out(path);
    out.write("hello ");
    std::fputs("world", out.file());
    EXPECT_FALSE(fs::exists(path));  // not visible before commit
    EXPECT_TRUE(fs::exists(out.temp_path()));
    EXPECT_EQ(fs::path(out.temp_path()).parent_path(), dir_);  // same directory: rename is atomic
    out.commit();
    EXPECT_TRUE(out.committed());
  }
  EXPECT_EQ(slurp(path), "hello world");
  EXPECT_EQ(entry_count(), 1u);
}

TEST_F(AtomicFileTest, destructor_without_commit_removes_the_temp_file_and_keeps_the_old_file) {
  const std::string path = (dir_ / "out.txt").string();
  fpscope::write_file_atomically(path, "old");
  try {
    fpscope::AtomicFile out(path);
    out.write("new, half written");
    throw std::runtime_error("writer failed");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(slurp(path), "old");
  EXPECT_EQ(entry_count(), 1u);
}

TEST_F(AtomicFileTest, no_file_at_all_when_never_committed) {
  const std::string path = (dir_ / "never.bin").string();
  { fpscope::AtomicFile out(path); out.write("x"); }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(entry_count(), 0u);
}

TEST_F(AtomicFileTest, commit_replaces_an_existing_file) {
  const std::string path = (dir_ / "out.txt").string();
  fpscope::write_file_atomically(path, "first");
  fpscope::write_file_atomically(path, "second, longer");
  EXPECT_EQ(slurp(path), "second, longer");
  EXPECT_EQ(entry_count(), 1u);
}

TEST_F(AtomicFileTest, write_after_commit_throws) {
  fpscope::AtomicFile out((dir_ / "a").string());
  out.commit();
  EXPECT_THROW(out.write("late"), fpscope::Error);
  EXPECT_THROW(out.commit(), fpscope::Error);
}

TEST_F(AtomicFileTest, missing_directory_names_the_path) {
  const std::string path = (dir_ / "no_such_dir" / "out.txt").string();
  try {
    fpscope::AtomicFile out(path);
    FAIL() << "expected an error";
  } catch (const fpscope::Error& e) {
    EXPECT_EQ(std::string(e.what()), path + ": cannot create the output file: No such file or directory");
  }
}

TEST_F(AtomicFileTest, rename_onto_a_directory_fails_cleanly) {
  const fs::path target = dir_ / "is_a_dir";
  fs::create_directories(target / "child");  // non-empty: rename(2) cannot replace it
  try {
    fpscope::AtomicFile out(target.string());
    out.write("x");
    out.commit();
    FAIL() << "expected an error";
  } catch (const fpscope::Error& e) {
    EXPECT_TRUE(std::string(e.what()).starts_with(target.string() + ": cannot replace the output file: "))
        << e.what();
  }
  EXPECT_EQ(entry_count(), 1u);  // the directory only; the temp file is gone
}

TEST_F(AtomicFileTest, empty_name_and_directory_names_are_refused) {
  EXPECT_THROW(fpscope::AtomicFile(""), fpscope::Error);
  EXPECT_THROW(fpscope::AtomicFile((dir_.string() + "/")), fpscope::Error);
}

}  // namespace

// analysis/dataset.cpp: expanding PATH... arguments (files, directories, globs) and opening each file's tensors.
#include "analysis/dataset.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "analysis/metadata.h"
#include "analysis/npy.h"
#include "analysis/safetensors.h"
#include "core/error.h"

namespace fpscope {
namespace fs = std::filesystem;

DatasetEntry DatasetEntry::from_reader(std::unique_ptr<TensorReader> r) {
  DatasetEntry e;
  e.reader = std::move(r);
  return e;
}

DatasetEntry DatasetEntry::from_error(std::string file, std::string tensor, std::string message) {
  DatasetEntry e;
  e.error = std::make_unique<ReadError>(ReadError{std::move(file), std::move(tensor), std::move(message)});
  return e;
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

bool is_tensor_file_name(std::string_view name) {
  return ends_with(name, ".safetensors") || ends_with(name, ".npy");
}

bool has_glob_chars(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

// A .npy reader whose metadata is completed the way safetensors tensors are
// (role and layer from the file name, step from the path).
class DescribedReader final : public TensorReader {
 public:
  explicit DescribedReader(std::unique_ptr<TensorReader> inner) : inner_(std::move(inner)), info_(inner_->info()) {
    describe_tensor(info_, {});
  }
  const TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override { inner_->read(first, out); }
  void read(std::uint64_t first, std::span<float> out) override { inner_->read(first, out); }

 private:
  std::unique_ptr<TensorReader> inner_;
  TensorInfo info_;
};

// The first bytes of a file say what it is when its name does not.
bool starts_like_npy(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  std::array<char, 6> magic{};
  const ::ssize_t n = ::pread(fd, magic.data(), magic.size(), 0);
  ::close(fd);
  return n == 6 && std::memcmp(magic.data(), "\x93NUMPY", 6) == 0;
}

std::string with_file(const std::string& path, const char* what) {
  const std::string_view message = what;
  if (message.starts_with(path + ":")) return std::string(message);
  return fmt::format("{}: {}", path, message);
}

// Adds the regular files below `dir` with a tensor extension; symbolic links to
// directories are not followed (no cycles). Every directory that cannot be listed is an error.
void walk(const fs::path& dir, std::vector<std::string>& files, std::vector<ReadError>& errors) {
  std::vector<fs::path> pending{dir};
  std::vector<std::string> found;
  while (!pending.empty()) {
    const fs::path current = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    fs::directory_iterator it(current, ec);
    if (ec) {
      errors.push_back({current.string(), "", fmt::format("{}: cannot list directory: {}", current.string(), ec.message())});
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const fs::directory_entry& entry = *it;
      std::error_code type_ec;
      if (entry.is_directory(type_ec) && !entry.is_symlink(type_ec)) {
        pending.push_back(entry.path());
      } else if (is_tensor_file_name(entry.path().filename().string()) && entry.is_regular_file(type_ec)) {
        found.push_back(entry.path().string());
      }
    }
    if (ec) {
      errors.push_back({current.string(), "", fmt::format("{}: cannot list directory: {}", current.string(), ec.message())});
    }
  }
  std::sort(found.begin(), found.end());
  files.insert(files.end(), found.begin(), found.end());
}

// The files one argument names (see expand_paths), in order, before de-duplication.
void expand_one(const std::string& arg, std::vector<std::string>& files, std::vector<ReadError>& errors) {
  auto add = [&](const std::string& path, bool from_pattern) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (fs::is_directory(status)) {
      walk(path, files, errors);
    } else if (fs::is_regular_file(status)) {
      files.push_back(path);
    } else if (fs::exists(status)) {
      errors.push_back({path, "", fmt::format("{}: not a regular file or directory", path)});
    } else if (!from_pattern) {
      const bool missing = status.type() == fs::file_type::not_found || !ec;
      errors.push_back({path, "", fmt::format("{}: {}", path, missing ? "no such file or directory" : ec.message())});
    }
  };
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(arg, ec));
  if (exists || !has_glob_chars(arg)) {
    add(arg, false);
    return;
  }
  glob_t matches{};
  const int rc = ::glob(arg.c_str(), GLOB_ERR, nullptr, &matches);
  std::vector<std::string> paths;
  if (rc == 0) {
    for (std::size_t i = 0; i < matches.gl_pathc; ++i) paths.emplace_back(matches.gl_pathv[i]);
  }
  ::globfree(&matches);
  if (rc == GLOB_NOMATCH) {
    errors.push_back({arg, "", fmt::format("{}: no file matches this pattern", arg)});
    return;
  }
  if (rc != 0) {
    errors.push_back({arg, "", fmt::format("{}: cannot expand the pattern ({})", arg,
                                           rc == GLOB_NOSPACE ? "out of memory" : "read error")});
    return;
  }
  std::sort(paths.begin(), paths.end());  // bytewise, whatever the locale's collation
  for (const std::string& path : paths) add(path, true);
}

// The identity of a file for de-duplication: its canonical path when it has one.
std::string identity(const std::string& path) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(path, ec);
  return ec ? path : canonical.string();
}

}  // namespace

std::vector<std::string> expand_paths(std::span<const std::string> paths, std::vector<ReadError>& errors) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const std::string& arg : paths) {
    std::vector<std::string> found;
    expand_one(arg, found, errors);
    for (std::string& file : found) {
      if (seen.insert(identity(file)).second) files.push_back(std::move(file));
    }
  }
  return files;
}

std::vector<DatasetEntry> open_file(const std::string& path) {
  std::vector<DatasetEntry> entries;
  const bool npy = ends_with(path, ".npy") || (!ends_with(path, ".safetensors") && starts_like_npy(path));
  if (!npy) return open_safetensors(path);
  try {
    entries.push_back(DatasetEntry::from_reader(std::make_unique<DescribedReader>(open_npy(path))));
  } catch (const std::exception& e) {
    // Error is the expected case; anything else (std::bad_alloc on a hostile
    // header) must not end the run either.
    entries.push_back(DatasetEntry::from_error(path, "", with_file(path, e.what())));
  }
  return entries;
}

void for_each_entry(std::span<const std::string> paths, const std::function<void(DatasetEntry&&)>& visit) {
  std::set<std::string> seen;
  for (const std::string& arg : paths) {
    std::vector<std::string> files;
    std::vector<ReadError> errors;
    expand_one(arg, files, errors);
    for (ReadError& e : errors) {
      visit(DatasetEntry::from_error(std::move(e.file), std::move(e.tensor), std::move(e.message)));
    }
    for (const std::string& file : files) {
      if (!seen.insert(identity(file)).second) continue;
      for (DatasetEntry& entry : open_file(file)) visit(std::move(entry));
    }
  }
}

std::vector<DatasetEntry> open_dataset(std::span<const std::string> paths) {
  std::vector<DatasetEntry> entries;
  for_each_entry(paths, [&](DatasetEntry&& e) { entries.push_back(std::move(e)); });
  return entries;
}

}  // namespace fpscope

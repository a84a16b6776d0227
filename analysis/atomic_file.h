// analysis/atomic_file.h: write a file atomically: a temp file beside it, renamed over it on commit.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

namespace fpscope {

// Writes `path` all or nothing. The data goes to a temporary file in the same
// directory (so rename(2) stays within one file system and is atomic, POSIX
// rename()); commit() flushes, fsyncs and renames it over `path`. If the object
// is destroyed without commit() (an exception, an early return), the temporary
// file is removed and `path` is untouched: readers never see a half-written file.
//
//   AtomicFile out("result.json");
//   out.write(text);
//   out.commit();
//
// Errors (directory not writable, disk full) throw fpscope::Error naming `path`.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  // The open stream, for code that prints with fmt::print(file(), ...) or fwrite.
  // Write errors are caught at commit() (ferror / fflush / fclose).
  std::FILE* file() { return file_; }

  // Makes the file visible under its final name. Call once; later writes throw.
  void commit();
  // Removes the temporary file now (the destructor does this if not committed).
  void discard() noexcept;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

// Writes `contents` to `path` atomically (AtomicFile in one call).
void write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace fpscope

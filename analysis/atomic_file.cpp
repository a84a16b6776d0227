// analysis/atomic_file.cpp: AtomicFile: temp file in the target's directory, fsync, rename(2).
#include "analysis/atomic_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

namespace fpscope {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw Error("output file name is empty");
  // The temp file lives beside the target so the final rename(2) stays in one
  // file system (POSIX: rename is atomic within a file system). A leading '.'
  // keeps it out of globs while it exists.
  const std::size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path_.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  if (base.empty()) throw Error(path_ + ": output path names a directory, not a file");
  std::string pattern = dir + "." + base + ".tmp.XXXXXX";
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) {
    const int err = errno;
    throw Error(path_ + ": cannot create the output file: " + errno_text(err));
  }
  temp_path_ = pattern;
  // mkstemp creates mode 0600; give the file the mode a plain fopen would (0666 & ~umask).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, static_cast<mode_t>(0666 & ~mask));
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw Error(path_ + ": cannot open the output file: " + errno_text(err));
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::write(const void* data, std::size_t size) {
  if (file_ == nullptr) throw Error(path_ + ": write after the file was committed or discarded");
  if (size != 0 && std::fwrite(data, 1, size, file_) != size) {
    const int err = errno;
    throw Error(path_ + ": write failed: " + errno_text(err));
  }
}

void AtomicFile::commit() {
  if (file_ == nullptr) throw Error(path_ + ": commit after the file was committed or discarded");
  std::FILE* f = file_;
  file_ = nullptr;
  bool ok = std::fflush(f) == 0 && std::ferror(f) == 0;
  int err = errno;
  // fsync before rename: otherwise a crash can leave the new name pointing at
  // an empty file on some file systems (ext4 data=writeback, XFS).
  if (ok && ::fsync(::fileno(f)) != 0) {
    ok = false;
    err = errno;
  }
  if (std::fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(temp_path_.c_str());
    throw Error(path_ + ": write failed: " + errno_text(err));
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    err = errno;
    ::unlink(temp_path_.c_str());
    throw Error(path_ + ": cannot replace the output file: " + errno_text(err));
  }
  committed_ = true;
}

void AtomicFile::discard() noexcept {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  if (!committed_ && !temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  AtomicFile out(path);
  out.write(contents);
  out.commit();
}

}  // namespace fpscope

// analysis/dataset.h: PATH... arguments (files, directories, globs) opened as tensor readers, with per-tensor read errors.
//
// A bad file or tensor never stops the run: it becomes an error entry and the
// other tensors are still yielded. The order is deterministic: arguments in the
// order given; inside a directory or glob, files sorted by path (bytewise);
// inside a safetensors file, tensors sorted by name (bytewise).
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analysis/tensor.h"

namespace fpscope {

// A problem with one path, file or tensor.
struct ReadError {
  std::string file;     // the file (or the argument, when nothing matched it)
  std::string tensor;   // the tensor's name; "" when the whole file or argument failed
  std::string message;  // one line, naming file and tensor:
                        // "<file>: tensor '<name>': data_offsets [a, b) exceed the 1234-byte data section"
};

// One tensor to analyse, or one thing that could not be read: exactly one of
// `reader` and `error` is set.
//
// Readers are yielded for every tensor whose header entry is valid, including
// integer and bool tensors (is_float(info().dtype) is false: count them, do not
// analyse them; the safetensors reader's read() refuses them) and zero-element
// tensors (element_count() == 0: report them as empty). A reader's read() may still throw fpscope::Error
// if the file changes or shrinks after it was opened.
//
// A tensor whose per-tensor metadata is malformed is yielded as a reader (role
// and layer then inferred from its name) and also as an error entry naming the
// tensor, so the problem is reported and the run's exit code says so.
struct DatasetEntry {
  std::unique_ptr<TensorReader> reader;
  std::unique_ptr<ReadError> error;

  bool ok() const { return reader != nullptr; }
  static DatasetEntry from_reader(std::unique_ptr<TensorReader> r);
  static DatasetEntry from_error(std::string file, std::string tensor, std::string message);
};

// The files the arguments name, in the deterministic order above, without
// duplicates (a file reached twice is yielded once, at its first place):
//   - an existing regular file: itself, whatever its extension (the kind is
//     taken from the extension, else from the first bytes);
//   - a directory: every *.safetensors and *.npy file below it, recursively
//     (symbolic links to directories are not followed);
//   - a path that does not exist but contains *, ? or [: glob(3) expansion, each
//     match treated as above;
//   - anything else (missing path, glob without matches, unreadable directory,
//     a device or socket): an error appended to `errors`.
std::vector<std::string> expand_paths(std::span<const std::string> paths, std::vector<ReadError>& errors);

// The entries of one file: .npy (one tensor) or safetensors (any number). A file
// that cannot be opened or whose header is bad gives one error entry (tensor "").
std::vector<DatasetEntry> open_file(const std::string& path);

// Every entry of every file the arguments name, argument by argument: an
// argument that names nothing gives its error entry at its own place.
std::vector<DatasetEntry> open_dataset(std::span<const std::string> paths);

// The same, streaming: calls `visit` once per entry, in the same order, opening
// one file at a time (for dumps with more files than open descriptors allow).
void for_each_entry(std::span<const std::string> paths, const std::function<void(DatasetEntry&&)>& visit);

}  // namespace fpscope

// analysis/safetensors.h: safetensors files: header validation with per-tensor errors, and a chunked TensorReader.
//
// Format (https://github.com/huggingface/safetensors, "Format"): 8 bytes N
// (little-endian u64), N bytes of UTF-8 JSON {"<name>": {"dtype": "F32",
// "shape": [2, 3], "data_offsets": [begin, end]}, ..., "__metadata__": {str:
// str}}, then the data section; offsets are relative to its start. Data is read
// with pread(2) in bounded chunks, never a whole tensor at once, so a file larger
// than memory is read with bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/dataset.h"
#include "analysis/tensor.h"

namespace fpscope {

// Headers longer than this are refused before anything is allocated (the
// safetensors reference implementation uses the same bound, MAX_HEADER_SIZE).
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// Where a file's bytes come from: a file read with pread(2), or memory (tests, fuzzing).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual const std::string& path() const = 0;
  virtual std::uint64_t size() const = 0;
  // Copies bytes [offset, offset + out.size()). Throws fpscope::Error naming the
  // file if they cannot be read (an I/O error, or the file shrank since it was opened).
  virtual void read_at(std::uint64_t offset, std::span<std::byte> out) const = 0;
};

// A regular file. It is opened here to check it and take its size; reads reopen
// it on demand through a small process-wide cache of descriptors, so any number
// of files can hold readers at once. Throws fpscope::Error naming the file if it
// cannot be opened or is not a regular file.
std::shared_ptr<const ByteSource> file_source(const std::string& path);
std::shared_ptr<const ByteSource> memory_source(std::string path, std::vector<std::byte> bytes);

// One tensor's validated header entry.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // data_offsets, relative to the data section
  std::uint64_t end = 0;
};

// A validated header. A problem with one tensor's entry is one error naming the
// tensor and leaves the others usable; a problem with the whole header throws.
struct SafetensorsHeader {
  std::string path;
  std::uint64_t data_start = 0;  // 8 + header length
  std::uint64_t data_bytes = 0;  // bytes after the header
  std::map<std::string, std::string> metadata;  // __metadata__ (string values only)
  std::vector<SafetensorsTensor> tensors;       // valid entries, sorted by name
  std::vector<ReadError> errors;                // bad entries and metadata, sorted by tensor name
};

// Validates the JSON text of a header against a data section of `data_bytes`
// bytes. Throws fpscope::Error "<path>: ..." when the text is not JSON or not an
// object; each bad entry (not an object, missing or ill-typed dtype, shape or
// data_offsets, unknown dtype, negative or overflowing shape, offsets outside
// the data section, not matching shape x dtype size, overlapping another
// tensor's, a name given twice) is one error in `errors`.
SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_bytes,
                                           const std::string& path);

// Reads and validates the 8-byte length and the header. Throws fpscope::Error
// for a file too short, a header length beyond kSafetensorsMaxHeaderBytes or the
// file, or a header parse_safetensors_header refuses.
SafetensorsHeader read_safetensors_header(const ByteSource& source);

// The entries of a file in name order: a reader per valid tensor, an error per
// bad one (file-level metadata problems first). Never throws for bad content: a
// bad header is one error entry with an empty tensor name.
std::vector<DatasetEntry> open_safetensors(std::shared_ptr<const ByteSource> source);
std::vector<DatasetEntry> open_safetensors(const std::string& path);

// The exact value of every encoding of a 16- or 8-bit float dtype, decoded with
// core/round.h decode() (NaN as the canonical quiet NaN). Built once, on first use.
std::span<const double> decode_table(DType dtype);

// Converts `count` little-endian elements of `dtype` from `bytes` exactly to
// double / float. Float dtypes only; the float form refuses F64 (it does not fit).
void convert_elements(DType dtype, std::span<const std::byte> bytes, std::span<double> out);
void convert_elements(DType dtype, std::span<const std::byte> bytes, std::span<float> out);

}  // namespace fpscope

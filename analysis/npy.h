// analysis/npy.h: NumPy .npy files: header parsing with validation, a streaming TensorReader, writing.
//
// Format: NEP 1 / numpy.lib.format: the magic "\x93NUMPY", a version (1.0: 2-byte
// little-endian header length; 2.0 and 3.0: 4-byte), then a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces
// and ending in '\n', then the raw data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/tensor.h"

namespace fpscope {

class AtomicFile;

// Headers longer than this are refused before anything is allocated (numpy's own
// np.load refuses more than 10000 bytes by default, max_header_size).
inline constexpr std::uint64_t kNpyMaxHeaderBytes = 1 << 16;

struct NpyHeader {
  std::string path;                  // the file, for error messages
  int major_version = 1;             // 1, 2 or 3
  std::string descr;                 // as written, e.g. "<f4"
  DType dtype = DType::f32;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;   // () is a scalar: one element
  std::uint64_t data_offset = 0;     // bytes before the data (magic + length + dict)
  std::uint64_t element_count = 0;
  std::uint64_t data_bytes = 0;      // element_count * dtype_size(dtype)
};

struct NpyReadOptions {
  // Fortran-order arrays are refused unless this is set (the data is then the
  // transpose's C order; callers that only count or summarise elements may not care).
  bool allow_fortran_order = false;
};

// Parses and validates a header from the first bytes of a file. `prefix` holds
// the start of the file (at least the whole header, or the whole file if it is
// shorter); `file_size` is the file's total size, checked against the data size.
// Every problem throws fpscope::Error "<path>: <what is wrong>": bad magic,
// unknown version, header length beyond kNpyMaxHeaderBytes or the file, a dict
// that is not the three keys, unsupported dtype (big-endian, object, structured,
// void), negative or overflowing shape, Fortran order, truncated or trailing data.
NpyHeader parse_npy_header(std::span<const unsigned char> prefix, std::uint64_t file_size,
                           const std::string& path, const NpyReadOptions& options = {});

// Opens `path`, reads only the header, and validates it (parse_npy_header).
NpyHeader read_npy_header(const std::string& path, const NpyReadOptions& options = {});

// A .npy file as a TensorReader. Reads with pread(2) in bounded chunks, so memory
// does not grow with the file. read() converts exactly to double; the float
// overload throws fpscope::Error for dtypes float cannot hold exactly
// (f64, i32, i64, u32, u64). Reads hold no shared state (pread on one descriptor,
// a buffer per call), so several threads may read one NpyReader at once.
class NpyReader : public TensorReader {
 public:
  explicit NpyReader(const std::string& path, const NpyReadOptions& options = {});
  ~NpyReader() override;
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;

  const TensorInfo& info() const override { return info_; }
  const NpyHeader& header() const { return header_; }
  void read(std::uint64_t first, std::span<double> out) override;
  void read(std::uint64_t first, std::span<float> out) override;
  // The raw little-endian bytes of elements [first, first + count) into out
  // (out.size() == count * dtype_size).
  void read_raw(std::uint64_t first, std::span<std::byte> out);

 private:
  NpyHeader header_;
  TensorInfo info_;
  int fd_ = -1;
};

// open_npy(path) for code that holds readers by the interface (analysis/dataset.h).
std::unique_ptr<TensorReader> open_npy(const std::string& path, const NpyReadOptions& options = {});

// The NumPy descr of a dtype ("<f4", "|u1", ...). Throws fpscope::Error for dtypes
// NumPy has no standard descr for (bf16, float8).
std::string npy_descr(DType dtype);

// The bytes before the data of a version 1.0 .npy file in C order: magic, version,
// header length and the dict, padded with spaces and '\n' to a multiple of 64 bytes.
std::string npy_header_bytes(DType dtype, std::span<const std::int64_t> shape);

// Writes a whole array atomically. `data` holds element_count(shape) elements of
// `dtype` in C order and native (little-endian) byte order.
void write_npy(const std::string& path, DType dtype, std::span<const std::int64_t> shape,
               std::span<const std::byte> data);

}  // namespace fpscope

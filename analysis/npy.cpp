// analysis/npy.cpp: .npy header parser (NEP 1, numpy.lib.format), the streaming reader and the writer.
#include "analysis/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/atomic_file.h"
#include "core/error.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

// .npy data is read and written in the host's byte order; only '<' files are accepted.
static_assert(std::endian::native == std::endian::little, "fpscope's .npy I/O assumes a little-endian host");

namespace {

constexpr unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kChunkBytes = std::size_t{1} << 16;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what);
}

// A piece of the header for an error message: printable ASCII only, so the
// message stays on one line whatever the file holds.
std::string excerpt(std::string_view s, std::size_t max_chars = 40) {
  std::string out;
  for (const char c : s.substr(0, max_chars)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7F) ? c : '?';
  }
  if (s.size() > max_chars) out += "...";
  return out;
}

std::string shape_text(std::span<const std::int64_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

struct DescrEntry {
  std::string_view code;  // type character and size, without the byte-order mark
  DType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"f8", DType::f64}, {"f4", DType::f32}, {"f2", DType::f16}, {"i8", DType::i64},
    {"i4", DType::i32}, {"i2", DType::i16}, {"i1", DType::i8},  {"u8", DType::u64},
    {"u4", DType::u32}, {"u2", DType::u16}, {"u1", DType::u8},  {"b1", DType::boolean},
};

std::string supported_descrs() {
  std::string s;
  for (const DescrEntry& e : kDescrs) {
    if (!s.empty()) s += ' ';
    s += (e.code.back() == '1' ? "|" : "<") + std::string(e.code);
  }
  return s;
}

// numpy descr strings: byte order ('<' little, '>' big, '|' not applicable,
// '=' native), kind character, item size (numpy.dtype.str).
DType dtype_from_descr(const std::string& descr, const std::string& path) {
  const std::string shown = "'" + excerpt(descr) + "'";
  if (descr.size() < 2) fail(path, "unsupported dtype " + shown + "; supported: " + supported_descrs());
  const char order = descr[0];
  const std::string_view code = std::string_view(descr).substr(1);
  if (code.starts_with("O")) fail(path, "dtype " + shown + " holds Python objects, which are not supported");
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    fail(path, "unsupported dtype " + shown + "; supported: " + supported_descrs());
  }
  for (const DescrEntry& e : kDescrs) {
    if (code != e.code) continue;
    const bool one_byte = e.code.back() == '1';
    if (order == '>' && !one_byte) {
      fail(path, "dtype " + shown + " is big-endian; only little-endian data is supported (use arr.astype('<" +
                     std::string(e.code) + "'))");
    }
    if (order == '|' && !one_byte) fail(path, "dtype " + shown + " has no byte order; expected '<" + std::string(e.code) + "'");
    return e.dtype;
  }
  fail(path, "unsupported dtype " + shown + "; supported: " + supported_descrs());
}

// A recursive-descent reader of the header's Python dict literal. numpy writes
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }; we accept any
// whitespace, either quote, a trailing comma and Python 2's "3L" integers.
class DictParser {
 public:
  DictParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(NpyHeader& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string("key");
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (have_descr) error("the key 'descr' appears twice");
        have_descr = true;
        if (peek() == '[') fail(path_, "structured dtypes (a list descr) are not supported");
        h.descr = parse_string("'descr'");
      } else if (key == "fortran_order") {
        if (have_order) error("the key 'fortran_order' appears twice");
        have_order = true;
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        if (have_shape) error("the key 'shape' appears twice");
        have_shape = true;
        h.shape = parse_shape();
      } else {
        error("unexpected key '" + excerpt(key) + "' (expected descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') error("expected ',' or '}' at byte " + std::to_string(pos_));
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) error("unexpected text after the dictionary: '" + excerpt(s_.substr(pos_)) + "'");
    if (!have_descr) error("the key 'descr' is missing");
    if (!have_order) error("the key 'fortran_order' is missing");
    if (!have_shape) error("the key 'shape' is missing");
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail(path_, "malformed .npy header: " + what); }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  void expect(char c) {
    if (peek() != c || pos_ >= s_.size()) {
      error(std::string("expected '") + c + "' at byte " + std::to_string(pos_));
    }
    ++pos_;
  }

  std::string parse_string(const std::string& what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') error("expected a quoted string for " + what + " at byte " + std::to_string(pos_));
    const std::size_t end = s_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) error("unterminated string at byte " + std::to_string(pos_));
    std::string out(s_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return out;
  }

  bool parse_bool() {
    if (s_.substr(pos_).starts_with("True")) {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_).starts_with("False")) {
      pos_ += 5;
      return false;
    }
    error("'fortran_order' must be True or False");
  }

  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> shape;
    expect('(');
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (peek() == '-') fail(path_, "negative dimension in shape '" + excerpt(s_.substr(pos_)) + "'");
      if (peek() < '0' || peek() > '9') error("expected a dimension in 'shape' at byte " + std::to_string(pos_));
      std::uint64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        const auto digit = static_cast<std::uint64_t>(peek() - '0');
        if (value > (static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) - digit) / 10) {
          fail(path_, "dimension in shape is too large");
        }
        value = value * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literal
      if (shape.size() >= 64) fail(path_, "shape has more than 64 dimensions");
      shape.push_back(static_cast<std::int64_t>(value));
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') error("expected ',' or ')' in 'shape' at byte " + std::to_string(pos_));
    }
    ++pos_;
    return shape;
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

std::uint64_t read_le(std::span<const unsigned char> bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) v = (v << 8) | bytes[i];
  return v;
}

// pread until `out` is full or the file ends; returns the bytes read.
std::size_t pread_full(int fd, void* out, std::size_t size, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  auto* bytes = static_cast<unsigned char*>(out);
  while (done < size) {
    const ssize_t n = ::pread(fd, bytes + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

int open_regular_file(const std::string& path, std::uint64_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(path, std::string("cannot stat: ") + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, S_ISDIR(st.st_mode) ? "is a directory, not a .npy file" : "is not a regular file");
  }
  size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

// Reads the header of an open file into a NpyHeader.
NpyHeader read_header_fd(int fd, std::uint64_t file_size, const std::string& path, const NpyReadOptions& options) {
  // Enough for the longest header we accept; parse_npy_header checks the rest.
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, 12 + kNpyMaxHeaderBytes));
  std::vector<unsigned char> prefix(want);
  prefix.resize(pread_full(fd, prefix.data(), want, 0, path));
  return parse_npy_header(prefix, file_size, path, options);
}

// Element conversions to double: exact for every float dtype (each format's
// values are a subset of binary64), decode() for the narrow ones.
template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

constexpr Format kFp16{.exp_bits = 5, .man_bits = 10, .bias = 15};
constexpr Format kBf16{.exp_bits = 8, .man_bits = 7, .bias = 127};
constexpr Format kE4m3{.exp_bits = 4, .man_bits = 3, .bias = 7, .specials = Specials::fn, .overflow = Overflow::nan};
constexpr Format kE5m2{.exp_bits = 5, .man_bits = 2, .bias = 15};

double element_to_double(DType t, const std::byte* p) {
  switch (t) {
    case DType::f64: return load<double>(p);
    case DType::f32: return static_cast<double>(load<float>(p));
    case DType::f16: return decode(load<std::uint16_t>(p), kFp16);
    case DType::bf16: return decode(load<std::uint16_t>(p), kBf16);
    case DType::f8_e4m3: return decode(load<std::uint8_t>(p), kE4m3);
    case DType::f8_e5m2: return decode(load<std::uint8_t>(p), kE5m2);
    case DType::i64: return static_cast<double>(load<std::int64_t>(p));
    case DType::i32: return static_cast<double>(load<std::int32_t>(p));
    case DType::i16: return static_cast<double>(load<std::int16_t>(p));
    case DType::i8: return static_cast<double>(load<std::int8_t>(p));
    case DType::u64: return static_cast<double>(load<std::uint64_t>(p));
    case DType::u32: return static_cast<double>(load<std::uint32_t>(p));
    case DType::u16: return static_cast<double>(load<std::uint16_t>(p));
    case DType::u8: return static_cast<double>(load<std::uint8_t>(p));
    case DType::boolean: return load<std::uint8_t>(p) != 0 ? 1.0 : 0.0;
  }
  return 0.0;
}

bool fits_float_exactly(DType t) {
  return t != DType::f64 && t != DType::i64 && t != DType::i32 && t != DType::u64 && t != DType::u32;
}

}  // namespace

NpyHeader parse_npy_header(std::span<const unsigned char> prefix, std::uint64_t file_size,
                           const std::string& path, const NpyReadOptions& options) {
  NpyHeader h;
  h.path = path;
  if (prefix.size() < 8 || !std::equal(std::begin(kMagic), std::end(kMagic), prefix.begin())) {
    fail(path, "not a .npy file (the file does not start with \\x93NUMPY)");
  }
  h.major_version = prefix[6];
  const int minor = prefix[7];
  if ((h.major_version != 1 && h.major_version != 2 && h.major_version != 3) || minor != 0) {
    fail(path, "unsupported .npy format version " + std::to_string(h.major_version) + "." + std::to_string(minor) +
                   " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_bytes = h.major_version == 1 ? 2 : 4;
  if (prefix.size() < 8 + length_bytes) fail(path, "truncated .npy header (the file ends inside the preamble)");
  const std::uint64_t header_len = read_le(prefix.subspan(8, length_bytes));
  if (header_len > kNpyMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_len) + " bytes exceeds the limit of " +
                   std::to_string(kNpyMaxHeaderBytes));
  }
  h.data_offset = 8 + length_bytes + header_len;
  if (h.data_offset > file_size || h.data_offset > prefix.size()) {
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  }
  const std::string_view dict(reinterpret_cast<const char*>(prefix.data()) + 8 + length_bytes,
                              static_cast<std::size_t>(header_len));
  DictParser(dict, path).parse(h);
  h.dtype = dtype_from_descr(h.descr, path);
  if (h.fortran_order && !options.allow_fortran_order) {
    fail(path, "Fortran-order arrays are not supported (save np.ascontiguousarray(a) instead)");
  }
  const std::uint64_t item = dtype_size(h.dtype);
  // Element count and byte size, refusing anything that overflows 64 bits.
  std::uint64_t count = 1;
  for (const std::int64_t d : h.shape) {
    const auto du = static_cast<std::uint64_t>(d);
    if (du != 0 && count > std::numeric_limits<std::uint64_t>::max() / item / du) {
      fail(path, "shape " + shape_text(h.shape) + " is too large (its byte size overflows 64 bits)");
    }
    count *= du;
  }
  h.element_count = count;
  h.data_bytes = count * item;
  const std::uint64_t available = file_size - h.data_offset;
  if (available < h.data_bytes) {
    fail(path, "truncated data: shape " + shape_text(h.shape) + " of " + h.descr + " needs " +
                   std::to_string(h.data_bytes) + " bytes after the header, the file has " + std::to_string(available));
  }
  if (available > h.data_bytes) {
    fail(path, std::to_string(available - h.data_bytes) + " unexpected bytes after the data (shape " +
                   shape_text(h.shape) + " of " + h.descr + " needs " + std::to_string(h.data_bytes) + ")");
  }
  return h;
}

NpyHeader read_npy_header(const std::string& path, const NpyReadOptions& options) {
  std::uint64_t size = 0;
  const int fd = open_regular_file(path, size);
  try {
    NpyHeader h = read_header_fd(fd, size, path, options);
    ::close(fd);
    return h;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

NpyReader::NpyReader(const std::string& path, const NpyReadOptions& options) {
  std::uint64_t size = 0;
  fd_ = open_regular_file(path, size);
  try {
    header_ = read_header_fd(fd_, size, path, options);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
  info_.file = path;
  info_.shape = header_.shape;
  info_.dtype = header_.dtype;
}

NpyReader::~NpyReader() {
  if (fd_ >= 0) ::close(fd_);
}

void NpyReader::read_raw(std::uint64_t first, std::span<std::byte> out) {
  const std::uint64_t item = dtype_size(header_.dtype);
  const std::uint64_t count = out.size() / item;
  if (out.size() % item != 0 || first > header_.element_count || count > header_.element_count - first) {
    fail(header_.path, "read of elements [" + std::to_string(first) + ", " + std::to_string(first + count) +
                           ") is outside the array's " + std::to_string(header_.element_count) + " elements");
  }
  const std::size_t got = pread_full(fd_, out.data(), out.size(), header_.data_offset + first * item, header_.path);
  if (got != out.size()) fail(header_.path, "unexpected end of file while reading data (was the file truncated?)");
}

void NpyReader::read(std::uint64_t first, std::span<double> out) {
  const std::size_t item = dtype_size(header_.dtype);
  const std::size_t per_chunk = kChunkBytes / item;
  std::vector<std::byte> buffer(std::min(out.size(), per_chunk) * item);
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t n = std::min(per_chunk, out.size() - done);
    read_raw(first + done, std::span(buffer).first(n * item));
    if (header_.dtype == DType::f64) {
      std::memcpy(out.data() + done, buffer.data(), n * item);
    } else {
      for (std::size_t i = 0; i < n; ++i) out[done + i] = element_to_double(header_.dtype, buffer.data() + i * item);
    }
    done += n;
  }
}

void NpyReader::read(std::uint64_t first, std::span<float> out) {
  if (!fits_float_exactly(header_.dtype)) {
    fail(header_.path, std::string("dtype ") + header_.descr + " cannot be read as float32 exactly");
  }
  const std::size_t item = dtype_size(header_.dtype);
  const std::size_t per_chunk = kChunkBytes / item;
  std::vector<std::byte> buffer(std::min(out.size(), per_chunk) * item);
  for (std::size_t done = 0; done < out.size();) {
    const std::size_t n = std::min(per_chunk, out.size() - done);
    read_raw(first + done, std::span(buffer).first(n * item));
    if (header_.dtype == DType::f32) {
      std::memcpy(out.data() + done, buffer.data(), n * item);
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        out[done + i] = static_cast<float>(element_to_double(header_.dtype, buffer.data() + i * item));
      }
    }
    done += n;
  }
}

std::unique_ptr<TensorReader> open_npy(const std::string& path, const NpyReadOptions& options) {
  return std::make_unique<NpyReader>(path, options);
}

std::string npy_descr(DType dtype) {
  for (const DescrEntry& e : kDescrs) {
    if (e.dtype == dtype) return (e.code.back() == '1' ? "|" : "<") + std::string(e.code);
  }
  throw Error(std::string("dtype ") + dtype_name(dtype) + " has no standard NumPy .npy descr");
}

std::string npy_header_bytes(DType dtype, std::span<const std::int64_t> shape) {
  std::string dict = "{'descr': '" + npy_descr(dtype) + "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
  // numpy.lib.format._wrap_header: pad with spaces so magic + version + length +
  // dict + '\n' is a multiple of 64 bytes (ARRAY_ALIGN), which keeps the data aligned.
  const std::size_t preamble = 10;
  const std::size_t unpadded = preamble + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  if (dict.size() > 0xFFFF) throw Error("shape " + shape_text(shape) + " needs a .npy header longer than version 1.0 allows");
  std::string out(reinterpret_cast<const char*>(kMagic), sizeof kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  return out + dict;
}

void write_npy(const std::string& path, DType dtype, std::span<const std::int64_t> shape,
               std::span<const std::byte> data) {
  std::uint64_t count = 1;
  for (const std::int64_t d : shape) count *= static_cast<std::uint64_t>(d);
  if (count * dtype_size(dtype) != data.size()) {
    throw Error(path + ": internal: " + std::to_string(data.size()) + " data bytes for shape " + shape_text(shape));
  }
  AtomicFile out(path);
  out.write(npy_header_bytes(dtype, shape));
  out.write(data.data(), data.size());
  out.commit();
}

}  // namespace fpscope

// analysis/safetensors.cpp: the safetensors header parser (SAX, bounded memory), validation, byte sources and reader.
#include "analysis/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>

#include "analysis/metadata.h"
#include "core/error.h"
#include "core/format.h"
#include "core/round.h"

namespace fpscope {

// The data section is little-endian (safetensors "Format"); elements are copied as is.
static_assert(std::endian::native == std::endian::little, "the readers assume a little-endian host");

namespace {

constexpr std::array kDTypes{DType::f64, DType::f32, DType::f16,     DType::bf16, DType::f8_e4m3,
                             DType::f8_e5m2, DType::i64, DType::i32, DType::i16,  DType::i8,
                             DType::u64, DType::u32, DType::u16,     DType::u8,   DType::boolean};

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DType t : kDTypes) {
    if (name == dtype_name(t)) return t;
  }
  return std::nullopt;
}

std::string dtype_list() {
  std::string list;
  for (const DType t : kDTypes) {
    if (!list.empty()) list += ", ";
    list += dtype_name(t);
  }
  return list;
}

// Text from the file made safe for a one-line message: control bytes escaped
// (and bytes >= 0x80 too where the text may not be UTF-8), long text cut.
std::string printable(std::string_view s, bool escape_high = false) {
  constexpr std::size_t kMaxBytes = 200;
  std::string out;
  std::size_t i = 0;
  for (; i < s.size() && out.size() < kMaxBytes; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F || (escape_high && c >= 0x80)) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (i < s.size()) {
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += fmt::format("... ({} bytes)", s.size());
  }
  return out;
}

// ---------------------------------------------------------------------------
// The header parser: a SAX handler that keeps only what validation needs, so a
// 100 MB header of nested arrays costs no more memory than its names and shapes.

struct JsonNumber {
  enum Kind : std::uint8_t { non_negative, negative, fractional, not_a_number };
  Kind kind = not_a_number;
  std::uint64_t value = 0;  // when non_negative
  std::string text;         // as written, or the JSON type when not a number
};

constexpr std::size_t kMaxDims = 1024;

struct RawEntry {
  int copies = 0;
  const char* type = "object";  // JSON type of the entry
  std::string duplicate_field;
  bool has_dtype = false;
  const char* dtype_type = nullptr;  // set when dtype is not a string
  std::string dtype;
  bool has_shape = false;
  const char* shape_type = nullptr;  // set when shape is not an array
  std::vector<JsonNumber> shape;
  std::size_t shape_size = 0;  // elements seen (only kMaxDims + 1 are kept)
  bool has_offsets = false;
  const char* offsets_type = nullptr;
  std::vector<JsonNumber> offsets;
  std::size_t offsets_size = 0;
};

class HeaderHandler {
 public:
  using json = nlohmann::json;
  explicit HeaderHandler(const std::string& path) : path_(path) {}

  std::map<std::string, RawEntry> entries;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> metadata_problems;
  std::string fatal;  // a whole-header problem

  bool null() { return scalar("null", nullptr, nullptr); }
  bool boolean(bool) { return scalar("boolean", nullptr, nullptr); }
  bool number_integer(json::number_integer_t v) {
    // nlohmann reports non-negative integers through number_unsigned.
    JsonNumber n{JsonNumber::negative, 0, std::to_string(v)};
    return scalar("number", nullptr, &n);
  }
  bool number_unsigned(json::number_unsigned_t v) {
    JsonNumber n{JsonNumber::non_negative, v, std::to_string(v)};
    return scalar("number", nullptr, &n);
  }
  bool number_float(json::number_float_t, const json::string_t& text) {
    JsonNumber n{JsonNumber::fractional, 0, text};
    return scalar("number", nullptr, &n);
  }
  bool string(json::string_t& s) { return scalar("string", &s, nullptr); }
  bool binary(json::binary_t&) { return scalar("binary", nullptr, nullptr); }
  bool start_object(std::size_t) { return open("object"); }
  bool start_array(std::size_t) { return open("array"); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& k) {
    switch (stack_.back()) {
      case Frame::root:
        key_ = k;
        break;
      case Frame::tensor:
        field_ = k;
        break;
      case Frame::meta:
        meta_key_ = k;
        break;
      default:
        break;
    }
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    std::string_view what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." -> "parse error at ..."
    if (const std::size_t close_bracket = what.find("] "); what.starts_with("[json.") &&
                                                           close_bracket != std::string_view::npos) {
      what.remove_prefix(close_bracket + 2);
    }
    fatal = fmt::format("{}: header is not valid JSON: {}", path_, printable(what, true));
    return false;
  }

 private:
  enum class Frame : std::uint8_t { root, meta, tensor, shape, offsets, skip };

  RawEntry* entry() { return current_ ? &current_->second : nullptr; }

  // A value (scalar or the start of a container) in the current frame.
  // Returns the frame a container opens, or nullopt to stop the parse.
  std::optional<Frame> value(const char* type, bool is_object, bool is_array, const std::string* str,
                             const JsonNumber* number) {
    if (stack_.empty()) {
      if (is_object) return Frame::root;
      fatal = fmt::format("{}: header is a JSON {}, expected an object", path_, type);
      return std::nullopt;
    }
    switch (stack_.back()) {
      case Frame::root:
        if (key_ == "__metadata__") {
          if (metadata_seen_) {
            metadata_problems.push_back(fmt::format("{}: '__metadata__' appears twice; the first is used", path_));
            return Frame::skip;
          }
          metadata_seen_ = true;
          if (is_object) return Frame::meta;
          metadata_problems.push_back(fmt::format(
              "{}: '__metadata__' is a JSON {}, expected an object of strings; ignored", path_, type));
          return Frame::skip;
        }
        current_ = &*entries.try_emplace(key_).first;
        if (++current_->second.copies > 1) {
          current_ = nullptr;
          return Frame::skip;
        }
        entry()->type = type;
        return is_object ? Frame::tensor : Frame::skip;
      case Frame::tensor: {
        RawEntry* e = entry();
        if (e == nullptr) return Frame::skip;
        auto note = [&](bool& has) {
          if (has && e->duplicate_field.empty()) e->duplicate_field = field_;
          has = true;
        };
        if (field_ == "dtype") {
          note(e->has_dtype);
          if (str != nullptr) {
            e->dtype = *str;
            e->dtype_type = nullptr;
          } else {
            e->dtype_type = type;
          }
        } else if (field_ == "shape") {
          note(e->has_shape);
          e->shape.clear();
          e->shape_size = 0;
          e->shape_type = is_array ? nullptr : type;
          if (is_array) return Frame::shape;
        } else if (field_ == "data_offsets") {
          note(e->has_offsets);
          e->offsets.clear();
          e->offsets_size = 0;
          e->offsets_type = is_array ? nullptr : type;
          if (is_array) return Frame::offsets;
        }
        return Frame::skip;  // other keys are ignored, as the reference implementation does
      }
      case Frame::shape:
      case Frame::offsets: {
        RawEntry* e = entry();
        const bool is_shape = stack_.back() == Frame::shape;
        std::vector<JsonNumber>& list = is_shape ? e->shape : e->offsets;
        std::size_t& size = is_shape ? e->shape_size : e->offsets_size;
        ++size;
        if (list.size() <= kMaxDims) {
          list.push_back(number != nullptr ? *number : JsonNumber{JsonNumber::not_a_number, 0, type});
        }
        return Frame::skip;
      }
      case Frame::meta:
        if (str != nullptr) {
          if (!metadata.try_emplace(meta_key_, *str).second) {
            metadata_problems.push_back(fmt::format("{}: '__metadata__' key '{}' appears twice; the first is used",
                                                    path_, printable(meta_key_)));
          }
        } else {
          metadata_problems.push_back(fmt::format("{}: '__metadata__' key '{}' is a JSON {}, expected a string; ignored",
                                                  path_, printable(meta_key_), type));
        }
        return Frame::skip;
      case Frame::skip:
        return Frame::skip;
    }
    return Frame::skip;
  }

  bool scalar(const char* type, const std::string* str, const JsonNumber* number) {
    return value(type, false, false, str, number).has_value();
  }

  bool open(const char* type) {
    const std::optional<Frame> frame = value(type, type[0] == 'o', type[0] == 'a', nullptr, nullptr);
    if (!frame) return false;
    stack_.push_back(*frame);
    return true;
  }

  bool close() {
    stack_.pop_back();
    if (!stack_.empty() && stack_.back() == Frame::root) current_ = nullptr;
    return true;
  }

  const std::string& path_;
  std::vector<Frame> stack_;
  std::string key_;
  std::string field_;
  std::string meta_key_;
  std::pair<const std::string, RawEntry>* current_ = nullptr;
  bool metadata_seen_ = false;
};

std::string shape_text(const std::vector<JsonNumber>& shape, std::size_t size) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size() && i < 16; ++i) {
    if (i > 0) out += ", ";
    out += shape[i].text;
  }
  if (size > 16) out += fmt::format(", ... ({} dimensions)", size);
  return out + "]";
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Checks one entry; returns the tensor or the problem (without the "<file>: tensor '<name>': " prefix).
std::variant<SafetensorsTensor, std::string> validate_entry(const std::string& name, const RawEntry& e,
                                                            std::uint64_t data_bytes) {
  if (e.copies > 1) return fmt::format("appears {} times in the header; every copy skipped", e.copies);
  if (std::string_view(e.type) != "object") {
    return fmt::format("entry is a JSON {}, expected an object with dtype, shape and data_offsets", e.type);
  }
  if (!e.duplicate_field.empty()) return fmt::format("key '{}' appears twice in its entry", e.duplicate_field);
  if (!e.has_dtype) return std::string("entry has no 'dtype'");
  if (!e.has_shape) return std::string("entry has no 'shape'");
  if (!e.has_offsets) return std::string("entry has no 'data_offsets'");
  if (e.dtype_type != nullptr) return fmt::format("dtype is a JSON {}, expected a string", e.dtype_type);
  const std::optional<DType> dtype = parse_dtype(e.dtype);
  if (!dtype) return fmt::format("unknown dtype '{}' (this reader knows {})", printable(e.dtype), dtype_list());

  SafetensorsTensor t;
  t.name = name;
  t.dtype = *dtype;
  if (e.shape_type != nullptr) {
    return fmt::format("shape is a JSON {}, expected an array of non-negative integers", e.shape_type);
  }
  if (e.shape_size > kMaxDims) {
    return fmt::format("shape has {} dimensions, more than the {} this reader accepts", e.shape_size, kMaxDims);
  }
  for (std::size_t i = 0; i < e.shape.size(); ++i) {
    const JsonNumber& d = e.shape[i];
    if (d.kind == JsonNumber::not_a_number) {
      return fmt::format("shape element {} is a JSON {}, expected a non-negative integer", i, d.text);
    }
    if (d.kind == JsonNumber::fractional) {
      return fmt::format("shape element {} is {}, expected a non-negative integer", i, printable(d.text));
    }
    if (d.kind == JsonNumber::negative) {
      return fmt::format("shape {} has a negative dimension", shape_text(e.shape, e.shape_size));
    }
  }
  // The byte count must fit int64 (file offsets do); a zero dimension makes it 0.
  constexpr std::uint64_t kLimit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const bool empty = std::any_of(e.shape.begin(), e.shape.end(), [](const JsonNumber& d) { return d.value == 0; });
  std::uint64_t bytes = dtype_size(t.dtype);
  for (const JsonNumber& d : e.shape) {
    if (d.value > kLimit || (!empty && bytes > kLimit / d.value)) {
      return fmt::format("shape {} of {} overflows: more than 2^63 - 1 bytes", shape_text(e.shape, e.shape_size),
                         e.dtype);
    }
    if (!empty) bytes *= d.value;
    t.shape.push_back(static_cast<std::int64_t>(d.value));
  }
  if (empty) bytes = 0;

  if (e.offsets_type != nullptr) {
    return fmt::format("data_offsets is a JSON {}, expected [begin, end]", e.offsets_type);
  }
  if (e.offsets_size != 2) {
    return fmt::format("data_offsets has {} elements, expected [begin, end]", e.offsets_size);
  }
  for (std::size_t i = 0; i < 2; ++i) {
    const JsonNumber& o = e.offsets[i];
    if (o.kind == JsonNumber::not_a_number) {
      return fmt::format("data_offsets element {} is a JSON {}, expected a non-negative integer", i, o.text);
    }
    if (o.kind != JsonNumber::non_negative) {
      return fmt::format("data_offsets element {} is {}, expected a non-negative integer", i, printable(o.text));
    }
  }
  t.begin = e.offsets[0].value;
  t.end = e.offsets[1].value;
  if (t.begin > t.end) return fmt::format("data_offsets [{}, {}) end before they begin", t.begin, t.end);
  if (t.end > data_bytes) {
    return fmt::format("data_offsets [{}, {}) exceed the {}-byte data section", t.begin, t.end, data_bytes);
  }
  if (t.end - t.begin != bytes) {
    return fmt::format("data_offsets [{}, {}) hold {} bytes, but shape {} of {} needs {}", t.begin, t.end,
                       t.end - t.begin, shape_text(t.shape), e.dtype, bytes);
  }
  return t;
}

// ---------------------------------------------------------------------------
// Byte sources.

class MemorySource final : public ByteSource {
 public:
  MemorySource(std::string path, std::vector<std::byte> bytes) : path_(std::move(path)), bytes_(std::move(bytes)) {}
  const std::string& path() const override { return path_; }
  std::uint64_t size() const override { return bytes_.size(); }
  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    if (offset > bytes_.size() || out.size() > bytes_.size() - offset) {
      throw Error(fmt::format("{}: read of bytes [{}, {}) beyond the end of the {}-byte file", path_, offset,
                              offset + out.size(), bytes_.size()));
    }
    std::memcpy(out.data(), bytes_.data() + offset, out.size());
  }

 private:
  std::string path_;
  std::vector<std::byte> bytes_;
};

struct Descriptor {
  int fd = -1;
  explicit Descriptor(int f) : fd(f) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(int err) { return std::strerror(err); }

// Open descriptors, most recently used first. A reader holds its descriptor
// (shared_ptr) only for the duration of one read, so evicting one never closes
// it under a read in progress, and the number open stays near kCapacity however
// many files hold readers.
class DescriptorCache {
 public:
  static constexpr std::size_t kCapacity = 32;

  std::shared_ptr<Descriptor> find(std::uint64_t id) {
    const std::lock_guard lock(mutex_);
    for (auto it = open_.begin(); it != open_.end(); ++it) {
      if (it->first == id) {
        open_.splice(open_.begin(), open_, it);
        return it->second;
      }
    }
    return nullptr;
  }

  void insert(std::uint64_t id, std::shared_ptr<Descriptor> d) {
    const std::lock_guard lock(mutex_);
    open_.emplace_front(id, std::move(d));
    if (open_.size() > kCapacity) open_.pop_back();
  }

  void forget(std::uint64_t id) noexcept {
    const std::lock_guard lock(mutex_);
    open_.remove_if([id](const auto& entry) { return entry.first == id; });
  }

  std::uint64_t next_id() {
    const std::lock_guard lock(mutex_);
    return ++last_id_;
  }

 private:
  std::mutex mutex_;
  std::list<std::pair<std::uint64_t, std::shared_ptr<Descriptor>>> open_;
  std::uint64_t last_id_ = 0;
};

DescriptorCache& descriptors() {
  static auto* cache = new DescriptorCache;  // never destroyed: sources may outlive static destruction
  return *cache;
}

class FileSource final : public ByteSource {
 public:
  FileSource(std::string path, std::uint64_t size, dev_t device, ino_t inode)
      : path_(std::move(path)), size_(size), device_(device), inode_(inode), id_(descriptors().next_id()) {}
  ~FileSource() override { descriptors().forget(id_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  const std::string& path() const override { return path_; }
  std::uint64_t size() const override { return size_; }
  std::uint64_t id() const { return id_; }

  void read_at(std::uint64_t offset, std::span<std::byte> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      throw Error(fmt::format("{}: read of bytes [{}, {}) beyond the end of the {}-byte file", path_, offset,
                              offset + out.size(), size_));
    }
    const std::shared_ptr<Descriptor> d = descriptor();
    std::size_t done = 0;
    while (done < out.size()) {
      const ::ssize_t n = ::pread(d->fd, out.data() + done, out.size() - done, static_cast<::off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(fmt::format("{}: read error at byte {}: {}", path_, offset + done, errno_text(errno)));
      if (n == 0) {
        throw Error(fmt::format("{}: file ends at byte {}, expected {} bytes (truncated since it was opened?)", path_,
                                offset + done, size_));
      }
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  std::shared_ptr<Descriptor> descriptor() const {
    if (auto d = descriptors().find(id_)) return d;
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(fmt::format("{}: cannot reopen: {}", path_, errno_text(errno)));
    auto d = std::make_shared<Descriptor>(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) {
      throw Error(fmt::format("{}: the file was replaced since its header was read", path_));
    }
    descriptors().insert(id_, d);
    return d;
  }

  std::string path_;
  std::uint64_t size_;
  dev_t device_;
  ino_t inode_;
  std::uint64_t id_;
};

// ---------------------------------------------------------------------------
// The reader.

class SafetensorsReader final : public TensorReader {
 public:
  SafetensorsReader(std::shared_ptr<const ByteSource> source, TensorInfo info, std::uint64_t data_begin)
      : source_(std::move(source)), info_(std::move(info)), data_begin_(data_begin), count_(info_.element_count()) {}

  const TensorInfo& info() const override { return info_; }
  void read(std::uint64_t first, std::span<double> out) override { read_chunks(first, out); }
  void read(std::uint64_t first, std::span<float> out) override {
    if (info_.dtype == DType::f64) {
      throw Error(fmt::format("{}: tensor '{}': dtype F64 does not fit float exactly; read it as double", info_.file,
                              printable(info_.name)));
    }
    read_chunks(first, out);
  }

 private:
  // Bytes read per pread(2): large enough that the system call costs little per
  // element, small enough to stay in cache; the only buffer a read allocates.
  static constexpr std::size_t kChunkBytes = std::size_t{1} << 18;

  template <class T>
  void read_chunks(std::uint64_t first, std::span<T> out) {
    if (!is_float(info_.dtype)) {
      throw Error(fmt::format("{}: tensor '{}': dtype {} is not a floating type; integer and bool tensors are "
                              "counted, not analysed",
                              info_.file, printable(info_.name), dtype_name(info_.dtype)));
    }
    if (first > count_ || out.size() > count_ - first) {
      throw Error(fmt::format("{}: tensor '{}': elements [{}, {}) requested, the tensor has {}", info_.file,
                              printable(info_.name), first, first + out.size(), count_));
    }
    const std::size_t element_bytes = dtype_size(info_.dtype);
    thread_local std::vector<std::byte> buffer(kChunkBytes);
    const std::size_t per_chunk = kChunkBytes / element_bytes;
    for (std::size_t done = 0; done < out.size();) {
      const std::size_t n = std::min(per_chunk, out.size() - done);
      const std::span<std::byte> bytes(buffer.data(), n * element_bytes);
      source_->read_at(data_begin_ + (first + done) * element_bytes, bytes);
      convert_elements(info_.dtype, bytes, out.subspan(done, n));
      done += n;
    }
  }

  std::shared_ptr<const ByteSource> source_;
  TensorInfo info_;
  std::uint64_t data_begin_;
  std::uint64_t count_;
};

template <class T>
std::vector<T> build_table(const Format& f, int bits) {
  std::vector<T> table(std::size_t{1} << bits);
  for (std::size_t code = 0; code < table.size(); ++code) table[code] = static_cast<T>(decode(code, f));
  return table;
}

const Format& format_of(DType dtype) {
  // safetensors F8_E4M3 is torch.float8_e4m3fn (OFP8 E4M3), F8_E5M2 is OFP8 E5M2.
  static const Format fp16 = find_preset("fp16")->format;
  static const Format bf16 = find_preset("bf16")->format;
  static const Format e4m3 = find_preset("e4m3")->format;
  static const Format e5m2 = find_preset("e5m2")->format;
  switch (dtype) {
    case DType::f16: return fp16;
    case DType::bf16: return bf16;
    case DType::f8_e4m3: return e4m3;
    default: return e5m2;
  }
}

template <class T>
std::span<const T> table_of(DType dtype) {
  auto make = [](DType t) { return build_table<T>(format_of(t), static_cast<int>(dtype_size(t)) * 8); };
  static const std::vector<T> f16 = make(DType::f16);
  static const std::vector<T> bf16 = make(DType::bf16);
  static const std::vector<T> e4m3 = make(DType::f8_e4m3);
  static const std::vector<T> e5m2 = make(DType::f8_e5m2);
  switch (dtype) {
    case DType::f16: return f16;
    case DType::bf16: return bf16;
    case DType::f8_e4m3: return e4m3;
    case DType::f8_e5m2: return e5m2;
    default: return {};
  }
}

template <class T>
void convert(DType dtype, std::span<const std::byte> bytes, std::span<T> out) {
  const std::size_t n = out.size();
  if (!is_float(dtype) || bytes.size() != n * dtype_size(dtype)) {
    throw Error(fmt::format("convert_elements: {} bytes of {} for {} elements", bytes.size(), dtype_name(dtype), n));
  }
  const std::byte* in = bytes.data();
  switch (dtype) {
    case DType::f64:
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, in + 8 * i, 8);
        out[i] = static_cast<T>(v);  // T is double here: convert_elements refuses F64 to float
      }
      return;
    case DType::f32:
      for (std::size_t i = 0; i < n; ++i) {
        float v;
        std::memcpy(&v, in + 4 * i, 4);
        out[i] = v;
      }
      return;
    case DType::f16:
    case DType::bf16: {
      const std::span<const T> table = table_of<T>(dtype);
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t code;
        std::memcpy(&code, in + 2 * i, 2);
        out[i] = table[code];
      }
      return;
    }
    default: {
      const std::span<const T> table = table_of<T>(dtype);
      for (std::size_t i = 0; i < n; ++i) out[i] = table[static_cast<std::uint8_t>(in[i])];
      return;
    }
  }
}

DatasetEntry error_entry(const std::string& file, std::string tensor, std::string message) {
  return DatasetEntry::from_error(file, std::move(tensor), std::move(message));
}

}  // namespace

std::shared_ptr<const ByteSource> file_source(const std::string& path) {
  // O_NONBLOCK: opening a FIFO named by mistake must not wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(fmt::format("{}: cannot open: {}", path, errno_text(errno)));
  auto d = std::make_shared<Descriptor>(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(fmt::format("{}: cannot stat: {}", path, errno_text(errno)));
  if (S_ISDIR(st.st_mode)) throw Error(fmt::format("{}: is a directory, not a file", path));
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{}: not a regular file", path));
  auto source = std::make_shared<FileSource>(path, static_cast<std::uint64_t>(st.st_size), st.st_dev, st.st_ino);
  descriptors().insert(source->id(), std::move(d));
  return source;
}

std::shared_ptr<const ByteSource> memory_source(std::string path, std::vector<std::byte> bytes) {
  return std::make_shared<MemorySource>(std::move(path), std::move(bytes));
}

SafetensorsHeader parse_safetensors_header(std::string_view json, std::uint64_t data_bytes, const std::string& path) {
  HeaderHandler handler(path);
  nlohmann::json::sax_parse(json.begin(), json.end(), &handler);
  if (!handler.fatal.empty()) throw Error(handler.fatal);

  SafetensorsHeader header;
  header.path = path;
  header.data_bytes = data_bytes;
  header.metadata = std::move(handler.metadata);
  for (std::string& problem : handler.metadata_problems) header.errors.push_back({path, "", std::move(problem)});
  for (std::string& problem : check_metadata_format(path, header.metadata)) {
    header.errors.push_back({path, "", std::move(problem)});
  }

  std::map<std::string, std::string> problems;  // tensor name -> problem
  for (const auto& [name, raw] : handler.entries) {
    auto checked = validate_entry(name, raw, data_bytes);
    if (auto* t = std::get_if<SafetensorsTensor>(&checked)) {
      header.tensors.push_back(std::move(*t));
    } else {
      problems.emplace(name, std::move(std::get<std::string>(checked)));
    }
  }

  // Overlaps: sweep the non-empty ranges in offset order against the one reaching
  // furthest so far. Either tensor of an overlapping pair may be the wrong one, so both are refused.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const SafetensorsTensor& t : header.tensors) {
    if (t.end > t.begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  const SafetensorsTensor* furthest = nullptr;
  for (const SafetensorsTensor* t : by_offset) {
    if (furthest != nullptr && t->begin < furthest->end) {
      auto note = [&](const SafetensorsTensor& a, const SafetensorsTensor& b) {
        problems.try_emplace(a.name, fmt::format("data_offsets [{}, {}) overlap tensor '{}' at [{}, {})", a.begin,
                                                 a.end, printable(b.name), b.begin, b.end));
      };
      note(*t, *furthest);
      note(*furthest, *t);
    }
    if (furthest == nullptr || t->end > furthest->end) furthest = t;
  }
  std::erase_if(header.tensors, [&](const SafetensorsTensor& t) { return problems.count(t.name) != 0; });
  for (auto& [name, problem] : problems) {
    header.errors.push_back({path, name, fmt::format("{}: tensor '{}': {}", path, printable(name), problem)});
  }
  return header;
}

SafetensorsHeader read_safetensors_header(const ByteSource& source) {
  const std::string& path = source.path();
  const std::uint64_t size = source.size();
  if (size < 8) throw Error(fmt::format("{}: file is {} bytes, too short for the 8-byte header length", path, size));
  std::array<std::byte, 8> prefix{};
  source.read_at(0, prefix);
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<std::uint8_t>(prefix[static_cast<std::size_t>(i)]);
  if (length > kSafetensorsMaxHeaderBytes) {
    throw Error(fmt::format("{}: header length {} exceeds the {}-byte limit (a corrupt file, or not a safetensors file)",
                            path, length, kSafetensorsMaxHeaderBytes));
  }
  if (length > size - 8) {
    throw Error(fmt::format("{}: header length {} exceeds the {} bytes after the 8-byte length (truncated file?)", path,
                            length, size - 8));
  }
  std::string text(length, '\0');
  source.read_at(8, std::as_writable_bytes(std::span(text)));
  SafetensorsHeader header = parse_safetensors_header(text, size - 8 - length, path);
  header.data_start = 8 + length;
  return header;
}

std::vector<DatasetEntry> open_safetensors(std::shared_ptr<const ByteSource> source) {
  std::vector<DatasetEntry> entries;
  const std::string path = source->path();
  SafetensorsHeader header;
  try {
    header = read_safetensors_header(*source);
  } catch (const Error& e) {
    entries.push_back(error_entry(path, "", e.what()));
    return entries;
  } catch (const std::exception& e) {  // std::bad_alloc on a huge header must not end the run either
    entries.push_back(error_entry(path, "", fmt::format("{}: {}", path, e.what())));
    return entries;
  }
  // Errors and tensors are each sorted by name; file-level errors (name "") lead.
  auto error = header.errors.begin();
  auto flush_errors_before = [&](const std::string* name) {
    while (error != header.errors.end() && (name == nullptr || error->tensor < *name)) {
      entries.push_back(error_entry(error->file, std::move(error->tensor), std::move(error->message)));
      ++error;
    }
  };
  for (const SafetensorsTensor& t : header.tensors) {
    flush_errors_before(&t.name);
    TensorInfo info;
    info.file = path;
    info.name = t.name;
    info.shape = t.shape;
    info.dtype = t.dtype;
    std::vector<std::string> problems = describe_tensor(info, header.metadata);
    entries.push_back(DatasetEntry::from_reader(
        std::make_unique<SafetensorsReader>(source, std::move(info), header.data_start + t.begin)));
    for (std::string& problem : problems) entries.push_back(error_entry(path, t.name, std::move(problem)));
  }
  flush_errors_before(nullptr);
  return entries;
}

std::vector<DatasetEntry> open_safetensors(const std::string& path) {
  std::shared_ptr<const ByteSource> source;
  try {
    source = file_source(path);
  } catch (const Error& e) {
    std::vector<DatasetEntry> entries;
    entries.push_back(error_entry(path, "", e.what()));
    return entries;
  }
  return open_safetensors(std::move(source));
}

std::span<const double> decode_table(DType dtype) { return table_of<double>(dtype); }

void convert_elements(DType dtype, std::span<const std::byte> bytes, std::span<double> out) {
  convert(dtype, bytes, out);
}

void convert_elements(DType dtype, std::span<const std::byte> bytes, std::span<float> out) {
  if (dtype == DType::f64) throw Error("convert_elements: F64 does not fit float exactly");
  convert(dtype, bytes, out);
}

}  // namespace fpscope

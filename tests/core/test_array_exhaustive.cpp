// tests/core/test_array_exhaustive.cpp: the fast paths (core/fast_paths.h) against the rounding core on all 2^32 float32 inputs.
//
// For each fast-pathed (format, rounding) pair, every float32 bit pattern goes
// through quantize_array and encode_array (as the library runs them, vectorised)
// and through the scalar fast kernel (for per-element flags), and each result
// must equal encode()/quantize() of core/round.h bit for bit, NaNs included.
// Stochastic rounding uses sr_random_bits(seed, pattern) as the element's noise.
// Label `exhaustive`; the sweep runs on every core.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <bit>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/array.h"
#include "core/fast_paths.h"
#include "core/random.h"

namespace fpscope {
namespace {

constexpr std::uint64_t kSeed = 0x0123'4567'89AB'CDEFu;

struct Sweep {
  const char* format;
  Rounding rounding;
};

std::string sweep_name(const Sweep& s) {
  static const char* const kModes[] = {"rne", "rna", "rtz", "rup", "rdn", "rto", "sr"};
  std::string name = std::string(s.format) + "_" + kModes[static_cast<int>(s.rounding.mode)];
  if (s.rounding.mode == Mode::sr) name += std::to_string(s.rounding.sr_bits);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

// The benchmarked formats in every mode; the other fast formats (and customs that
// reach the nosub and saturating branches) in RNE and SR.
std::vector<Sweep> sweeps() {
  std::vector<Sweep> out;
  const Rounding all[] = {{Mode::rne}, {Mode::rna}, {Mode::rtz}, {Mode::rup},
                          {Mode::rdn}, {Mode::rto}, {Mode::sr, 32}, {Mode::sr, 13}};
  for (const char* f : {"bf16", "fp16", "e4m3", "e5m2", "e2m1"}) {
    for (const Rounding& r : all) out.push_back({f, r});
  }
  for (const char* f : {"tf32", "e4m3fnuz", "e5m2fnuz", "e3m4", "e2m3", "e3m2", "e4m3:nosub",
                        "e5m2:sat", "e8m7:nosub"}) {
    out.push_back({f, Rounding{Mode::rne}});
    out.push_back({f, Rounding{Mode::sr, 32}});
  }
  return out;
}

// gtest prints parameters with this (instead of their bytes).
void PrintTo(const Sweep& s, std::ostream* os) { *os << sweep_name(s); }

std::uint32_t scalar_kernel(std::uint32_t x, std::uint32_t random, const detail::FastParams& p,
                            Mode mode, std::uint32_t& events) {
  using detail::FastOutput;
  switch (mode) {
    case Mode::rne: return detail::round_float_bits<Mode::rne, FastOutput::value>(x, random, p, events);
    case Mode::rna: return detail::round_float_bits<Mode::rna, FastOutput::value>(x, random, p, events);
    case Mode::rtz: return detail::round_float_bits<Mode::rtz, FastOutput::value>(x, random, p, events);
    case Mode::rup: return detail::round_float_bits<Mode::rup, FastOutput::value>(x, random, p, events);
    case Mode::rdn: return detail::round_float_bits<Mode::rdn, FastOutput::value>(x, random, p, events);
    case Mode::rto: return detail::round_float_bits<Mode::rto, FastOutput::value>(x, random, p, events);
    case Mode::sr: return detail::round_float_bits<Mode::sr, FastOutput::value>(x, random, p, events);
  }
  return 0;
}

class exhaustive : public testing::TestWithParam<Sweep> {};

TEST_P(exhaustive, every_float32_input_matches_the_rounding_core) {
  const Sweep sweep = GetParam();
  const Format f = parse_format(sweep.format);
  const Rounding r = sweep.rounding;
  const auto params = detail::make_fast_params(f, r, detail::FastOutput::value);
  ASSERT_TRUE(params) << sweep.format << " should take the fast path";

  constexpr std::uint64_t kChunk = std::uint64_t{1} << 16;
  constexpr std::uint64_t kChunks = (std::uint64_t{1} << 32) / kChunk;
  std::atomic<std::uint64_t> next_chunk{0};
  std::atomic<std::uint64_t> mismatches{0};
  std::mutex report_mutex;
  std::vector<std::string> reports;

  const auto worker = [&] {
    std::vector<float> in(kChunk), values(kChunk);
    std::vector<std::uint32_t> codes(kChunk);
    for (std::uint64_t c = next_chunk++; c < kChunks; c = next_chunk++) {
      const std::uint64_t first = c * kChunk;
      for (std::uint64_t i = 0; i < kChunk; ++i) {
        in[i] = std::bit_cast<float>(static_cast<std::uint32_t>(first + i));
      }
      const ArrayOptions options{r, kSeed, first, 1};
      const std::uint8_t array_flags = quantize_array(in, values, f, options);
      const std::uint8_t encode_flags = encode_array<std::uint32_t>(in, codes, f, options);
      std::uint8_t expected_array_flags = 0;
      for (std::uint64_t i = 0; i < kChunk; ++i) {
        const auto x = static_cast<std::uint32_t>(first + i);
        const std::uint32_t random = r.mode == Mode::sr ? sr_random_bits(kSeed, x) : 0;
        const Encoded e = encode(static_cast<double>(in[i]), f, r, random);
        const std::uint32_t value = std::bit_cast<std::uint32_t>(static_cast<float>(decode(e.bits, f)));
        std::uint32_t events = 0;
        const std::uint32_t scalar = scalar_kernel(x, random, *params, r.mode, events);
        const std::uint8_t flags = detail::fast_flags(events, *params);
        expected_array_flags |= e.flags;
        if (std::bit_cast<std::uint32_t>(values[i]) != value || codes[i] != e.bits ||
            scalar != value || flags != e.flags) {
          if (mismatches++ < 20) {
            std::ostringstream s;
            s << std::hex << "input 0x" << x << ": array value 0x"
              << std::bit_cast<std::uint32_t>(values[i]) << " scalar 0x" << scalar << " expected 0x"
              << value << "; code 0x" << codes[i] << " expected 0x" << e.bits << "; flags "
              << int{flags} << " expected " << int{e.flags};
            const std::lock_guard<std::mutex> lock(report_mutex);
            reports.push_back(s.str());
          }
        }
      }
      if (array_flags != expected_array_flags || encode_flags != expected_array_flags) {
        if (mismatches++ < 20) {
          const std::lock_guard<std::mutex> lock(report_mutex);
          reports.push_back("array flags of chunk " + std::to_string(c) + ": " +
                            std::to_string(array_flags) + "/" + std::to_string(encode_flags) +
                            " expected " + std::to_string(expected_array_flags));
        }
      }
    }
  };
  std::vector<std::thread> pool;
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  for (const std::string& s : reports) ADD_FAILURE() << s;
  EXPECT_EQ(mismatches.load(), 0u) << sweep_name(sweep);
}

INSTANTIATE_TEST_SUITE_P(fast_paths, exhaustive, testing::ValuesIn(sweeps()),
                         [](const testing::TestParamInfo<Sweep>& param) { return sweep_name(param.param); });

}  // namespace
}  // namespace fpscope

// cli/cmd_quantize.cpp: `fpscope quantize`: round a float32/float64 .npy array to a format, values or encodings out.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "analysis/atomic_file.h"
#include "analysis/npy.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/array.h"
#include "core/error.h"
#include "core/format.h"
#include "core/round.h"
#include "core/rounding_spec.h"

namespace fpscope::cli {
namespace {

struct Options {
  std::string in;
  std::string out;
  std::string format;
  std::string rounding = "rne";
  std::uint64_t seed = 0;
  std::string emit = "values";
  int threads = 1;
};

// Elements per chunk: memory stays bounded (a few MB) whatever the array size.
constexpr std::size_t kChunkElements = std::size_t{1} << 20;

// The narrowest unsigned NumPy dtype that holds an encoding of `bits` bits.
DType bits_dtype(int bits) {
  if (bits <= 8) return DType::u8;
  if (bits <= 16) return DType::u16;
  if (bits <= 32) return DType::u32;
  return DType::u64;
}

template <class Bits, class Float>
void encode_chunk(std::span<const Float> in, AtomicFile& out, const Format& f, const ArrayOptions& options,
                  std::uint8_t& flags) {
  std::vector<Bits> bits(in.size());
  flags |= encode_array<Bits>(in, std::span<Bits>(bits), f, options);
  out.write(bits.data(), bits.size() * sizeof(Bits));
}

template <class Float>
std::uint8_t quantize_file(NpyReader& reader, AtomicFile& out, const Format& f, ArrayOptions options,
                           bool emit_bits, DType bits_type) {
  const std::uint64_t count = reader.header().element_count;
  std::vector<Float> chunk(static_cast<std::size_t>(std::min<std::uint64_t>(count, kChunkElements)));
  std::uint8_t flags = 0;
  for (std::uint64_t first = 0; first < count; first += chunk.size()) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), count - first));
    const std::span<Float> in = std::span(chunk).first(n);
    reader.read(first, in);
    // SR bits are keyed by the global element index, so chunking changes nothing.
    options.index_offset = first;
    if (!emit_bits) {
      flags |= quantize_array(std::span<const Float>(in), in, f, options);
      out.write(in.data(), n * sizeof(Float));
      continue;
    }
    switch (bits_type) {
      case DType::u8: encode_chunk<std::uint8_t, Float>(in, out, f, options, flags); break;
      case DType::u16: encode_chunk<std::uint16_t, Float>(in, out, f, options, flags); break;
      case DType::u32: encode_chunk<std::uint32_t, Float>(in, out, f, options, flags); break;
      default: encode_chunk<std::uint64_t, Float>(in, out, f, options, flags); break;
    }
  }
  return flags;
}

void run(const Options& o) {
  // Everything that can be wrong with the arguments or the input is checked
  // before the output is created, so a bad run leaves no file behind.
  const Format f = parse_format(o.format);
  ArrayOptions options;
  options.rounding = parse_rounding(o.rounding);
  options.seed = o.seed;
  options.threads = o.threads;
  NpyReader reader(o.in);
  const NpyHeader& h = reader.header();
  if (h.dtype != DType::f32 && h.dtype != DType::f64) {
    throw Error(o.in + ": dtype " + h.descr + " cannot be quantized; expected float32 (<f4) or float64 (<f8)");
  }
  const bool emit_bits = o.emit == "bits";
  const DType bits_type = bits_dtype(limits(f).total_bits);
  const DType out_type = emit_bits ? bits_type : h.dtype;

  AtomicFile out(o.out);
  out.write(npy_header_bytes(out_type, h.shape));
  const std::uint8_t flags = h.dtype == DType::f32
                                 ? quantize_file<float>(reader, out, f, options, emit_bits, bits_type)
                                 : quantize_file<double>(reader, out, f, options, emit_bits, bits_type);
  out.commit();
  fmt::print("{}: {} {} elements -> {} {} ({}, {}); flags: {}\n", o.out, h.element_count, h.descr,
             format_name(f), emit_bits ? "encodings as " + npy_descr(out_type) : "values as " + h.descr,
             rounding_name(options.rounding), options.rounding.mode == Mode::sr ? fmt::format("seed {}", o.seed) : "deterministic",
             flags_text(flags, "none"));
}

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("quantize", "Round a float32/float64 .npy array to a format");
  cmd->add_option("IN", o->in, "Input .npy: float32 (<f4) or float64 (<f8), any shape, C order")->required();
  cmd->add_option("OUT", o->out, "Output .npy, written atomically (temp file + rename) or not at all")->required();
  cmd->add_option("--format,-f", o->format, "Target format: a preset (see `fpscope formats`) or a spec (e5m7)")
      ->required();
  cmd->add_option("--rounding,-r", o->rounding, "Rounding mode: " + rounding_choices())->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the stochastic-rounding bits (element i draws sr_random_bits(seed, i))")
      ->capture_default_str();
  cmd->add_option("--emit", o->emit,
                  "values: the quantized values in the input dtype; bits: the encodings as the narrowest of "
                  "uint8/16/32/64")
      ->check(CLI::IsMember({"values", "bits"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores); results do not depend on it")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->footer(
      "Exit status 2 for a bad argument or input file, with one line `fpscope: <file>: <problem>`;\n"
      "no output file is left behind then.\n"
      "\nExamples:\n"
      "  fpscope quantize weights.npy weights_e4m3.npy --format e4m3\n"
      "  fpscope quantize grads.npy grads_bf16.npy --format bf16 --rounding sr:16 --seed 7 --threads 0\n"
      "  fpscope quantize x.npy x_bits.npy --format e2m1 --emit bits   # uint8 codes\n");
  cmd->callback([o, &exit_code] {
    run(*o);
    exit_code = 0;
  });
}

}  // namespace fpscope::cli

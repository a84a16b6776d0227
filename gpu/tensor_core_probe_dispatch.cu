// gpu/tensor_core_probe_dispatch.cu: host side of `fpscope probe-tensor-cores`: Fasi et al. probes and random tiles vs core/accumulate.h, for mma.sync and wgmma.
//
// NUMERICS.md s4. Each probe is a dot product placed in row 0 of A and row 0 of
// B (the "col" operand), everything else zero, read back from D[0][0]:
// exact products ((1-2^-p)^2 kept), F (1 + 2^-j - 1 survives iff j <= F),
// alignment rounding (1 + 1.75 * 2^-F - 1 gives 2^-F when truncated), output
// rounding (1 + 1.5 * 2^-23 to fp32: toward zero or to nearest even), carry
// (1 + 1.5 + 1.75 + 1.875 + c = 1.875 gives 8 with >= 3 carry bits) and K (+1,
// -1 and a tiny term at position j: the tiny term survives only when it falls
// in a later group than the +-1 pair). Then random tiles are compared bit for
// bit with model_dot() of the matching accumulation preset.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/accumulate.h"
#include "core/error.h"
#include "core/random.h"
#include "core/round.h"
#include "gpu/cuda_check.h"
#include "gpu/fpscope_gpu.h"
#include "gpu/tensor_core_probe_kernel.cuh"

namespace fpscope::gpu {
namespace {

using detail::MmaPath;

struct PathInfo {
  MmaPath path;
  const char* instruction;
  const char* format_spec;
  int m;  // rows of A, C and D (N is 8)
  int k;
  int element_bytes;
  int min_compute;  // major * 10 + minor
  int max_compute;  // 0: no upper bound
  const char* requirement;  // why a device outside [min, max] cannot run it
};

// wgmma is sm_90a only: Blackwell (sm_100) has tcgen05.mma instead, and sm_90a
// device code does not run on other architectures.
constexpr const char* kWgmmaRequirement = "needs an sm_90a device (compute capability 9.0); wgmma is Hopper-only";

constexpr PathInfo kPaths[] = {
    {MmaPath::f16, "mma.sync.m16n8k16 f16 x f16 -> f32", "fp16", 16, 16, 2, 80, 0, "needs sm_80 or newer"},
    {MmaPath::bf16, "mma.sync.m16n8k16 bf16 x bf16 -> f32", "bf16", 16, 16, 2, 80, 0, "needs sm_80 or newer"},
    {MmaPath::e4m3, "mma.sync.m16n8k32 e4m3 x e4m3 -> f32", "e4m3", 16, 32, 1, 89, 0, "needs sm_89 or newer"},
    {MmaPath::wgmma_f16, "wgmma.mma_async.m64n8k16 f16 x f16 -> f32", "fp16", 64, 16, 2, 90, 90, kWgmmaRequirement},
    {MmaPath::wgmma_bf16, "wgmma.mma_async.m64n8k16 bf16 x bf16 -> f32", "bf16", 64, 16, 2, 90, 90, kWgmmaRequirement},
    {MmaPath::wgmma_e4m3, "wgmma.mma_async.m64n8k32 e4m3 x e4m3 -> f32", "e4m3", 64, 32, 1, 90, 90, kWgmmaRequirement},
};

// The table and the kernels' compile-time shapes agree.
template <MmaPath kPath>
constexpr bool shape_matches(const PathInfo& p) {
  using Shape = detail::MmaShape<kPath>;
  return p.m == Shape::kM && p.k == Shape::kK && p.element_bytes == Shape::kElementBytes;
}
constexpr bool table_matches_shapes() {
  for (const PathInfo& p : kPaths) {
    const bool ok = [&] {
      switch (p.path) {
        case MmaPath::f16: return shape_matches<MmaPath::f16>(p);
        case MmaPath::bf16: return shape_matches<MmaPath::bf16>(p);
        case MmaPath::e4m3: return shape_matches<MmaPath::e4m3>(p);
        case MmaPath::wgmma_f16: return shape_matches<MmaPath::wgmma_f16>(p);
        case MmaPath::wgmma_bf16: return shape_matches<MmaPath::wgmma_bf16>(p);
        case MmaPath::wgmma_e4m3: return shape_matches<MmaPath::wgmma_e4m3>(p);
      }
      return false;
    }();
    if (!ok) return false;
  }
  return true;
}
static_assert(table_matches_shapes());

// Tiles on the host: A m x K, B 8 x K encodings, C m x 8 floats.
struct Tiles {
  const PathInfo* path;
  Format format;
  std::uint64_t count = 0;
  std::vector<unsigned char> a, b;
  std::vector<float> c;

  std::size_t c_per_tile() const { return static_cast<std::size_t>(path->m * 8); }
  void resize(std::uint64_t n) {
    count = n;
    const auto per_a = static_cast<std::size_t>(path->m * path->k * path->element_bytes);
    const auto per_b = static_cast<std::size_t>(8 * path->k * path->element_bytes);
    a.assign(per_a * n, 0);
    b.assign(per_b * n, 0);
    c.assign(c_per_tile() * n, 0.0f);
  }
  void set(std::vector<unsigned char>& m, std::uint64_t tile, int rows, int row, int col, std::uint64_t bits) {
    const std::size_t offset =
        (static_cast<std::size_t>(tile) * rows * path->k + static_cast<std::size_t>(row * path->k + col)) *
        path->element_bytes;
    for (int byte = 0; byte < path->element_bytes; ++byte) m[offset + byte] = static_cast<unsigned char>(bits >> (8 * byte));
  }
  std::uint64_t bits_of(double v) const {
    const Encoded e = encode(v, format, Rounding{});
    if (decode(e.bits, format) != v) throw Error("probe-tensor-cores: internal: probe value not exact in " + format_name(format));
    return e.bits;
  }
  // Tile `tile` computes D[0][0] = sum a[i] b[i] + c.
  void set_dot(std::uint64_t tile, const std::vector<double>& av, const std::vector<double>& bv, double cv) {
    for (std::size_t i = 0; i < av.size(); ++i) {
      set(a, tile, path->m, 0, static_cast<int>(i), bits_of(av[i]));
      set(b, tile, 8, 0, static_cast<int>(i), bits_of(bv[i]));
    }
    c[tile * c_per_tile()] = static_cast<float>(cv);
  }
  double value(const std::vector<unsigned char>& m, std::uint64_t tile, int rows, int row, int col) const {
    const std::size_t offset =
        (static_cast<std::size_t>(tile) * rows * path->k + static_cast<std::size_t>(row * path->k + col)) *
        path->element_bytes;
    std::uint64_t bits = 0;
    for (int byte = 0; byte < path->element_bytes; ++byte) bits |= std::uint64_t{m[offset + byte]} << (8 * byte);
    return decode(bits, format);
  }
};

template <MmaPath kPath>
void launch_tiles(std::uint64_t count, const unsigned char* a, const unsigned char* b, const float* c, float* d,
                  int* unsupported) {
  if constexpr (detail::is_wgmma(kPath)) {
    // One warpgroup (block) per tile and step.
    const auto blocks = static_cast<unsigned int>(std::clamp<std::uint64_t>(count, 1, 8192));
    detail::wgmma_tiles_kernel<kPath><<<blocks, detail::WgmmaProbeTile::kThreads>>>(a, b, c, d, count, unsupported);
  } else {
    constexpr int kThreads = 256;  // 8 warps, one tile each per step
    const auto blocks = static_cast<unsigned int>(std::clamp<std::uint64_t>((count + 7) / 8, 1, 4096));
    detail::mma_tiles_kernel<kPath><<<blocks, kThreads>>>(a, b, c, d, count, unsupported);
  }
}

// D of every tile into `out`; false when this build has no device code with the
// path's instruction for this GPU (e.g. no sm_90a target for wgmma).
bool run_tiles(const Tiles& t, std::vector<float>& out) {
  detail::DeviceBuffer<unsigned char> a(t.a.size()), b(t.b.size());
  detail::DeviceBuffer<float> c(t.c.size()), d(t.c.size());
  detail::DeviceBuffer<int> unsupported(1);
  FPSCOPE_CUDA_CHECK(cudaMemcpy(a.get(), t.a.data(), a.bytes(), cudaMemcpyHostToDevice));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(b.get(), t.b.data(), b.bytes(), cudaMemcpyHostToDevice));
  FPSCOPE_CUDA_CHECK(cudaMemcpy(c.get(), t.c.data(), c.bytes(), cudaMemcpyHostToDevice));
  FPSCOPE_CUDA_CHECK(cudaMemset(unsupported.get(), 0, sizeof(int)));
  const auto args = std::make_tuple(t.count, a.get(), b.get(), c.get(), d.get(), unsupported.get());
  switch (t.path->path) {
    case MmaPath::f16: std::apply(launch_tiles<MmaPath::f16>, args); break;
    case MmaPath::bf16: std::apply(launch_tiles<MmaPath::bf16>, args); break;
    case MmaPath::e4m3: std::apply(launch_tiles<MmaPath::e4m3>, args); break;
    case MmaPath::wgmma_f16: std::apply(launch_tiles<MmaPath::wgmma_f16>, args); break;
    case MmaPath::wgmma_bf16: std::apply(launch_tiles<MmaPath::wgmma_bf16>, args); break;
    case MmaPath::wgmma_e4m3: std::apply(launch_tiles<MmaPath::wgmma_e4m3>, args); break;
  }
  FPSCOPE_CUDA_CHECK(cudaGetLastError());
  FPSCOPE_CUDA_CHECK(cudaDeviceSynchronize());
  int host_unsupported = 0;
  FPSCOPE_CUDA_CHECK(cudaMemcpy(&host_unsupported, unsupported.get(), sizeof(int), cudaMemcpyDeviceToHost));
  if (host_unsupported != 0) return false;
  out.resize(t.c.size());
  FPSCOPE_CUDA_CHECK(cudaMemcpy(out.data(), d.get(), d.bytes(), cudaMemcpyDeviceToHost));
  return true;
}

// Later runs of a path whose first run had device code.
std::vector<float> run_tiles(const Tiles& t) {
  std::vector<float> out;
  if (!run_tiles(t, out)) {
    throw Error(std::string("probe-tensor-cores: ") + t.path->instruction + ": internal: device code vanished");
  }
  return out;
}

// 2^e as a product of two values of the format (each factor kept >= its smallest subnormal).
std::pair<double, double> power_product(int e, const Format& f) {
  const int half = e / 2;
  const double min_sub = limits(f).min_subnormal;
  double x = std::ldexp(1.0, half), y = std::ldexp(1.0, e - half);
  if (x < min_sub || y < min_sub) return {0.0, 0.0};
  return {x, y};
}

// The accumulation preset matching a path on a device of compute capability cc.
// MMA-Sim (simulator/nv.py) gives wgmma on Hopper F = 25 for f16/bf16 (one group
// of K = 16, as HMMA) and F = 13 with an e8m13 result for fp8.
std::string model_for(MmaPath path, int cc) {
  if (detail::is_fp8(path)) return cc >= 100 ? "nv-b200-fp8" : "nv-h100-fp8";
  return cc >= 90 ? "nv-h100-hmma" : "nv-a100";
}

ProbeResult probe_path(const PathInfo& p, int cc, const ProbeOptions& options) {
  ProbeResult r;
  r.instruction = p.instruction;
  r.model_spec = model_for(p.path, cc);
  if (cc < p.min_compute || (p.max_compute != 0 && cc > p.max_compute)) {
    r.unavailable = std::string(p.requirement) + "; this GPU is sm_" + std::to_string(cc);
    return r;
  }
  const auto start = std::chrono::steady_clock::now();
  Tiles t{&p, parse_format(p.format_spec)};
  const Format& f = t.format;
  const int precision = f.man_bits + 1;
  const int max_f = 40;
  // Probe tiles: 0 exact products, 1..max_f the F sweep, then rounding, output, carry, K.
  std::vector<std::vector<double>> as, bs;
  std::vector<double> cs;
  const auto add = [&](std::vector<double> av, std::vector<double> bv, double cv) {
    as.push_back(std::move(av));
    bs.push_back(std::move(bv));
    cs.push_back(cv);
    return as.size() - 1;
  };
  const double x = 1.0 - std::ldexp(1.0, -precision);
  const std::size_t exact_tile = add({x}, {x}, 0.0);
  std::vector<std::size_t> f_tiles(max_f + 1, SIZE_MAX);
  for (int j = 1; j <= max_f; ++j) {
    const auto [u, v] = power_product(-j, f);
    if (u == 0.0) break;
    f_tiles[j] = add({1.0, u, -1.0}, {1.0, v, 1.0}, 0.0);
  }
  const std::size_t carry_tile = add({1.0, 1.5, 1.75, 1.875}, {1.0, 1.0, 1.0, 1.0}, 1.875);
  t.resize(as.size());
  for (std::size_t i = 0; i < as.size(); ++i) t.set_dot(i, as[i], bs[i], cs[i]);
  std::vector<float> d;
  if (!run_tiles(t, d)) {
    r.unavailable = "this build has no device code with this instruction for sm_" + std::to_string(cc) +
                    (detail::is_wgmma(p.path) ? " (wgmma needs the sm_90a target)" : "");
    return r;
  }
  const auto out = [&](std::size_t tile) { return static_cast<double>(d[tile * t.c_per_tile()]); };
  r.exact_products = out(exact_tile) == x * x;
  int fraction_bits = 0;
  for (int j = 1; j <= max_f && f_tiles[j] != SIZE_MAX; ++j) {
    if (out(f_tiles[j]) != std::ldexp(1.0, -j)) break;
    fraction_bits = j;
  }
  r.fraction_bits = fraction_bits;
  r.carry_bits = out(carry_tile) == 8.0 ? 3 : 0;

  // Second round: probes that need F.
  as.clear(), bs.clear(), cs.clear();
  const int F = fraction_bits;
  std::size_t rounding_tile = SIZE_MAX, output_tile = SIZE_MAX;
  if (auto [u, v] = power_product(-F, f); u != 0.0 && F >= 2) {
    rounding_tile = add({1.0, 1.75 * u, -1.0}, {1.0, v, 1.0}, 0.0);
  }
  if (auto [u, v] = power_product(-23, f); u != 0.0 && F >= 24) {
    output_tile = add({1.0, 1.5 * u}, {1.0, v}, 0.0);
  }
  std::vector<std::size_t> k_tiles(static_cast<std::size_t>(p.k), SIZE_MAX);
  const auto [tu, tv] = power_product(-(F + 3), f);
  for (int j = 2; j < p.k && tu != 0.0; ++j) {
    std::vector<double> av(static_cast<std::size_t>(j + 1), 0.0), bv(static_cast<std::size_t>(j + 1), 0.0);
    av[0] = 1.0, bv[0] = 1.0, av[1] = -1.0, bv[1] = 1.0, av[static_cast<std::size_t>(j)] = tu, bv[static_cast<std::size_t>(j)] = tv;
    k_tiles[static_cast<std::size_t>(j)] = add(av, bv, 0.0);
  }
  if (!as.empty()) {
    t.resize(as.size());
    for (std::size_t i = 0; i < as.size(); ++i) t.set_dot(i, as[i], bs[i], cs[i]);
    d = run_tiles(t);
  }
  if (rounding_tile != SIZE_MAX) {
    const double v = out(rounding_tile);
    r.alignment = v == std::ldexp(1.0, -F) ? "truncate" : v == std::ldexp(1.0, 1 - F) ? "round" : "unclear";
  } else {
    r.alignment = "not measured";
  }
  if (output_tile != SIZE_MAX) {
    const double v = out(output_tile);
    r.output_rounding = v == 1.0 + std::ldexp(1.0, -23) ? "rtz" : v == 1.0 + std::ldexp(1.0, -22) ? "rne" : "unclear";
  } else {
    r.output_rounding = "not measured (F < 24)";
  }
  r.group_size = p.k;  // the whole instruction unless a probe shows a smaller group
  for (int j = 2; j < p.k; ++j) {
    if (k_tiles[static_cast<std::size_t>(j)] != SIZE_MAX && out(k_tiles[static_cast<std::size_t>(j)]) != 0.0) {
      r.group_size = j;
      break;
    }
  }

  // Random tiles: finite values with exponents near 0, both signs; c random in
  // fp32 for the 16-bit paths and 0 for e4m3 (the fp8 model's accumulator is e8m13).
  const std::size_t rows = static_cast<std::size_t>(p.m), c_per_tile = t.c_per_tile();
  const AccumulationModel model = parse_accumulation_model(r.model_spec);
  t.resize(options.random_tiles);
  const std::uint64_t man_mask = (std::uint64_t{1} << f.man_bits) - 1;
  const std::size_t workers = std::max(1u, std::thread::hardware_concurrency());
  const auto parallel_over_workers = [workers](const auto& work) {
    std::vector<std::thread> pool;
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
    work(std::size_t{0});
    for (std::thread& th : pool) th.join();
  };
  // Philox counters: each tile owns a fixed range, so tiles fill in parallel
  // and the values depend only on (seed, tile).
  const std::uint64_t draws_per_tile = static_cast<std::uint64_t>((p.m + 8) * p.k) + c_per_tile;
  const auto fill = [&](std::size_t worker) {
    for (std::uint64_t tile = worker; tile < t.count; tile += workers) {
      std::uint64_t index = tile * draws_per_tile;
      const auto random_bits = [&] {
        const std::uint32_t w = sr_random_bits(options.seed, index++);
        const std::uint64_t field = static_cast<std::uint64_t>(f.bias - 4 + static_cast<int>((w >> 8) % 8));
        return (std::uint64_t{w >> 31} << (f.exp_bits + f.man_bits)) | (field << f.man_bits) | (w & man_mask);
      };
      for (int row = 0; row < p.m; ++row)
        for (int col = 0; col < p.k; ++col) t.set(t.a, tile, p.m, row, col, random_bits());
      for (int row = 0; row < 8; ++row)
        for (int col = 0; col < p.k; ++col) t.set(t.b, tile, 8, row, col, random_bits());
      for (std::size_t e = 0; e < c_per_tile; ++e) {
        const std::uint32_t w = sr_random_bits(options.seed ^ 0x5EED, index++);
        t.c[tile * c_per_tile + e] =
            detail::is_fp8(p.path) ? 0.0f : std::ldexp(static_cast<float>(w >> 8) / 16777216.0f, 2) * ((w & 1) ? -1.0f : 1.0f);
      }
    }
  };
  parallel_over_workers(fill);
  d = run_tiles(t);
  std::vector<std::uint64_t> identical_per_thread(workers, 0);
  const auto check = [&](std::size_t worker) {
    std::vector<double> av(static_cast<std::size_t>(p.k)), bv(static_cast<std::size_t>(p.k));
    for (std::uint64_t tile = worker; tile < t.count; tile += identical_per_thread.size()) {
      bool same = true;
      for (std::size_t i = 0; i < rows && same; ++i) {
        for (int col = 0; col < p.k; ++col) av[static_cast<std::size_t>(col)] = t.value(t.a, tile, p.m, static_cast<int>(i), col);
        for (std::size_t j = 0; j < 8 && same; ++j) {
          for (int col = 0; col < p.k; ++col) bv[static_cast<std::size_t>(col)] = t.value(t.b, tile, 8, static_cast<int>(j), col);
          const std::size_t e = tile * c_per_tile + i * 8 + j;
          const double expected = model_dot(model, av, f, bv, f, static_cast<double>(t.c[e]));
          same = std::bit_cast<std::uint32_t>(static_cast<float>(expected)) == std::bit_cast<std::uint32_t>(d[e]);
        }
      }
      identical_per_thread[worker] += same ? 1 : 0;
    }
  };
  parallel_over_workers(check);
  r.tiles = t.count;
  for (std::uint64_t n : identical_per_thread) r.tiles_bit_identical += n;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace

std::vector<ProbeResult> probe_tensor_cores(const ProbeOptions& options) {
  const DeviceInfo device = device_info();
  const int cc = device.compute_major * 10 + device.compute_minor;
  std::vector<ProbeResult> results;
  for (const PathInfo& p : kPaths) results.push_back(probe_path(p, cc, options));
  return results;
}

}  // namespace fpscope::gpu

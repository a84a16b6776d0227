// tests/core/test_scaling.cpp: the scaling recipes against hand-computed examples (TE, torchao, OCP MX v1.0 s6.3, NVFP4).
#include "core/scaling.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"

namespace fpscope {
namespace {

Format preset(const char* name) { return find_preset(name)->format; }
double f32(double x) { return static_cast<double>(static_cast<float>(x)); }

TEST(parse_recipe, round_trips_every_spelling) {
  for (const char* spec : {"none", "tensor", "tensor:pow2", "tensor:margin=2", "tensor:pow2:margin=-1", "delayed",
                           "delayed:len=16", "delayed:algo=most_recent", "delayed:len=4:algo=most_recent:pow2",
                           "row", "row:pow2", "col", "block:1x128", "block:128x128:pow2", "mx", "nvfp4"}) {
    const Recipe r = parse_recipe(spec);
    EXPECT_EQ(recipe_name(r), spec);
    EXPECT_EQ(parse_recipe(recipe_name(r)), r);
  }
  EXPECT_EQ(parse_recipe("block:1x128").block_cols, 128);
  EXPECT_EQ(parse_recipe("block:3x5").block_rows, 3);
  EXPECT_EQ(parse_recipe("mx").block_cols, 32);
  EXPECT_EQ(parse_recipe("nvfp4").block_cols, 16);
  EXPECT_EQ(parse_recipe("delayed").history_len, 1024);  // TE default amax_history_len
}

TEST(parse_recipe, errors_name_the_spec_and_list_the_recipes) {
  auto message = [](const char* spec) {
    try {
      parse_recipe(spec);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("tensorwise"),
            "recipe 'tensorwise': unknown recipe 'tensorwise' (valid recipes: none, tensor[:pow2][:margin=N], "
            "delayed[:len=N][:algo=max|most_recent][:pow2][:margin=N], row[:pow2], col[:pow2], "
            "block:RxC[:pow2], mx, nvfp4)");
  EXPECT_NE(message("block").find("block needs a size RxC"), std::string::npos);
  EXPECT_NE(message("block:12").find("block size must be RxC"), std::string::npos);
  EXPECT_NE(message("block:0x4").find("block rows must be an integer in [1,"), std::string::npos);
  EXPECT_NE(message("mx:pow2").find("unknown option 'pow2' for recipe mx"), std::string::npos);
  EXPECT_NE(message("tensor:len=3").find("unknown option 'len=3' for recipe tensor"), std::string::npos);
  EXPECT_NE(message("delayed:len=x").find("len must be an integer"), std::string::npos);
}

TEST(recipe_applies, mx_and_nvfp4_only_for_their_element_formats) {
  const Recipe mx = parse_recipe("mx");
  const Recipe nvfp4 = parse_recipe("nvfp4");
  for (const char* f : {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1"}) EXPECT_TRUE(recipe_applies(mx, preset(f))) << f;
  for (const char* f : {"bf16", "fp16", "e4m3fnuz", "e3m4"}) EXPECT_FALSE(recipe_applies(mx, preset(f))) << f;
  EXPECT_TRUE(recipe_applies(nvfp4, preset("e2m1")));
  EXPECT_FALSE(recipe_applies(nvfp4, preset("e4m3")));
  EXPECT_TRUE(recipe_applies(parse_recipe("tensor"), preset("bf16")));
  EXPECT_FALSE(recipe_applies(parse_recipe("tensor"), preset("e8m0")));  // unsigned, no zero
}

TEST(scaled_element_format, scaled_recipes_saturate_none_keeps_the_policy) {
  EXPECT_EQ(scaled_element_format(preset("e5m2"), parse_recipe("none")).overflow, Overflow::inf);
  EXPECT_EQ(scaled_element_format(preset("e5m2"), parse_recipe("tensor")).overflow, Overflow::saturate);
  EXPECT_EQ(scaled_element_format(preset("e4m3"), parse_recipe("mx")).overflow, Overflow::saturate);
}

TEST(bits_per_element, includes_the_scales) {
  const Format e4m3 = preset("e4m3");
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("none"), 4, 64), 8.0);
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("tensor"), 4, 64), 8.0 + 32.0 / 256.0);
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("row"), 4, 64), 8.0 + 32.0 / 64.0);
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("col"), 4, 64), 8.0 + 32.0 / 4.0);
  // MX: 8 bits per 32 elements (OCP MX v1.0 s5).
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("mx"), 4, 64), 8.25);
  // NVFP4: 8 bits per 16 elements plus one fp32 per tensor: 4 + (8*8 + 32) / 128.
  EXPECT_EQ(bits_per_element(preset("e2m1"), parse_recipe("nvfp4"), 2, 64), 4.0 + 96.0 / 128.0);
  // 128x128 blocks on 256x256: four fp32 scales.
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("block:128x128"), 256, 256), 8.0 + 128.0 / 65536.0);
  // A partial block still needs its scale: 1x128 on a 1x200 row = 2 scales.
  EXPECT_EQ(bits_per_element(e4m3, parse_recipe("block:1x128"), 1, 200), 8.0 + 64.0 / 200.0);
}

TEST(amax_scale, te_formula_in_fp32) {
  const Format e4m3 = preset("e4m3");
  // amax 2: scale = 448 / 2 = 224 exactly; scale_inv = fp32(1/224).
  Scale s = amax_scale(2.0, e4m3, parse_recipe("tensor"));
  EXPECT_EQ(s.scale, 224.0);
  EXPECT_EQ(s.scale_inv, f32(1.0 / 224.0));
  EXPECT_FALSE(s.saturated);
  // amax 3: 448/3 = 149.333.. rounded to fp32.
  s = amax_scale(3.0, e4m3, parse_recipe("tensor"));
  EXPECT_EQ(s.scale, f32(448.0 / 3.0));
  // pow2 rounds down (torchao): 149.33 -> 128; margin 1 halves: 448 / (2 * 2) = 112.
  EXPECT_EQ(amax_scale(3.0, e4m3, parse_recipe("tensor:pow2")).scale, 128.0);
  EXPECT_EQ(amax_scale(3.0, e4m3, parse_recipe("tensor:pow2")).scale_inv, 1.0 / 128.0);
  EXPECT_EQ(amax_scale(2.0, e4m3, parse_recipe("tensor:margin=1")).scale, 112.0);
  // e5m2: 57344 / 7 in fp32.
  EXPECT_EQ(amax_scale(7.0, preset("e5m2"), parse_recipe("tensor")).scale, f32(57344.0 / 7.0));
  // amax 0, inf, NaN: scale 1 (TE's initial scale).
  for (double amax : {0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    s = amax_scale(amax, e4m3, parse_recipe("tensor"));
    EXPECT_EQ(s.scale, 1.0);
    EXPECT_EQ(s.scale_inv, 1.0);
  }
  // A tiny amax asks for a scale beyond fp32: clamped to fp32's max and marked.
  s = amax_scale(1e-40, e4m3, parse_recipe("tensor"));
  EXPECT_EQ(s.scale, static_cast<double>(std::numeric_limits<float>::max()));
  EXPECT_TRUE(s.saturated);
}

TEST(mx_scale, ocp_mx_shared_exponent) {
  // OCP MX v1.0 s6.3: shared_exp = floor(log2(amax)) - emax_elem. e4m3 emax = 8.
  Scale s = mx_scale(3.0, preset("e4m3"));
  EXPECT_EQ(s.scale_inv, std::ldexp(1.0, 1 - 8));
  EXPECT_EQ(s.scale, 128.0);
  // e2m1 emax = 2: amax 3 -> X = 2^(1-2) = 0.5; amax 4 -> X = 1; amax 7.9 -> X = 1 (7.9 then clamps to 6).
  EXPECT_EQ(mx_scale(3.0, preset("e2m1")).scale_inv, 0.5);
  EXPECT_EQ(mx_scale(4.0, preset("e2m1")).scale_inv, 1.0);
  EXPECT_EQ(mx_scale(7.9, preset("e2m1")).scale_inv, 1.0);
  // e5m2 emax 15, e3m2 emax 4, e2m3 emax 2.
  EXPECT_EQ(mx_scale(1.0, preset("e5m2")).scale_inv, std::ldexp(1.0, -15));
  EXPECT_EQ(mx_scale(1.0, preset("e3m2")).scale_inv, std::ldexp(1.0, -4));
  EXPECT_EQ(mx_scale(1.0, preset("e2m3")).scale_inv, std::ldexp(1.0, -2));
  // All-zero block: the smallest e8m0 scale. Out of e8m0's range: clamped and marked.
  EXPECT_EQ(mx_scale(0.0, preset("e4m3")).scale_inv, std::ldexp(1.0, -127));
  s = mx_scale(std::ldexp(1.0, -140), preset("e4m3"));
  EXPECT_EQ(s.scale_inv, std::ldexp(1.0, -127));
  EXPECT_TRUE(s.saturated);
  s = mx_scale(std::ldexp(1.0, 200), preset("e2m1"));
  EXPECT_EQ(s.scale_inv, std::ldexp(1.0, 127));
  EXPECT_TRUE(s.saturated);
}

TEST(quantize_with_recipe, mx_block_worked_by_hand) {
  // One 32-element block quantized to MXFP4 (e2m1) by the OCP MX v1.0 s6.3 algorithm:
  // amax = 3 -> X = 0.5; V/X: 3 -> 6, 1 -> 2, 0.7 -> 1.4 -> 1.5, 0.2 -> 0.4 -> 0.5,
  // 0.1 -> 0.2 -> 0 (below the 0.25 midpoint), -2.6 -> -5.2 -> -6 (nearest of 4, 6), 1.25 -> 2.5 -> 2 (tie to even).
  std::vector<double> in(32, 0.0);
  const std::vector<double> head{3.0, 1.0, 0.7, 0.2, 0.1, -2.6, 1.25};
  std::copy(head.begin(), head.end(), in.begin());
  std::vector<double> out(32);
  const ScaleSummary summary =
      quantize_with_recipe(in, out, 1, 32, preset("e2m1"), parse_recipe("mx"), Rounding{});
  const std::vector<double> expected{3.0, 1.0, 0.75, 0.25, 0.0, -3.0, 1.0};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(out[i], expected[i]) << i;
  for (std::size_t i = expected.size(); i < 32; ++i) EXPECT_EQ(out[i], 0.0);
  EXPECT_EQ(summary.count, 1u);
  EXPECT_EQ(summary.scale_inv_min, 0.5);
  // A second block with amax 7.9: X = 1 and 7.9 saturates to 6 (the MX clamp).
  std::vector<double> in2(64, 0.0);
  std::copy(head.begin(), head.end(), in2.begin());
  in2[32] = 7.9;
  in2[33] = -0.3;  // 0.3 -> 0.5 in e2m1 (nearest of 0, 0.5)
  std::vector<double> out2(64);
  const ScaleSummary s2 = quantize_with_recipe(in2, out2, 1, 64, preset("e2m1"), parse_recipe("mx"), Rounding{});
  EXPECT_EQ(out2[32], 6.0);
  EXPECT_EQ(out2[33], -0.5);
  EXPECT_EQ(out2[0], 3.0);  // the first block is unchanged by the second
  EXPECT_EQ(s2.count, 2u);
  EXPECT_EQ(s2.scale_inv_max, 1.0);
}

TEST(quantize_with_recipe, mxfp8_block) {
  // MXFP8 e4m3, amax 3 -> X = 2^-7; 0.1 * 128 = 12.8 -> 13 (ulp 1 in [8, 16)) -> 13/128.
  std::vector<double> in{3.0, 0.1, -1e-6, 0.001};
  std::vector<double> out(4);
  quantize_with_recipe(in, out, 1, 4, preset("e4m3"), parse_recipe("mx"), Rounding{});
  EXPECT_EQ(out[0], 3.0);
  EXPECT_EQ(out[1], 13.0 / 128.0);
  // 1e-6 * 128 = 0.000128 < 2^-10 (half the smallest e4m3 subnormal 2^-9): underflows to -0.
  EXPECT_EQ(out[2], 0.0);
  EXPECT_TRUE(std::signbit(out[2]));
  // 0.001 * 128 = 0.128 in [2^-3, 2^-2): ulp 2^-6 -> 8.192 ulps -> 8 -> 0.125 / 128.
  EXPECT_EQ(out[3], 0.125 / 128.0);
}

TEST(nvfp4, two_level_scales_by_hand) {
  // Tensor amax 2688 = 6 * 448 -> S_enc = 1.
  EXPECT_EQ(nvfp4_tensor_scale(2688.0), 1.0);
  EXPECT_EQ(nvfp4_tensor_scale(0.0), 1.0);
  EXPECT_EQ(nvfp4_tensor_scale(3.0), f32(2688.0 / 3.0));
  // Block amax 3 -> S_dec = 0.5, exact in e4m3; elements are multiplied by 2.
  Scale s = nvfp4_block_scale(3.0, 1.0);
  EXPECT_EQ(s.scale, 2.0);
  EXPECT_EQ(s.scale_inv, 0.5);
  // Block amax 1.8 -> S_dec = 0.3 -> e4m3: 0.3 in [0.25, 0.5), step 2^-5: 9.6 -> 10 -> 0.3125.
  s = nvfp4_block_scale(1.8, 1.0);
  EXPECT_EQ(s.scale_inv, 0.3125);
  EXPECT_EQ(s.scale, f32(1.0 / 0.3125));
  // A tiny block: S_dec = 1e-4 / 6 < 2^-10, rounds to zero: marked, elements become zero.
  s = nvfp4_block_scale(1e-4, 1.0);
  EXPECT_TRUE(s.underflowed);
  EXPECT_EQ(s.scale, 0.0);
  // Elements: 1.8 * 3.2 = 5.76 -> 6 -> 6 * 0.3125 = 1.875 (tensor amax 2688 puts S_enc at 1).
  std::vector<double> in(32, 0.0);
  in[0] = 2688.0;  // first block: amax 2688 -> S_dec = 448
  in[16] = 1.8;
  in[17] = 0.5;    // 0.5 * 3.2 = 1.6 -> 1.5 -> 1.5 * 0.3125 = 0.46875
  std::vector<double> out(32);
  const ScaleSummary summary = quantize_with_recipe(in, out, 1, 32, preset("e2m1"), parse_recipe("nvfp4"), Rounding{});
  EXPECT_EQ(out[0], 2688.0);
  EXPECT_EQ(out[16], 1.875);
  EXPECT_EQ(out[17], 0.46875);
  EXPECT_EQ(summary.count, 2u);
  EXPECT_EQ(summary.saturated, 0u);
}

TEST(quantize_with_recipe, row_col_block_by_hand) {
  // Row recipe, e4m3, pow2 scales: row [1, 0.5, 3, 0.001]: 448/3 -> 128;
  // 0.001 * 128 = 0.128 -> 0.125 -> 0.125/128. Row [0.25, 0, 0, 0]: 448/0.25 = 1792 -> 1024.
  const std::vector<double> in{1.0, 0.5, 3.0, 0.001, 0.25, 0.0, 0.0, 0.0};
  std::vector<double> out(8);
  ScaleSummary s = quantize_with_recipe(in, out, 2, 4, preset("e4m3"), parse_recipe("row:pow2"), Rounding{});
  EXPECT_EQ(out[0], 1.0);
  EXPECT_EQ(out[2], 3.0);
  EXPECT_EQ(out[3], 0.125 / 128.0);
  EXPECT_EQ(out[4], 0.25);
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.scale_min, 128.0);
  EXPECT_EQ(s.scale_max, 1024.0);
  // Column recipe on the same 2x4 array: column 3 = {0.001, 0}: its own scale 448/0.001 -> 2^18, so 0.001 is exact-ish.
  s = quantize_with_recipe(in, out, 2, 4, preset("e4m3"), parse_recipe("col:pow2"), Rounding{});
  EXPECT_EQ(s.count, 4u);
  // 0.001 * 2^18 = 262.144 -> e4m3 in [256, 512) step 32 -> 256 -> 256 / 2^18.
  EXPECT_EQ(out[3], 256.0 / 262144.0);
  // col equals row on the transpose, element for element.
  std::vector<double> transposed{1.0, 0.25, 0.5, 0.0, 3.0, 0.0, 0.001, 0.0};
  std::vector<double> out_t(8);
  quantize_with_recipe(transposed, out_t, 4, 2, preset("e4m3"), parse_recipe("row"), Rounding{});
  quantize_with_recipe(in, out, 2, 4, preset("e4m3"), parse_recipe("col"), Rounding{});
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out[i * 4 + j], out_t[j * 2 + i]);
  }
}

TEST(quantize_with_recipe, block_equals_tensor_recipe_per_block) {
  // block:2x3 on a 4x6 array equals the tensor recipe applied to each 2x3 sub-array.
  std::vector<double> in(24);
  for (int k = 0; k < 24; ++k) in[k] = std::ldexp(1.0 + k * 0.37, (k * 7) % 11 - 5) * (k % 2 ? -1 : 1);
  std::vector<double> out(24);
  const ScaleSummary s = quantize_with_recipe(in, out, 4, 6, preset("e4m3"), parse_recipe("block:2x3"), Rounding{});
  EXPECT_EQ(s.count, 4u);
  for (int br = 0; br < 2; ++br) {
    for (int bc = 0; bc < 2; ++bc) {
      std::vector<double> sub;
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) sub.push_back(in[(br * 2 + i) * 6 + bc * 3 + j]);
      }
      std::vector<double> sub_out(6);
      quantize_with_recipe(sub, sub_out, 2, 3, preset("e4m3"), parse_recipe("tensor"), Rounding{});
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) EXPECT_EQ(out[(br * 2 + i) * 6 + bc * 3 + j], sub_out[i * 3 + j]);
      }
    }
  }
}

TEST(quantize_with_recipe, tensor_and_delayed) {
  const std::vector<double> in{1.0, -2.0, 0.5, 4.0};
  std::vector<double> out(4);
  // Tensor, e4m3: amax 4 -> scale 112; 4 * 112 = 448 -> 448 * fp32(1/112).
  quantize_with_recipe(in, out, 1, 4, preset("e4m3"), parse_recipe("tensor"), Rounding{});
  EXPECT_EQ(out[3], 448.0 * f32(1.0 / 112.0));
  // Delayed with a history amax of 2: scale 224; 4 * 224 = 896 saturates to 448.
  quantize_with_recipe(in, out, 1, 4, preset("e4m3"), parse_recipe("delayed"), Rounding{}, 0, 2.0);
  EXPECT_EQ(out[3], 448.0 * f32(1.0 / 224.0));
  EXPECT_EQ(out[1], -448.0 * f32(1.0 / 224.0));
  // No history: scale 1, the values as e4m3 with saturation.
  const std::vector<double> big{1000.0};
  std::vector<double> one(1);
  quantize_with_recipe(big, one, 1, 1, preset("e4m3"), parse_recipe("delayed"), Rounding{}, 0, -1.0);
  EXPECT_EQ(one[0], 448.0);
  // `none` keeps e4m3's NaN-on-overflow policy.
  quantize_with_recipe(big, one, 1, 1, preset("e4m3"), parse_recipe("none"), Rounding{});
  EXPECT_TRUE(std::isnan(one[0]));
}

TEST(quantize_with_recipe, stochastic_rounding_uses_the_element_index) {
  std::vector<double> in(64);
  for (int k = 0; k < 64; ++k) in[k] = 1.0 + k / 1000.0;
  std::vector<double> out(64);
  const Rounding sr{Mode::sr, 32};
  quantize_with_recipe(in, out, 2, 32, preset("e4m3"), parse_recipe("mx"), sr, 42);
  for (int k = 0; k < 64; ++k) {
    const Scale s = mx_scale(k < 32 ? 1.031 : 1.063, preset("e4m3"));
    const double expected = quantize(in[k] * s.scale, scaled_element_format(preset("e4m3"), parse_recipe("mx")), sr,
                                     sr_random_bits(42, static_cast<std::uint64_t>(k))) * s.scale_inv;
    EXPECT_EQ(out[k], expected) << k;
  }
}

TEST(quantize_with_recipe, size_mismatch_is_an_error) {
  std::vector<double> in(6);
  std::vector<double> out(6);
  try {
    quantize_with_recipe(in, out, 2, 4, preset("e4m3"), parse_recipe("row"), Rounding{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "quantize_with_recipe: 6 inputs, 6 outputs for a 2x4 array");
  }
}

}  // namespace
}  // namespace fpscope

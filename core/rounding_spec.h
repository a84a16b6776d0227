// core/rounding_spec.h: rounding modes as text: "rne", "sr:13", ... parsed and printed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/round.h"

namespace fpscope {

// Parses one rounding-mode spec: rne rna rtz rup rdn rto (IEEE 754-2019 s4.3 plus
// round-to-odd), sr (stochastic, 32 random bits) or sr:N (N = 1..32 random bits,
// NUMERICS.md s2). Throws fpscope::Error naming the spec and listing valid modes.
Rounding parse_rounding(std::string_view spec);

// A comma-separated list of specs ("rne,sr:13"); empty items are errors.
std::vector<Rounding> parse_rounding_list(std::string_view specs);

// The spec parse_rounding() reads back: "rne", "sr" (32 bits) or "sr:N".
std::string rounding_name(Rounding r);

// The valid spellings, for help texts: "rne, rna, rtz, rup, rdn, rto, sr, sr:N (N = 1..32)".
std::string rounding_choices();

}  // namespace fpscope

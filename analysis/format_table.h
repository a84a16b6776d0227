// analysis/format_table.h: the preset table as JSON, shared by `fpscope formats --json` and fpscope.formats().
#pragma once

#include <nlohmann/json.hpp>

#include "core/format.h"

namespace fpscope {

const char* specials_name(Specials s);
const char* overflow_name(Overflow o);

// One preset with every derived property: exact doubles plus C99 hex-float strings.
nlohmann::json preset_json(const Preset& p);

// Every preset, in presets() order.
nlohmann::json format_table_json();

}  // namespace fpscope

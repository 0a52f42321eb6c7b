// The keys a node's settings file may hold, from their one declaration,
// deploy/synth/glue/node_settings.keys (embedded at build time; `ambience run` reads the same
// file through deploy/synth/node_settings.py). Private to the glue library.
#pragma once

#include <string_view>

namespace amb::deploy {

/// True when `key` matches a declared pattern: the same number of dot-separated parts, each
/// equal to the pattern's or, where the pattern's part is upper case (a name), not empty.
bool declared_setting(std::string_view key);

/// Where the keys are declared, for error messages.
inline constexpr std::string_view node_settings_declaration = "deploy/synth/glue/node_settings.keys";

}  // namespace amb::deploy

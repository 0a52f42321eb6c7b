// The node accepts exactly the settings keys declared in node_settings.keys (the same rule as
// deploy/synth/node_settings.py, whose test checks the writer's side).
#include "node_settings_keys.hpp"

#include <gtest/gtest.h>

namespace {

using amb::deploy::declared_setting;

TEST(node_settings_keys, declared_patterns_match_names_in_upper_case_parts_only) {
    EXPECT_TRUE(declared_setting("node"));
    EXPECT_TRUE(declared_setting("call_timeout_ms"));
    EXPECT_TRUE(declared_setting("udp.lan.peer.gateway"));
    EXPECT_TRUE(declared_setting("http_import.outdoor.timeout_ms"));
    EXPECT_TRUE(declared_setting("key.credential.b"));
    EXPECT_FALSE(declared_setting("udp.lan.peers.gateway"));
    EXPECT_FALSE(declared_setting("udp..bind"));
    EXPECT_FALSE(declared_setting("udp.lan.bind.extra"));
    EXPECT_FALSE(declared_setting("udp.lan.bind."));
    EXPECT_FALSE(declared_setting("call_timeout"));
    EXPECT_FALSE(declared_setting(".node"));
    EXPECT_FALSE(declared_setting(""));
}

}  // namespace

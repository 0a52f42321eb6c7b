# The Cap'n Proto anchor of benchmark `lidl`: the logical message "sample" and a message holding
# one string, as a Cap'n Proto user would declare them. Cap'n Proto requires TitleCase type names
# and camelCase field names, so these follow its rules, not the house style. Compiled at build time
# by `capnp compile -oc++` (bench/lidl_anchors/CMakeLists.txt); used only by capnp_anchor.cpp.
@0xf1e1f993ee9c6bfe;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("amb::lidl_anchors::capnp_schema");

struct Sample {
  id @0 :UInt64;
  timestamp @1 :UInt64;
  temperature @2 :Float32;
  humidity @3 :Float32;
  sequence @4 :UInt32;
  flags @5 :UInt16;
  kind @6 :UInt8;
  active @7 :Bool;
  label @8 :Text;
  # Data, not List(UInt8): the two encode alike, and Data is what a user writes for bytes.
  payload @9 :Data;
  tags @10 :List(Text);
}

# The read_string benchmark's message: one string field and nothing else of note.
struct TextMessage {
  text @0 :Text;
}

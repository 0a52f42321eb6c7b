# The Cap'n Proto anchor of benchmark `ipc`: an echo of bytes and a small call of two scalars,
# served over a Unix socketpair by a forked child (capnp_rpc.cpp).
@0xdc689dd3bababe3f;

interface Echo {
  echo @0 (data :Data) -> (data :Data);
  add @1 (a :UInt64, b :UInt64) -> (sum :UInt64);
}

# The Cap'n Proto anchor of benchmark `deploy`: the same small call as adder.lidl, served over a
# TCP connection on 127.0.0.1 by a forked child (bench/deploy_fixtures/capnp_tcp.cpp).
@0x8f3c4964ccd85eca;

interface Adder {
  add @0 (a :UInt64, b :UInt64) -> (sum :UInt64);
}

// The lidl runtime, everything generated code needs: wire types, builder, verifier and service
// support. Generated headers include this one.
#pragma once

#include <lidl/builder.hpp>
#include <lidl/error.hpp>
#include <lidl/service.hpp>
#include <lidl/verifier.hpp>
#include <lidl/wire.hpp>

#include <cstddef>
#include <cstdint>

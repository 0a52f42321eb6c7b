// Checks for broken preconditions and broken invariants.
//
// Two kinds, as in KJ: AMB_REQUIRE(condition, message) when a caller broke a documented
// precondition, AMB_ASSERT(condition, message) when our own invariant broke. Both print the
// file, line, condition and message through the port's console and stop the program; neither
// returns. Neither is ever used on input from outside the program (a network buffer, a token, a
// manifest): such input is validated and rejected with an error value instead.
#pragma once

#include <base/platform.hpp>

#define AMB_REQUIRE(condition, message)                                                       \
    ((condition) ? static_cast<void>(0)                                                       \
                 : ::amb::port::panic("precondition", __FILE__, __LINE__, #condition, message))

#define AMB_ASSERT(condition, message)                                                        \
    ((condition) ? static_cast<void>(0)                                                       \
                 : ::amb::port::panic("invariant", __FILE__, __LINE__, #condition, message))

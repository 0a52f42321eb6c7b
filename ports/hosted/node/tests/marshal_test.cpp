// Frames of the static and dynamic strategies (groups/marshal.hpp): both write the same bytes,
// read back what was written, and reject every malformed slot.
#include <groups/marshal.hpp>

#include "probe.lidl.hpp"

#include <gtest/gtest.h>

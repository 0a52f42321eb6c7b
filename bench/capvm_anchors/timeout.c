/* Timeout constraint: valid until 2026-01-01T00:00:00Z. */
#include "policies.h"

int policy(void) { return now() < 1767225600LL; }

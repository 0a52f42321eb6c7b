/* Compound constraint: a time window (2025), a subnet (10.0.0.0/8) and a battery floor (20%). */
#include "policies.h"

int policy(void) {
    return now() >= 1735689600LL && now() < 1767225600LL &&
           ((unsigned long long)endpoint() >> 24) == 10 && battery() >= 20;
}

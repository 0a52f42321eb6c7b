// Cortex-M4 smoke image: runs every crypto vector check with the mbedTLS backend, reports each
// over UART0 and passes the number of failures back to the host as the exit status through
// semihosting, so that CTest sees pass or fail.
#include <base/platform.hpp>
#include <ports/cortex_m/semihosting.hpp>

#include "crypto_vectors.hpp"

#include <cstdio>

int main() {
    int failures = 0;
    int total = 0;
    amb::port::write_console("ambience cortex-m4 crypto vectors (mbedTLS backend)\n");
    for (const amb::crypto::vectors::check& check : amb::crypto::vectors::all()) {
        bool passed = check.run();
        ++total;
        failures += passed ? 0 : 1;
        char line[128];
        std::snprintf(line, sizeof line, "%s %s\n", passed ? "PASS" : "FAIL", check.name);
        amb::port::write_console(line);
    }
    char summary[96];
    std::snprintf(summary, sizeof summary, "%d of %d checks passed\n", total - failures, total);
    amb::port::write_console(summary);
    amb::ports::cortex_m::semihosting::exit(failures == 0 ? 0 : 1);
}

# Shared build helpers.

# Options for core (portable, freestanding-friendly) libraries: no exceptions, no RTTI, strict
# warnings. Tools, tests and benchmarks do not use this.
function(amb_core_options target)
    target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:-fno-exceptions -fno-rtti>
        -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion)
endfunction()

# Warnings for tests, tools and benchmarks.
function(amb_tool_options target)
    target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()

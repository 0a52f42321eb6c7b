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

# amb_add_fuzzer(NAME target TEST_PREFIX prefix SEEDS seed_target SOURCES ... LIBRARIES ...
#                [INSTRUMENT library ...] [RUN_NAME name] [SECONDS n] [UNIT_TIMEOUT s])
# A libFuzzer target (clang, with ASan and UBSan) and two CTests: `<prefix>.seeds` runs the seed
# writer into the corpus directory, `<prefix>.<RUN_NAME>` (default `verify`) fuzzes from it for
# a bounded time (default 45 s). Libraries listed in INSTRUMENT have their sources compiled into
# the fuzzer (with its coverage and sanitizer flags) instead of being linked as built: code in a
# library built without them is invisible to libFuzzer's coverage and unchecked by ASan.
# UBSan reports are fatal. Every input, seeds included, is bounded too: one that runs longer
# than UNIT_TIMEOUT seconds (default 5) is a failure like a crash. A slow input is a denial of
# service (issue 12: one datagram cost 60-130 s in this build, 2 s in a release build), and a
# bounded total time alone would let it pass unseen. Legitimate inputs take milliseconds
# (docs/fuzzing.md has the slowest seen), so the limit has room for a loaded CI machine. A
# failing input is saved in `<target>_artifacts/` beside the corpus.
function(amb_add_fuzzer)
    cmake_parse_arguments(ARG "" "NAME;SEEDS;TEST_PREFIX;SECONDS;RUN_NAME;UNIT_TIMEOUT"
                          "SOURCES;LIBRARIES;INSTRUMENT" ${ARGN})
    if(NOT ARG_SECONDS)
        set(ARG_SECONDS 45)
    endif()
    if(NOT ARG_RUN_NAME)
        set(ARG_RUN_NAME verify)
    endif()
    if(NOT ARG_UNIT_TIMEOUT)
        set(ARG_UNIT_TIMEOUT 5)
    endif()
    add_executable(${ARG_NAME} ${ARG_SOURCES})
    foreach(library ${ARG_INSTRUMENT})
        get_target_property(library_sources ${library} SOURCES)
        get_target_property(library_dir ${library} SOURCE_DIR)
        foreach(source ${library_sources})
            if(NOT IS_ABSOLUTE ${source})
                set(source ${library_dir}/${source})
            endif()
            target_sources(${ARG_NAME} PRIVATE ${source})
        endforeach()
        target_include_directories(${ARG_NAME} PRIVATE
            $<TARGET_PROPERTY:${library},INCLUDE_DIRECTORIES>)
        target_link_libraries(${ARG_NAME} PRIVATE $<TARGET_PROPERTY:${library},LINK_LIBRARIES>)
    endforeach()
    target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBRARIES})
    # UBSan recovers by default: it would print a report and let the run pass. Fatal, as in the
    # asan preset, so undefined behaviour fails the run like a crash.
    target_compile_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer,address,undefined
                                               -fno-sanitize-recover=undefined)
    target_link_options(${ARG_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
    set(corpus ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_corpus)
    # libFuzzer does not create the directory of its artifact prefix.
    set(artifacts ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}_artifacts)
    file(MAKE_DIRECTORY ${artifacts})
    add_test(NAME ${ARG_TEST_PREFIX}.seeds COMMAND ${ARG_SEEDS} ${corpus})
    set_tests_properties(${ARG_TEST_PREFIX}.seeds PROPERTIES FIXTURES_SETUP ${ARG_NAME}_corpus)
    # A timeout exits with libFuzzer's timeout_exitcode (nonzero), which fails the test; the
    # CTest TIMEOUT is only the backstop for a hang that libFuzzer's alarm cannot interrupt.
    add_test(NAME ${ARG_TEST_PREFIX}.${ARG_RUN_NAME}
             COMMAND ${ARG_NAME} -max_total_time=${ARG_SECONDS} -timeout=${ARG_UNIT_TIMEOUT}
                     -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=${artifacts}/
                     ${corpus})
    set_tests_properties(${ARG_TEST_PREFIX}.${ARG_RUN_NAME} PROPERTIES
        FIXTURES_REQUIRED ${ARG_NAME}_corpus TIMEOUT 120)
endfunction()

# Builds the part of mbedTLS that crypto/ needs from the Debian source package, for bare-metal
# targets. `./ambience setup` fetches it with `apt-get source mbedtls` into .deps/mbedtls.
set(AMB_MBEDTLS_SOURCE_DIR "${PROJECT_SOURCE_DIR}/.deps/mbedtls" CACHE PATH
    "mbedTLS source tree (from apt-get source mbedtls)")
if(NOT EXISTS "${AMB_MBEDTLS_SOURCE_DIR}/library/sha256.c")
    message(FATAL_ERROR "mbedTLS sources not found in ${AMB_MBEDTLS_SOURCE_DIR}; "
                        "run ./ambience setup (it runs apt-get source mbedtls)")
endif()

set(amb_mbedtls_files aes.c bignum.c constant_time.c ecp.c ecp_curves.c platform.c
                      platform_util.c sha256.c)
list(TRANSFORM amb_mbedtls_files PREPEND "${AMB_MBEDTLS_SOURCE_DIR}/library/")
add_library(amb_mbedcrypto STATIC ${amb_mbedtls_files})
target_include_directories(amb_mbedcrypto SYSTEM PUBLIC "${AMB_MBEDTLS_SOURCE_DIR}/include"
                                                        "${PROJECT_SOURCE_DIR}/crypto/mbedtls")
target_compile_definitions(amb_mbedcrypto PUBLIC
    MBEDTLS_CONFIG_FILE="ambience_mbedtls_config.h")
target_compile_options(amb_mbedcrypto PRIVATE -w)

/* mbedTLS configuration for bare-metal Ambience images: only what crypto/ uses (SHA-256,
 * AES with CTR mode, bignum and ECP for Curve25519). No file system, no network, no threads,
 * no platform entropy: randomness comes from the port through amb::port::fill_entropy. */
#ifndef AMBIENCE_MBEDTLS_CONFIG_H
#define AMBIENCE_MBEDTLS_CONFIG_H

#define MBEDTLS_HAVE_ASM
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C

#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER

#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_CIPHER_MODE_CTR

#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NO_INTERNAL_RNG

#include "mbedtls/check_config.h"

#endif

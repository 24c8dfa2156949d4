/* SHA-512 and SHA-256 (FIPS 180-4), written for blindmatch's hot paths: expand_message_xmd
 * (RFC 9380 §5.3.1) and the protocol's 16-byte point digests. Straight-line rounds, no
 * table lookup indexed by data, so the time depends only on the input length. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h[8];
    uint64_t total;  /* bytes absorbed so far */
    uint8_t buf[128];
    size_t used;
} bm_sha512;

typedef struct {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} bm_sha256;

void bm_sha512_init(bm_sha512 *c);
void bm_sha512_update(bm_sha512 *c, const uint8_t *data, size_t len);
void bm_sha512_final(bm_sha512 *c, uint8_t out[64]);

void bm_sha256_init(bm_sha256 *c);
void bm_sha256_update(bm_sha256 *c, const uint8_t *data, size_t len);
void bm_sha256_final(bm_sha256 *c, uint8_t out[32]);

/* Helpers shared by the portable and the AVX2 batch code (not part of the module's API). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "bm_curve.h"
#include "bm_fe51.h"
#include "bm_sha2.h"

typedef struct {
    fe sqrt_m1, c2, neg_a;
} bm_consts_t;

/* Field constants of RFC 9380 G.2.1, loaded by bm_curve_init. */
extern bm_consts_t bm_K;

void bm_batch_invert(fe *z, fe *scratch, size_t n);
void bm_affine_bytes(const fe *xs, fe *zs, fe *scratch, size_t m, uint8_t *out);
void bm_clamp(uint8_t k[32], const uint8_t scalar[32]);
void bm_zpad_state(bm_sha512 *c);
/* A 48-byte big-endian value (hash_to_field's OS2IP) reduced to a carried field element. */
void bm_fe_from_be48(fe *h, const uint8_t be[48]);
void bm_field_pair(const bm_h2c_job *job, const bm_sha512 *zpad, size_t i, fe *u0, fe *u1);

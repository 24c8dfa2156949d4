/* Arithmetic modulo p = 2^255 - 19, portable 64-bit: five limbs of 51 bits (radix 2^51),
 * products in unsigned __int128. Every function runs a fixed sequence of operations; nothing
 * branches on or indexes by a value.
 *
 * Limb bounds: fe_mul/fe_sq/fe_mul_small/fe_carry return limbs below 2^51 + 2^13; fe_add of
 * two such values gives limbs below 2^52.1 and fe_sub (which adds 2p first) below 2^53. The
 * multiplications accept limbs up to 2^54, so an add or sub may feed a product directly, but
 * a sum must be carried (fe_carry) before it is added to or subtracted from again. */
#pragma once

#include <stdint.h>
#include <string.h>

typedef struct { uint64_t v[5]; } fe;
typedef unsigned __int128 u128;

#define FE_M51 ((uint64_t)0x7ffffffffffffULL)

static inline uint64_t bm_load64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);  /* little-endian machines only; setup.py builds on x86-64/aarch64 */
    return v;
}

static inline void fe_0(fe *h) { memset(h, 0, sizeof *h); }
static inline void fe_1(fe *h) { fe_0(h); h->v[0] = 1; }
static inline void fe_copy(fe *h, const fe *f) { *h = *f; }

/* u-coordinate bytes to a field element; bit 255 is ignored (RFC 7748 §5) and values in
 * [p, 2^255) are accepted (they are reduced by the arithmetic). */
static inline void fe_frombytes(fe *h, const uint8_t s[32]) {
    h->v[0] = bm_load64(s) & FE_M51;
    h->v[1] = (bm_load64(s + 6) >> 3) & FE_M51;
    h->v[2] = (bm_load64(s + 12) >> 6) & FE_M51;
    h->v[3] = (bm_load64(s + 19) >> 1) & FE_M51;
    h->v[4] = (bm_load64(s + 24) >> 12) & FE_M51;
}

static inline void fe_carry(fe *h) {
    uint64_t c;
    c = h->v[0] >> 51; h->v[0] &= FE_M51; h->v[1] += c;
    c = h->v[1] >> 51; h->v[1] &= FE_M51; h->v[2] += c;
    c = h->v[2] >> 51; h->v[2] &= FE_M51; h->v[3] += c;
    c = h->v[3] >> 51; h->v[3] &= FE_M51; h->v[4] += c;
    c = h->v[4] >> 51; h->v[4] &= FE_M51; h->v[0] += 19 * c;
}

/* The canonical value (in [0, p)) as limbs below 2^51. */
static inline void fe_reduce(fe *h) {
    fe_carry(h);
    fe_carry(h);
    uint64_t q = (h->v[0] + 19) >> 51;
    q = (h->v[1] + q) >> 51;
    q = (h->v[2] + q) >> 51;
    q = (h->v[3] + q) >> 51;
    q = (h->v[4] + q) >> 51;  /* 1 iff h >= p */
    h->v[0] += 19 * q;
    uint64_t c;
    c = h->v[0] >> 51; h->v[0] &= FE_M51; h->v[1] += c;
    c = h->v[1] >> 51; h->v[1] &= FE_M51; h->v[2] += c;
    c = h->v[2] >> 51; h->v[2] &= FE_M51; h->v[3] += c;
    c = h->v[3] >> 51; h->v[3] &= FE_M51; h->v[4] += c;
    h->v[4] &= FE_M51;
}

static inline void fe_tobytes(uint8_t s[32], const fe *f) {
    fe h = *f;
    fe_reduce(&h);
    uint64_t w0 = h.v[0] | (h.v[1] << 51);
    uint64_t w1 = (h.v[1] >> 13) | (h.v[2] << 38);
    uint64_t w2 = (h.v[2] >> 26) | (h.v[3] << 25);
    uint64_t w3 = (h.v[3] >> 39) | (h.v[4] << 12);
    memcpy(s, &w0, 8); memcpy(s + 8, &w1, 8); memcpy(s + 16, &w2, 8); memcpy(s + 24, &w3, 8);
}

static inline void fe_add(fe *h, const fe *f, const fe *g) {
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + g->v[i];
}

/* f - g + 2p, limb by limb (g's limbs must be below 2^52). */
static inline void fe_sub(fe *h, const fe *f, const fe *g) {
    h->v[0] = f->v[0] + 0xfffffffffffdaULL - g->v[0];
    h->v[1] = f->v[1] + 0xffffffffffffeULL - g->v[1];
    h->v[2] = f->v[2] + 0xffffffffffffeULL - g->v[2];
    h->v[3] = f->v[3] + 0xffffffffffffeULL - g->v[3];
    h->v[4] = f->v[4] + 0xffffffffffffeULL - g->v[4];
}

static inline void fe_neg(fe *h, const fe *f) {
    fe z;
    fe_0(&z);
    fe_sub(h, &z, f);
    fe_carry(h);
}

static inline void fe_carry128(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4) {
    r1 += r0 >> 51;
    uint64_t h0 = (uint64_t)r0 & FE_M51;
    r2 += r1 >> 51;
    uint64_t h1 = (uint64_t)r1 & FE_M51;
    r3 += r2 >> 51;
    uint64_t h2 = (uint64_t)r2 & FE_M51;
    r4 += r3 >> 51;
    uint64_t h3 = (uint64_t)r3 & FE_M51;
    uint64_t c = (uint64_t)(r4 >> 51);
    uint64_t h4 = (uint64_t)r4 & FE_M51;
    h0 += c * 19;
    h1 += h0 >> 51;
    h0 &= FE_M51;
    h->v[0] = h0; h->v[1] = h1; h->v[2] = h2; h->v[3] = h3; h->v[4] = h4;
}

static inline void fe_mul(fe *h, const fe *f, const fe *g) {
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    u128 r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
    u128 r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
    u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
    u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
    u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
    fe_carry128(h, r0, r1, r2, r3, r4);
}

static inline void fe_sq(fe *h, const fe *f) {
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f3_19 = 19 * f3, f4_19 = 19 * f4;
    u128 r0 = (u128)f0 * f0 + (u128)f1_2 * f4_19 + (u128)(2 * f2) * f3_19;
    u128 r1 = (u128)f0_2 * f1 + (u128)(2 * f2) * f4_19 + (u128)f3 * f3_19;
    u128 r2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)(2 * f3) * f4_19;
    u128 r3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4 * f4_19;
    u128 r4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;
    fe_carry128(h, r0, r1, r2, r3, r4);
}

static inline void fe_sqn(fe *h, const fe *f, int n) {
    fe_sq(h, f);
    for (int i = 1; i < n; i++) fe_sq(h, h);
}

static inline void fe_mul_small(fe *h, const fe *f, uint64_t k) {
    fe_carry128(h, (u128)f->v[0] * k, (u128)f->v[1] * k, (u128)f->v[2] * k, (u128)f->v[3] * k,
                (u128)f->v[4] * k);
}

/* Swap f and g when bit is 1, by masks. */
static inline void fe_cswap(fe *f, fe *g, uint64_t bit) {
    uint64_t mask = (uint64_t)0 - bit;
    for (int i = 0; i < 5; i++) {
        uint64_t t = mask & (f->v[i] ^ g->v[i]);
        f->v[i] ^= t;
        g->v[i] ^= t;
    }
}

/* h = g when bit is 1 (h unchanged otherwise), by masks. */
static inline void fe_cmov(fe *h, const fe *g, uint64_t bit) {
    uint64_t mask = (uint64_t)0 - bit;
    for (int i = 0; i < 5; i++) h->v[i] ^= mask & (h->v[i] ^ g->v[i]);
}

/* 1 if f == 0 (mod p), else 0, without branching. */
static inline uint64_t fe_iszero(const fe *f) {
    uint8_t s[32];
    fe_tobytes(s, f);
    uint64_t acc = 0;
    for (int i = 0; i < 32; i++) acc |= s[i];
    return ((acc - 1) >> 63) & 1;  /* acc in [0, 255]: acc - 1 wraps only for 0 */
}

static inline uint64_t fe_equal(const fe *f, const fe *g) {
    fe d;
    fe_sub(&d, f, g);
    return fe_iszero(&d);
}

/* sgn0 of RFC 9380 §4.1 for GF(p): the parity of the canonical value. */
static inline uint64_t fe_sgn0(const fe *f) {
    fe h = *f;
    fe_reduce(&h);
    return h.v[0] & 1;
}

/* z^(2^250 - 1) and z^11, the common start of the inversion and square-root chains. */
static inline void fe_pow_2_250_1(fe *out, fe *z11, const fe *z) {
    fe t0, t1, t2;
    fe_sq(&t0, z);              /* z^2 */
    fe_sqn(&t1, &t0, 2);        /* z^8 */
    fe_mul(&t1, &t1, z);        /* z^9 */
    fe_mul(z11, &t0, &t1);      /* z^11 */
    fe_sq(&t0, z11);            /* z^22 */
    fe_mul(&t0, &t0, &t1);      /* z^31 = z^(2^5 - 1) */
    fe_sqn(&t1, &t0, 5);
    fe_mul(&t0, &t1, &t0);      /* 2^10 - 1 */
    fe_sqn(&t1, &t0, 10);
    fe_mul(&t1, &t1, &t0);      /* 2^20 - 1 */
    fe_sqn(&t2, &t1, 20);
    fe_mul(&t1, &t2, &t1);      /* 2^40 - 1 */
    fe_sqn(&t1, &t1, 10);
    fe_mul(&t0, &t1, &t0);      /* 2^50 - 1 */
    fe_sqn(&t1, &t0, 50);
    fe_mul(&t1, &t1, &t0);      /* 2^100 - 1 */
    fe_sqn(&t2, &t1, 100);
    fe_mul(&t1, &t2, &t1);      /* 2^200 - 1 */
    fe_sqn(&t1, &t1, 50);
    fe_mul(out, &t1, &t0);      /* 2^250 - 1 */
}

/* z^(p - 2) = z^(2^255 - 21): the inverse (0 for 0). */
static inline void fe_invert(fe *out, const fe *z) {
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 5);          /* 2^255 - 32 */
    fe_mul(out, &t, &z11);      /* 2^255 - 21 */
}

/* z^((p - 5) / 8) = z^(2^252 - 3), the exponent of RFC 9380 G.2.1 (c4). */
static inline void fe_pow_p58(fe *out, const fe *z) {
    fe t, z11;
    fe_pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 2);          /* 2^252 - 4 */
    fe_mul(out, &t, z);         /* 2^252 - 3 */
}

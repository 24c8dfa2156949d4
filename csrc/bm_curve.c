/* Portable batch X25519 and hash-to-curve (see bm_curve.h). Constant time with respect to
 * the scalar and the messages' hashes: fixed operation sequences, swaps and selections by
 * masks. Only lengths (message sizes, batch sizes) shape the control flow. */
#include "bm_curve.h"

#include <string.h>

#include "bm_consts.h"
#include "bm_fe51.h"
#include "bm_internal.h"
#include "bm_sha2.h"

/* --- shared helpers ----------------------------------------------------------------------- */

/* Montgomery's trick: z[i] <- 1/z[i] for all i with one inversion; a zero stays zero (it is
 * replaced by 1 in the product, by masks, and its result masked back to 0). */
void bm_batch_invert(fe *z, fe *scratch, size_t n) {
    fe acc;
    fe_1(&acc);
    uint64_t zero[BM_BLOCK];
    for (size_t i = 0; i < n; i++) {
        fe one;
        fe_1(&one);
        zero[i] = fe_iszero(&z[i]);
        fe_cmov(&z[i], &one, zero[i]);
        scratch[i] = acc;             /* product of z[0..i) */
        fe_mul(&acc, &acc, &z[i]);
    }
    fe inv;
    fe_invert(&inv, &acc);
    for (size_t i = n; i-- > 0;) {
        fe zi = z[i], zero_fe;
        fe_mul(&z[i], &inv, &scratch[i]);
        fe_mul(&inv, &inv, &zi);
        fe_0(&zero_fe);
        fe_cmov(&z[i], &zero_fe, zero[i]);
    }
}

/* The 32-byte u = x / z of m projective points, one inversion for the block (every path's
 * batches end here). zs is overwritten. */
void bm_affine_bytes(const fe *xs, fe *zs, fe *scratch, size_t m, uint8_t *out) {
    bm_batch_invert(zs, scratch, m);
    for (size_t i = 0; i < m; i++) {
        fe r;
        fe_mul(&r, &xs[i], &zs[i]);
        fe_tobytes(out + 32 * i, &r);
    }
}

/* x-only doubling with the RFC 7748 §5 ladder formulas (a24 = 121665). */
static inline void x_double(fe *x, fe *z) {
    fe a, b, aa, bb, e, t;
    fe_add(&a, x, z);
    fe_sub(&b, x, z);
    fe_sq(&aa, &a);
    fe_sq(&bb, &b);
    fe_mul(x, &aa, &bb);
    fe_sub(&e, &aa, &bb);
    fe_mul_small(&t, &e, 121665);
    fe_add(&t, &t, &aa);
    fe_mul(z, &e, &t);
}

/* --- X25519 --------------------------------------------------------------------------------- */

/* The RFC 7748 §5 ladder on a clamped scalar: (x2 : z2) = k * u, projective. */
static void ladder(fe *x2_out, fe *z2_out, const uint8_t k[32], const fe *u) {
    fe x1 = *u, x2, z2, x3 = *u, z3;
    fe_1(&x2);
    fe_0(&z2);
    fe_1(&z3);
    uint64_t swap = 0;
    for (int t = 254; t >= 0; t--) {
        uint64_t kt = (k[t >> 3] >> (t & 7)) & 1;
        swap ^= kt;
        fe_cswap(&x2, &x3, swap);
        fe_cswap(&z2, &z3, swap);
        swap = kt;
        fe a, aa, b, bb, e, c, d, da, cb, t0;
        fe_add(&a, &x2, &z2);
        fe_sq(&aa, &a);
        fe_sub(&b, &x2, &z2);
        fe_sq(&bb, &b);
        fe_sub(&e, &aa, &bb);
        fe_add(&c, &x3, &z3);
        fe_sub(&d, &x3, &z3);
        fe_mul(&da, &d, &a);
        fe_mul(&cb, &c, &b);
        fe_add(&t0, &da, &cb);
        fe_sq(&x3, &t0);
        fe_sub(&t0, &da, &cb);
        fe_sq(&t0, &t0);
        fe_mul(&z3, &x1, &t0);
        fe_mul(&x2, &aa, &bb);
        fe_mul_small(&t0, &e, 121665);
        fe_add(&t0, &t0, &aa);
        fe_mul(&z2, &e, &t0);
    }
    fe_cswap(&x2, &x3, swap);
    fe_cswap(&z2, &z3, swap);
    *x2_out = x2;
    *z2_out = z2;
}

void bm_clamp(uint8_t k[32], const uint8_t scalar[32]) {
    memcpy(k, scalar, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
}

void bm_x25519_batch_portable(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                              size_t n) {
    uint8_t k[32];
    bm_clamp(k, scalar);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = 0; base < n; base += BM_BLOCK) {
        size_t m = n - base < BM_BLOCK ? n - base : BM_BLOCK;
        for (size_t i = 0; i < m; i++) {
            fe u;
            fe_frombytes(&u, points + 32 * (base + i));
            ladder(&xs[i], &zs[i], k, &u);
        }
        bm_affine_bytes(xs, zs, scratch, m, out + 32 * base);
    }
    memset(k, 0, sizeof k);
}

/* --- hash_to_field (RFC 9380 §5.2, §5.3.1) ---------------------------------------------- */

/* OS2IP of 48 big-endian bytes, reduced mod p: value = lo + 2^255 hi = lo + 19 hi. */
void bm_fe_from_be48(fe *h, const uint8_t be[48]) {
    uint8_t le[48];
    for (int i = 0; i < 48; i++) le[i] = be[47 - i];
    fe_frombytes(h, le);
    uint64_t a = bm_load64(le + 32), b = bm_load64(le + 40);
    uint64_t h0 = ((uint64_t)(le[31] >> 7) | (a << 1)) & FE_M51;
    uint64_t h1 = ((a >> 50) | (b << 14)) & FE_M51;
    uint64_t h2 = b >> 37;
    h->v[0] += 19 * h0;
    h->v[1] += 19 * h1;
    h->v[2] += 19 * h2;
    fe_carry(h);
}

/* SHA-512 state after absorbing Z_pad (one 128-byte block of zeros). */
void bm_zpad_state(bm_sha512 *c) {
    static const uint8_t zeros[128] = {0};
    bm_sha512_init(c);
    bm_sha512_update(c, zeros, sizeof zeros);
}

static void expand_96(const bm_h2c_job *job, const bm_sha512 *zpad, size_t i, uint8_t uniform[96]) {
    static const uint8_t tail0[3] = {0x00, 0x60, 0x00};  /* I2OSP(96, 2) || I2OSP(0, 1) */
    uint8_t b0[64], b1[64], b2[64], mix[64];
    bm_sha512 c = *zpad;
    bm_sha512_update(&c, job->msgs[i], job->lens[i]);
    bm_sha512_update(&c, tail0, 3);
    bm_sha512_update(&c, job->dst_prime, job->dst_prime_len);
    bm_sha512_final(&c, b0);
    uint8_t idx = 1;
    bm_sha512_init(&c);
    bm_sha512_update(&c, b0, 64);
    bm_sha512_update(&c, &idx, 1);
    bm_sha512_update(&c, job->dst_prime, job->dst_prime_len);
    bm_sha512_final(&c, b1);
    for (int j = 0; j < 64; j++) mix[j] = b0[j] ^ b1[j];
    idx = 2;
    bm_sha512_init(&c);
    bm_sha512_update(&c, mix, 64);
    bm_sha512_update(&c, &idx, 1);
    bm_sha512_update(&c, job->dst_prime, job->dst_prime_len);
    bm_sha512_final(&c, b2);
    memcpy(uniform, b1, 64);
    memcpy(uniform + 64, b2, 32);
}

void bm_field_pair(const bm_h2c_job *job, const bm_sha512 *zpad, size_t i, fe *u0, fe *u1) {
    uint8_t uniform[96];
    expand_96(job, zpad, i, uniform);
    bm_fe_from_be48(u0, uniform);
    bm_fe_from_be48(u1, uniform + 48);
}

void bm_hash_to_field(const bm_h2c_job *job, size_t i, uint8_t u0[32], uint8_t u1[32]) {
    bm_sha512 zpad;
    fe a, b;
    bm_zpad_state(&zpad);
    bm_field_pair(job, &zpad, i, &a, &b);
    fe_tobytes(u0, &a);
    fe_tobytes(u1, &b);
}

/* --- Elligator 2 (RFC 9380 §6.7.1, the straight-line curve25519 map of Appendix G.2.1) -- */

bm_consts_t bm_K;

void bm_curve_init(void) {
    fe_frombytes(&bm_K.sqrt_m1, BM_FE_SQRT_M1);
    fe_frombytes(&bm_K.c2, BM_FE_ELL2_C2);
    fe_frombytes(&bm_K.neg_a, BM_FE_NEG_A);
}

/* (xn / xd, y) on curve25519 for the field element u. */
static void elligator2(fe *xn, fe *xd, fe *y, const fe *u) {
    fe tv1, tv2, tv3, gxd, gx1, gx2, y11, y12, y21, y22, y1, y2, x1n, x2n, t;
    fe_sq(&tv1, u);
    fe_add(&tv1, &tv1, &tv1);             /* 2 u^2 */
    fe_carry(&tv1);
    fe one;
    fe_1(&one);
    fe_add(xd, &tv1, &one);               /* 1 + 2 u^2 */
    fe_carry(xd);
    x1n = bm_K.neg_a;                        /* -A */
    fe_sq(&tv2, xd);
    fe_mul(&gxd, &tv2, xd);               /* xd^3 */
    fe_mul_small(&gx1, &tv1, 486662);     /* x1n + A xd = A tv1 */
    fe_mul(&gx1, &gx1, &x1n);
    fe_add(&gx1, &gx1, &tv2);
    fe_mul(&gx1, &gx1, &x1n);             /* x1n^3 + A x1n^2 xd + x1n xd^2 */
    fe_sq(&tv3, &gxd);
    fe_sq(&tv2, &tv3);                    /* gxd^4 */
    fe_mul(&tv3, &tv3, &gxd);             /* gxd^3 */
    fe_mul(&tv3, &tv3, &gx1);             /* gx1 gxd^3 */
    fe_mul(&tv2, &tv2, &tv3);             /* gx1 gxd^7 */
    fe_pow_p58(&y11, &tv2);
    fe_mul(&y11, &y11, &tv3);
    fe_mul(&y12, &y11, &bm_K.sqrt_m1);
    fe_sq(&tv2, &y11);
    fe_mul(&tv2, &tv2, &gxd);
    uint64_t e1 = fe_equal(&tv2, &gx1);
    y1 = y12;
    fe_cmov(&y1, &y11, e1);
    fe_mul(&x2n, &x1n, &tv1);
    fe_mul(&y21, &y11, u);
    fe_mul(&y21, &y21, &bm_K.c2);
    fe_mul(&y22, &y21, &bm_K.sqrt_m1);
    fe_mul(&gx2, &gx1, &tv1);
    fe_sq(&tv2, &y21);
    fe_mul(&tv2, &tv2, &gxd);
    uint64_t e2 = fe_equal(&tv2, &gx2);
    y2 = y22;
    fe_cmov(&y2, &y21, e2);
    fe_sq(&tv2, &y1);
    fe_mul(&tv2, &tv2, &gxd);
    uint64_t e3 = fe_equal(&tv2, &gx1);
    *xn = x2n;
    fe_cmov(xn, &x1n, e3);
    *y = y2;
    fe_cmov(y, &y1, e3);
    uint64_t e4 = fe_sgn0(y);
    fe_neg(&t, y);
    fe_cmov(y, &t, e3 ^ e4);
}

void bm_elligator2_x(const uint8_t u_bytes[32], uint8_t out[32]) {
    fe u, xn, xd, y, inv, x;
    fe_frombytes(&u, u_bytes);  /* decodeUCoordinate: bit 255 cleared, reduced by the arithmetic */
    elligator2(&xn, &xd, &y, &u);
    fe_invert(&inv, &xd);
    fe_mul(&x, &xn, &inv);
    fe_tobytes(out, &x);
}

/* u(8 (Q0 + Q1)) as (X : Z) for the two Elligator points of one message. */
static void h2c_projective(fe *X, fe *Z, const fe *u0, const fe *u1) {
    fe xn0, xd0, y0, xn1, xd1, y1;
    elligator2(&xn0, &xd0, &y0, u0);
    elligator2(&xn1, &xd1, &y1, u1);
    /* x0 = xn0/xd0, x1 = xn1/xd1; with D = xn1 xd0 - xn0 xd1, E = xd0 xd1, N = y1 - y0,
     * S = xn0 xd1 + xn1 xd0: u(Q0 + Q1) = (N^2 E^3 - (A E + S) D^2) / (D^2 E). */
    fe a0, a1, d, e, n, s, d2, e3, t, x, z;
    fe_mul(&a0, &xn0, &xd1);
    fe_mul(&a1, &xn1, &xd0);
    fe_sub(&d, &a1, &a0);
    fe_add(&s, &a0, &a1);
    fe_mul(&e, &xd0, &xd1);
    fe_sub(&n, &y1, &y0);
    fe_sq(&d2, &d);
    fe_sq(&e3, &e);
    fe_mul(&e3, &e3, &e);
    fe_sq(&t, &n);
    fe_mul(&x, &t, &e3);                  /* N^2 E^3 */
    fe_mul_small(&t, &e, 486662);
    fe_carry(&s);
    fe_add(&t, &t, &s);                   /* A E + S */
    fe_mul(&t, &t, &d2);
    fe_sub(&x, &x, &t);
    fe_carry(&x);
    fe_mul(&z, &d2, &e);
    /* x0 = x1 and y0 = y1 (Q1 = Q0): the sum is the double of Q0. (x0 = x1 with y0 = -y1
     * gives Z = 0, the identity, through the formula above already.) */
    fe dx = xn0, dz = xd0;
    x_double(&dx, &dz);
    uint64_t same = fe_iszero(&d) & fe_iszero(&n);
    fe_cmov(&x, &dx, same);
    fe_cmov(&z, &dz, same);
    for (int i = 0; i < 3; i++) x_double(&x, &z);  /* clear_cofactor: h_eff = 8 */
    *X = x;
    *Z = z;
}

void bm_h2c_batch_portable(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out) {
    bm_sha512 zpad;
    bm_zpad_state(&zpad);
    fe xs[BM_BLOCK], zs[BM_BLOCK], scratch[BM_BLOCK];
    for (size_t base = start; base < stop; base += BM_BLOCK) {
        size_t m = stop - base < BM_BLOCK ? stop - base : BM_BLOCK;
        for (size_t i = 0; i < m; i++) {
            fe u0, u1;
            bm_field_pair(job, &zpad, base + i, &u0, &u1);
            h2c_projective(&xs[i], &zs[i], &u0, &u1);
        }
        bm_affine_bytes(xs, zs, scratch, m, out + 32 * (base - start));
    }
}

/* Batch curve25519 work for blindmatch: X25519 with one scalar over many points, and RFC 9380
 * hash-to-curve (curve25519_XMD:SHA-512_ELL2_RO_) over many messages. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* out[i] = X25519(scalar, points[i]) for n 32-byte points (RFC 7748 §5). An input whose
 * result is the identity gives 32 zero bytes (the caller rejects those, §6.1). */
void bm_x25519_batch_portable(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                              size_t n);

/* The messages of a hash-to-curve batch. */
typedef struct {
    const uint8_t *const *msgs;
    const size_t *lens;
    const uint8_t *dst_prime;  /* DST || I2OSP(len(DST), 1), DST already shortened (§5.3.3) */
    size_t dst_prime_len;
} bm_h2c_job;

/* out[i] = hash_to_curve(message i) = u(8 (map(u0) + map(u1))), for i in [start, stop); the
 * identity encodes as 32 zero bytes. */
void bm_h2c_batch_portable(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out);

/* The u-coordinate of map_to_curve_elligator2(u) (RFC 9380 §6.7.1) for 32 bytes read as RFC
 * 7748's decodeUCoordinate: CPace's generator (draft-irtf-cfrg-cpace-21 §8.2). Constant time. */
void bm_elligator2_x(const uint8_t u_bytes[32], uint8_t out[32]);

/* u0, u1 of message i (hash_to_field, count 2), as 32-byte canonical little-endian values. */
void bm_hash_to_field(const bm_h2c_job *job, size_t i, uint8_t u0[32], uint8_t u1[32]);

/* Loads the field constants; call once before any other function. */
void bm_curve_init(void);

/* Points per block: the unit of batch inversion. */
#define BM_BLOCK 64


/* The AVX2 path (bm_avx2.c, x86-64 only): four points per ladder / per Elligator map. Only
 * call these when the CPU has AVX2 (the module checks __builtin_cpu_supports). */
void bm_avx2_init(void);
void bm_x25519_batch_avx2(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                          size_t n);
void bm_h2c_batch_avx2(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out);

/* The AVX-512 IFMA path (bm_ifma.c, x86-64 with a compiler that has the intrinsics): eight
 * points per ladder / per Elligator map. Only call these when the module's check found
 * avx512f + avx512ifma on the CPU and ZMM state enabled by the OS. */
void bm_ifma_init(void);
void bm_x25519_batch_ifma(const uint8_t scalar[32], const uint8_t *points, uint8_t *out,
                          size_t n);
void bm_h2c_batch_ifma(const bm_h2c_job *job, size_t start, size_t stop, uint8_t *out);

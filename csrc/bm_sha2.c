/* SHA-512 / SHA-256 per FIPS 180-4 §6.2 and §6.4; constants generated into bm_consts.h. */
#include "bm_sha2.h"

#include <string.h>

#include "bm_consts.h"

static inline uint64_t ror64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }
static inline uint32_t ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint64_t be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}
static inline uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; }
}
static inline void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static void sha512_block(uint64_t h[8], const uint8_t *block) {
    uint64_t w[80];
    for (int t = 0; t < 16; t++) w[t] = be64(block + 8 * t);
    for (int t = 16; t < 80; t++) {
        uint64_t s0 = ror64(w[t - 15], 1) ^ ror64(w[t - 15], 8) ^ (w[t - 15] >> 7);
        uint64_t s1 = ror64(w[t - 2], 19) ^ ror64(w[t - 2], 61) ^ (w[t - 2] >> 6);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint64_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 80; t++) {
        uint64_t S1 = ror64(e, 14) ^ ror64(e, 18) ^ ror64(e, 41);
        uint64_t ch = (e & f) ^ (~e & g);
        uint64_t t1 = k + S1 + ch + BM_SHA512_K[t] + w[t];
        uint64_t S0 = ror64(a, 28) ^ ror64(a, 34) ^ ror64(a, 39);
        uint64_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint64_t t2 = S0 + maj;
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void bm_sha512_init(bm_sha512 *c) {
    memcpy(c->h, BM_SHA512_IV, sizeof c->h);
    c->total = 0;
    c->used = 0;
}

void bm_sha512_update(bm_sha512 *c, const uint8_t *data, size_t len) {
    c->total += len;
    if (c->used) {
        size_t take = 128 - c->used;
        if (take > len) take = len;
        memcpy(c->buf + c->used, data, take);
        c->used += take; data += take; len -= take;
        if (c->used < 128) return;
        sha512_block(c->h, c->buf);
        c->used = 0;
    }
    while (len >= 128) { sha512_block(c->h, data); data += 128; len -= 128; }
    memcpy(c->buf, data, len);
    c->used = len;
}

void bm_sha512_final(bm_sha512 *c, uint8_t out[64]) {
    uint64_t bits = c->total * 8;
    c->buf[c->used++] = 0x80;
    if (c->used > 112) {
        memset(c->buf + c->used, 0, 128 - c->used);
        sha512_block(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, 120 - c->used);  /* high 64 bits of the 128-bit length: 0 */
    put_be64(c->buf + 120, bits);
    sha512_block(c->h, c->buf);
    for (int i = 0; i < 8; i++) put_be64(out + 8 * i, c->h[i]);
}

static void sha256_block(uint32_t h[8], const uint8_t *block) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) w[t] = be32(block + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = ror32(w[t - 15], 7) ^ ror32(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = ror32(w[t - 2], 17) ^ ror32(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + BM_SHA256_K[t] + w[t];
        uint32_t S0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void bm_sha256_init(bm_sha256 *c) {
    memcpy(c->h, BM_SHA256_IV, sizeof c->h);
    c->total = 0;
    c->used = 0;
}

void bm_sha256_update(bm_sha256 *c, const uint8_t *data, size_t len) {
    c->total += len;
    if (c->used) {
        size_t take = 64 - c->used;
        if (take > len) take = len;
        memcpy(c->buf + c->used, data, take);
        c->used += take; data += take; len -= take;
        if (c->used < 64) return;
        sha256_block(c->h, c->buf);
        c->used = 0;
    }
    while (len >= 64) { sha256_block(c->h, data); data += 64; len -= 64; }
    memcpy(c->buf, data, len);
    c->used = len;
}

void bm_sha256_final(bm_sha256 *c, uint8_t out[32]) {
    uint64_t bits = c->total * 8;
    c->buf[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->buf + c->used, 0, 64 - c->used);
        sha256_block(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, 56 - c->used);
    put_be64(c->buf + 56, bits);
    sha256_block(c->h, c->buf);
    for (int i = 0; i < 8; i++) put_be32(out + 4 * i, c->h[i]);
}

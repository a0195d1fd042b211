/*
 * sim/rng.c - xoshiro256** streams (Blackman & Vigna), seeded through
 * splitmix64 from the run seed XOR a 64-bit FNV-1a hash of the stream name.
 */
#include "sim/rng.h"

/* 64-bit FNV-1a of a NUL-terminated string (NULL hashes like ""). */
static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;

    if (s)
        for (; *s; s++) {
            h ^= (unsigned char)*s;
            h *= 0x100000001b3ull;
        }
    return h;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void sim_rng_seed(sim_rng_t *rng, uint64_t seed, const char *stream)
{
    uint64_t x = seed ^ fnv1a64(stream);

    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
        rng->s[0] = 1; /* the all-zero state is a fixed point */
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_u64(sim_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double sim_rng_double(sim_rng_t *rng)
{
    return (double)(sim_rng_u64(rng) >> 11) * 0x1.0p-53;
}

/*
 * Lemire's nearly-divisionless method: the high word of x * n is uniform in
 * [0, n) once the low words below 2^64 mod n are rejected.
 */
uint64_t sim_rng_below(sim_rng_t *rng, uint64_t n)
{
    if (n == 0)
        return 0;
#ifdef __SIZEOF_INT128__
    __extension__ typedef unsigned __int128 u128;
    u128 m = (u128)sim_rng_u64(rng) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = (0 - n) % n;
        while (lo < t) {
            m = (u128)sim_rng_u64(rng) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
#else
    uint64_t t = (0 - n) % n; /* 2^64 mod n */
    for (;;) {
        uint64_t x = sim_rng_u64(rng);
        if (x >= t)
            return x % n;
    }
#endif
}

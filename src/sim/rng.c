/* rng.c - the simulator's only source of randomness.
 *
 * A stream is xoshiro256** seeded through splitmix64 from (seed, stream), so
 * the network, the faults, the clients and each node's core draw from
 * separate sequences: adding a scripted event does not shift the election
 * timeouts the cores draw. Nothing here depends on the platform.
 */
#include "sim.h"

uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    h ^= 0xcbf29ce484222325ull ^ n;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return mix64(h);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rng_init(struct rng *g, uint64_t seed, uint64_t stream)
{
    uint64_t x = mix64(seed) ^ mix64(stream * 0xd1342543de82ef95ull + 1);
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ull;
        g->s[i] = mix64(x);
    }
    if (!(g->s[0] | g->s[1] | g->s[2] | g->s[3]))
        g->s[0] = 1;
}

uint64_t rng_next(struct rng *g)
{
    uint64_t *s = g->s;
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

uint64_t rng_below(struct rng *g, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Lemire-free simple rejection: unbiased and portable. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_next(g);
    while (x >= limit);
    return x % n;
}

uint64_t rng_between(struct rng *g, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + rng_below(g, hi - lo + 1);
}

double rng_unit(struct rng *g)
{
    return (double)(rng_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

bool rng_chance(struct rng *g, double p)
{
    if (p <= 0)
        return false;
    if (p >= 1)
        return true;
    return rng_unit(g) < p;
}

/* Counter-based random numbers: a value is a pure function of its key
 * (seed, stream, counter), so any thread may draw any value in any order and
 * a run is reproducible for every thread count. The mixer is SplitMix64's
 * finaliser applied along the key. */
#ifndef FM_RNG_H
#define FM_RNG_H

#include <stdint.h>

static inline uint64_t fm_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 64 random bits for (seed, stream, counter). */
static inline uint64_t fm_rand_bits(uint64_t seed, uint64_t stream, uint64_t counter)
{
    const uint64_t golden = 0x9e3779b97f4a7c15ull;
    return fm_mix64(fm_mix64(fm_mix64(seed + golden) ^ (stream + 2 * golden)) ^ (counter + 3 * golden));
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double fm_rand_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return (double)(fm_rand_bits(seed, stream, counter) >> 11) * 0x1.0p-53;
}

/* Streams: what a draw is for, so different uses never share numbers.
 * `key` is the model's step count when the epoch starts (fm_train_epoch).
 * Shuffle streams are distinct for every key; dropout streams while the key
 * is below 2**31, the batch below 2**24 and the layer below 2**8 (beyond,
 * two batches could draw the same masks). */
static inline uint64_t fm_stream_shuffle(uint64_t key) { return key << 1; }
static inline uint64_t fm_stream_dropout(uint64_t key, uint64_t batch, uint64_t layer)
{
    return (((key << 24) ^ batch) << 8 ^ layer) << 1 | 1;
}

#endif

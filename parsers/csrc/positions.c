/* Where given bytes are in a buffer: sixteen bytes at a time on x86-64, else eight (kernels.h). */
#include <stdlib.h>

#include "kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

i64 pl_positions(const u8 *data, i64 n, i64 first, i64 second, i64 *out, i64 cap) {
    uint64_t pattern_a = repeat_byte((int)first), pattern_b = repeat_byte((int)second);
    i64 room = cap - 1; /* one slot stays for the sentinel */
    i64 k = 0;
    i64 w = 0;
#if defined(__SSE2__) /* sixteen bytes at a time wherever x86-64 runs */
    const __m128i wanted_a = _mm_set1_epi8((char)first), wanted_b = _mm_set1_epi8((char)second);
    for (; w + 16 <= n; w += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(data + w));
        unsigned hits = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(block, wanted_a), _mm_cmpeq_epi8(block, wanted_b)));
        while (hits) {
            if (k < room) out[k] = w + __builtin_ctz(hits);
            k++;
            hits &= hits - 1;
        }
    }
#endif
    i64 whole = n / 8 * 8;
    for (; w < whole; w += 8) {
        uint64_t word = load_word(data + w);
        uint64_t hits = equal_bytes(word, pattern_a) | equal_bytes(word, pattern_b);
        while (hits) {
            if (k < room) out[k] = w + (__builtin_ctzll(hits) >> 3);
            k++;
            hits &= hits - 1;
        }
    }
    for (i64 t = whole; t < n; t++) {
        if (data[t] == first || data[t] == second) {
            if (k < room) out[k] = t;
            k++;
        }
    }
    if (k < cap) out[k] = SENTINEL;
    return k;
}

i64 *positions_alloc(const u8 *data, i64 n, int first, int second, i64 expected_gap) {
    i64 cap = n / expected_gap + 64;
    i64 *out = malloc(cap * sizeof(i64));
    if (out == NULL) return NULL;
    i64 count = pl_positions(data, n, first, second, out, cap);
    if (count < cap) return out;
    free(out);
    out = malloc((count + 1) * sizeof(i64));
    if (out != NULL) pl_positions(data, n, first, second, out, count + 1);
    return out;
}

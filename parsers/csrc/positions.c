/* Where given bytes are in a buffer: sixteen bytes at a time on x86-64, else eight (kernels.h). */
#include <stdlib.h>

#include "kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

i64 pl_positions(const u8 *data, i64 n, i64 first, i64 second, i64 *out, i64 cap, u8 *seen) {
    uint64_t pattern_a = repeat_byte((int)first), pattern_b = repeat_byte((int)second);
    uint64_t pattern_cr = repeat_byte('\r');
    uint64_t cr_words = 0, high_words = 0;
    i64 room = cap - 1; /* one slot stays for the sentinel */
    i64 k = 0;
    i64 w = 0;
#if defined(__SSE2__) /* sixteen bytes at a time wherever x86-64 runs */
    const __m128i wanted_a = _mm_set1_epi8((char)first), wanted_b = _mm_set1_epi8((char)second);
    const __m128i wanted_cr = _mm_set1_epi8('\r');
    __m128i cr_blocks = _mm_setzero_si128(), high_blocks = _mm_setzero_si128();
    for (; w + 16 <= n; w += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(data + w));
        cr_blocks = _mm_or_si128(cr_blocks, _mm_cmpeq_epi8(block, wanted_cr));
        high_blocks = _mm_or_si128(high_blocks, block);
        unsigned hits = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(block, wanted_a), _mm_cmpeq_epi8(block, wanted_b)));
        while (hits) {
            if (k < room) out[k] = w + __builtin_ctz(hits);
            k++;
            hits &= hits - 1;
        }
    }
    cr_words = (uint64_t)_mm_movemask_epi8(cr_blocks);
    high_words = (uint64_t)_mm_movemask_epi8(high_blocks);
#endif
    i64 whole = n / 8 * 8;
    for (; w < whole; w += 8) {
        uint64_t word = load_word(data + w);
        cr_words |= equal_bytes(word, pattern_cr);
        high_words |= word & 0x8080808080808080ULL;
        uint64_t hits = equal_bytes(word, pattern_a) | equal_bytes(word, pattern_b);
        while (hits) {
            if (k < room) out[k] = w + (__builtin_ctzll(hits) >> 3);
            k++;
            hits &= hits - 1;
        }
    }
    for (i64 t = whole; t < n; t++) {
        cr_words |= data[t] == '\r';
        high_words |= data[t] & 0x80;
        if (data[t] == first || data[t] == second) {
            if (k < room) out[k] = t;
            k++;
        }
    }
    if (k < cap) out[k] = SENTINEL;
    if (seen != NULL) *seen = (u8)((cr_words ? SEEN_CR : 0) | (high_words ? SEEN_HIGH : 0));
    return k;
}

i64 *positions_alloc(const u8 *data, i64 n, int first, int second, i64 expected_gap) {
    i64 cap = n / expected_gap + 64;
    i64 *out = malloc(cap * sizeof(i64));
    if (out == NULL) return NULL;
    i64 count = pl_positions(data, n, first, second, out, cap, NULL);
    if (count < cap) return out;
    free(out);
    out = malloc((count + 1) * sizeof(i64));
    if (out != NULL) pl_positions(data, n, first, second, out, count + 1, NULL);
    return out;
}

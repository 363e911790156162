/* Shared helpers of the machine-code kernels (the .c files beside it), loaded by parsers/native.py.
 *
 * Every exported function takes plain pointers and lengths: Python passes numpy buffers through
 * ctypes, which releases the GIL for the call, so the parse threads run on every core.
 * Arrays are C-contiguous: a batch's fields are (line, slot, start/end), so one line's fields sit
 * together; per-column outputs are (column, row), element [k, r] at k * rows + r.
 */
#ifndef PLAUSIBLE_LOGS_KERNELS_H
#define PLAUSIBLE_LOGS_KERNELS_H

#include <stdint.h>
#include <string.h>

typedef int64_t i64;
typedef uint8_t u8;

#define SENTINEL ((i64)1 << 62) /* ends every position list: larger than any offset */

enum { SEEN_CR = 1, SEEN_HIGH = 2 };

/* Positions of every `first` and `second` byte of data[0:n] into out (room for cap), then SENTINEL.
 * Returns how many there are (SENTINEL not counted), also when out was too small to hold them all.
 * When seen is not NULL it also says, from the same pass, whether data holds a carriage return
 * (SEEN_CR) or a byte >= 0x80 (SEEN_HIGH): the reader frames such chunks the careful way. */
i64 pl_positions(const u8 *data, i64 n, i64 first, i64 second, i64 *out, i64 cap, u8 *seen);

/* The same list in freshly allocated memory (free() it); NULL when memory ran out. */
i64 *positions_alloc(const u8 *data, i64 n, int first, int second, i64 expected_gap);

/* Eight bytes at a time: most words of a log hold none of the bytes a loop looks for, so testing
 * a whole word and naming only its matches beats comparing byte by byte. */
static inline uint64_t repeat_byte(int c) { return 0x0101010101010101ULL * (uint8_t)c; }

/* 0x80 in every byte of word equal to the byte repeated in pattern (exact: no borrow between bytes). */
static inline uint64_t equal_bytes(uint64_t word, uint64_t pattern) {
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
    uint64_t x = word ^ pattern;
    return ~(((x & low7) + low7) | x | low7);
}

/* Eight bytes as a word whose lowest byte is the first. */
static inline uint64_t load_word(const u8 *p) {
    uint64_t word;
    memcpy(&word, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64(word);
#endif
    return word;
}

/* The first position in [p, end) holding byte c, or end. */
static inline i64 find_byte(const u8 *data, i64 p, i64 end, int c) {
    uint64_t pattern = repeat_byte(c);
    for (; p + 8 <= end; p += 8) {
        uint64_t hits = equal_bytes(load_word(data + p), pattern);
        if (hits) return p + (__builtin_ctzll(hits) >> 3);
    }
    while (p < end && data[p] != c) p++;
    return p;
}

/* The first position in [p, end) holding byte a, b or c; end if none (p itself when p > end). */
static inline i64 find_any3(const u8 *data, i64 p, i64 end, int a, int b, int c) {
    uint64_t pattern_a = repeat_byte(a), pattern_b = repeat_byte(b), pattern_c = repeat_byte(c);
    for (; p + 8 <= end; p += 8) {
        uint64_t word = load_word(data + p);
        uint64_t hits = equal_bytes(word, pattern_a) | equal_bytes(word, pattern_b) | equal_bytes(word, pattern_c);
        if (hits) return p + (__builtin_ctzll(hits) >> 3);
    }
    while (p < end && data[p] != a && data[p] != b && data[p] != c) p++;
    return p;
}

/* memcpy for the short values of a log line: a call to the library's memcpy per field costs more
 * than the copy itself; fixed-size copies compile to plain loads and stores. */
static inline void copy_bytes(u8 *dst, const u8 *src, i64 n) {
    if (n >= 16) {
        memcpy(dst, src, n);
    } else if (n >= 8) {
        uint64_t head, tail;
        memcpy(&head, src, 8);
        memcpy(&tail, src + n - 8, 8);
        memcpy(dst, &head, 8);
        memcpy(dst + n - 8, &tail, 8);
    } else if (n >= 4) {
        uint32_t head, tail;
        memcpy(&head, src, 4);
        memcpy(&tail, src + n - 4, 4);
        memcpy(dst, &head, 4);
        memcpy(dst + n - 4, &tail, 4);
    } else {
        for (i64 j = 0; j < n; j++) dst[j] = src[j];
    }
}

/* Which bytes of an inline string view's two value words (bytes 0-3, bytes 4-11) a length keeps. */
static const uint32_t VIEW_MASK_HEAD[13] = {0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                                            0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF};
static const uint64_t VIEW_MASK_TAIL[13] = {0, 0, 0, 0, 0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFFULL, 0xFFFFFFFFFFULL,
                                            0xFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFULL, 0xFFFFFFFFFFFFFFFFULL};

/* One Arrow string view (16 bytes) of `length` bytes at value: the length, then the bytes themselves when
 * there are at most twelve (zero-padded), else the first four, the buffer's index and the offset in it.
 * `end` is where the readable memory after value stops: short values are read twelve bytes at once and
 * masked when that stays inside it (no libc call per value), else byte by byte. */
static inline void write_view(u8 *view, const u8 *value, i64 length, uint32_t buffer, i64 offset, const u8 *end) {
    uint32_t head = 0;
    uint64_t tail = 0;
    if (length > 12) {
        memcpy(&head, value, 4);
        tail = (uint64_t)buffer | ((uint64_t)(uint32_t)offset << 32);
    } else if (value + 12 <= end) {
        memcpy(&head, value, 4);
        memcpy(&tail, value + 4, 8);
        head &= VIEW_MASK_HEAD[length];
        tail &= VIEW_MASK_TAIL[length];
    } else {
        u8 bytes[12] = {0};
        for (i64 j = 0; j < length; j++) bytes[j] = value[j];
        memcpy(&head, bytes, 4);
        memcpy(&tail, bytes + 4, 8);
    }
    uint32_t size = (uint32_t)length;
    memcpy(view, &size, 4);
    memcpy(view + 4, &head, 4);
    memcpy(view + 8, &tail, 8);
}

static inline int is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static inline int is_alpha(int c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static inline int is_space(int c) { return c == ' ' || (c >= 9 && c <= 13); }
static inline int is_blank(const u8 *data, i64 s, i64 e) { return e == s || (e - s == 1 && data[s] == '-'); }

/* The value of one hex digit byte, or -1. */
static inline int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static inline i64 floor_div(i64 a, i64 b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static inline i64 days_from_civil(i64 year, i64 month, i64 day) {
    year -= month <= 2;
    i64 era = floor_div(year, 400);
    i64 yoe = year - era * 400;
    i64 doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    i64 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int days_in_month(i64 year, i64 month) {
    if (month == 2) {
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        return leap ? 29 : 28;
    }
    return (month == 4 || month == 6 || month == 9 || month == 11) ? 30 : 31;
}

#endif

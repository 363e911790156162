/* The W3C reader of parsers/w3c_fast.py: split CloudFront (TAB) and IIS (space) lines and check
 * their typed fields in one pass per line.
 *
 * A line is marked ok only when that reading is unambiguous and the polars path would accept it;
 * every other line (directives, rejects, fractional seconds, odd numbers) goes through the polars
 * path, so both give the same rows by construction. Each value reader accepts exactly what the
 * polars path reads the same way and answers -1 for anything else.
 */
#include <stdlib.h>

#include "kernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { STATUS = 0, BYTES = 1, TAKEN = 2 }; /* numbers[]: the fields of status, bytes and time-taken */
enum { TIDY_LOWER = 1, TIDY_HOST = 2 };    /* gather's tidy modes (parsers/w3c_fast.py _kernel_tidy) */

#define AT(array, slot, i, rows) (array)[(slot) * (rows) + (i)]
/* A line's text columns: (start, end) per slot, the lines one after the other. */
#define FIELD(fields, i, slot, slots) ((fields) + ((i) * (slots) + (slot)) * 2)

/* The ASCII digits in [s, e) as an integer; -1 when empty, longer than max_digits or not all digits. */
static i64 integer(const u8 *data, i64 s, i64 e, i64 max_digits) {
    if (e <= s || e - s > max_digits) return -1;
    i64 value = 0;
    for (i64 p = s; p < e; p++) {
        if (!is_digit(data[p])) return -1;
        value = value * 10 + data[p] - '0';
    }
    return value;
}

/* `123` or `0.123` as the nearest double (-1: another spelling, left to polars' parser). At most 15
 * significant digits, so the mantissa and 10^k are exact and one division rounds correctly. */
static double decimal(const u8 *data, i64 s, i64 e) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
                                   1e14, 1e15, 1e16};
    i64 mantissa = 0;
    int digits = 0, fraction = -1;
    for (i64 p = s; p < e; p++) {
        int c = data[p];
        if (is_digit(c)) {
            if (digits >= 15) return -1.0;
            mantissa = mantissa * 10 + c - '0';
            digits++;
            if (fraction >= 0) fraction++;
        } else if (c == '.' && fraction < 0 && digits > 0) {
            fraction = 0;
        } else {
            return -1.0;
        }
    }
    if (digits == 0 || fraction == 0) return -1.0;
    if (fraction < 0) return (double)mantissa;
    return (double)mantissa / pow10[fraction];
}

/* `yyyy-mm-dd` + `HH:MM:SS` as UTC microseconds; -1 for any other shape or an impossible date. */
static i64 utc_micros(const u8 *data, i64 ds, i64 de, i64 ts, i64 te) {
    if (de - ds != 10 || te - ts != 8) return -1;
    for (int k = 0; k < 10; k++) {
        int dash = k == 4 || k == 7;
        if (dash ? data[ds + k] != '-' : !is_digit(data[ds + k])) return -1;
    }
    for (int k = 0; k < 8; k++) {
        int colon = k == 2 || k == 5;
        if (colon ? data[ts + k] != ':' : !is_digit(data[ts + k])) return -1;
    }
    i64 year = integer(data, ds, ds + 4, 4), month = integer(data, ds + 5, ds + 7, 2);
    i64 day = integer(data, ds + 8, ds + 10, 2);
    i64 hour = integer(data, ts, ts + 2, 2), minute = integer(data, ts + 3, ts + 5, 2);
    i64 second = integer(data, ts + 6, ts + 8, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return -1;
    if (hour > 23 || minute > 59 || second > 59) return -1;
    return (days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) * 1000000;
}

/* Split [p, end) like `splitn(sep, n)` into fields [fs[k], fe[k]); 0 when there are fewer than n fields.
 * A CloudFront line holds ~33 short fields: on x86-64 one 16-byte compare names every separator in
 * its block at once, instead of a search per field. */
static int cut_fields(const u8 *data, i64 p, i64 end, int sep, i64 n, i64 *fs, i64 *fe) {
    i64 k = 0;
    fs[0] = p;
#if defined(__SSE2__)
    const __m128i wanted = _mm_set1_epi8((char)sep);
    for (; p + 16 <= end && k < n - 1; p += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(data + p));
        unsigned hits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, wanted));
        for (; hits && k < n - 1; hits &= hits - 1) {
            i64 q = p + __builtin_ctz(hits);
            fe[k++] = q;
            fs[k] = q + 1;
        }
    }
#endif /* every separator before p is taken */
    for (; k < n - 1; k++) {
        i64 q = find_byte(data, p, end, sep);
        if (q >= end) return 0;
        fe[k] = q;
        p = fs[k + 1] = q + 1;
    }
    fe[n - 1] = end;
    return 1;
}

/* Cut the last field at its first ASCII whitespace (the `^(\S*)` of the polars path); 0 on non-ASCII. */
static int trim_last(const u8 *data, i64 last, i64 *fs, i64 *fe) {
    for (i64 p = fs[last]; p < fe[last]; p++) {
        int c = data[p];
        if (c >= 128) return 0; /* Unicode whitespace is the regex's business */
        if (is_space(c)) {
            fe[last] = p;
            return 1;
        }
    }
    return 1;
}

/* Status (UInt16), bytes (UInt64) and time-taken (Float64 x scale) of line i; 0 when polars must judge. */
static int read_numbers(const u8 *data, i64 i, i64 count, const i64 *numbers, double scale, const i64 *fs,
                        const i64 *fe, double *values, u8 *nulls) {
    for (int k = 0; k < 3; k++) {
        i64 f = numbers[k];
        AT(nulls, k, i, count) = 1;
        AT(values, k, i, count) = 0.0;
        if (f < 0 || is_blank(data, fs[f], fe[f])) continue;
        if (k == TAKEN) {
            double seconds = decimal(data, fs[f], fe[f]);
            if (seconds < 0) return 0;
            AT(values, k, i, count) = seconds * scale;
        } else {
            i64 number = integer(data, fs[f], fe[f], 15);
            if (number < 0 || (k == STATUS && number > 65535)) return 0;
            AT(values, k, i, count) = (double)number; /* < 10^15: exact in a double */
        }
        AT(nulls, k, i, count) = 0;
    }
    return 1;
}

/* Dates, text columns and numbers of one split line; 0 when the polars path must judge it. */
static int read_row(const u8 *data, i64 i, i64 count, const i64 *picks, i64 slots, i64 candidates,
                    const i64 *numbers, const i64 *dates, const u8 *required, double scale, const i64 *fs,
                    const i64 *fe, i64 *fields, i64 *micros, double *values, u8 *nulls) {
    micros[i] = utc_micros(data, fs[dates[0]], fe[dates[0]], fs[dates[1]], fe[dates[1]]);
    if (micros[i] < 0) return 0;
    for (i64 slot = 0; slot < slots; slot++) {
        i64 *field = FIELD(fields, i, slot, slots);
        field[0] = field[1] = -1;
        for (i64 c = 0; c < candidates; c++) {
            i64 f = picks[slot * candidates + c];
            if (f < 0) break;
            if (!is_blank(data, fs[f], fe[f])) {
                field[0] = fs[f];
                field[1] = fe[f];
                break;
            }
        }
        if (required[slot] && field[0] < 0) return 0;
    }
    return read_numbers(data, i, count, numbers, scale, fs, fe, values, nulls);
}

/* Read rows [lo, hi) of count lines under one field list of n_fields, split at byte sep.
 * picks (slot, candidate): field index (-1: none) of each text column, first non-blank wins;
 * numbers: fields of status, bytes, time-taken; dates: fields of date and time; required: text
 * slots that must have a value. Per (row, slot): start and end in fields; values and nulls (3, row).
 * A row not ok has every slot -1. Returns 0, or -1 when memory ran out. */
int pl_w3c_split_rows(const u8 *data, const i64 *line_starts, const i64 *line_ends, const u8 *valid, i64 count,
                      i64 lo, i64 hi, i64 n_fields, i64 sep, i64 max_len, const i64 *picks, i64 slots,
                      i64 candidates, const i64 *numbers, const i64 *dates, const u8 *required, double scale,
                      i64 *fields, u8 *ok, i64 *micros, double *values, u8 *nulls) {
    i64 *bounds = malloc(2 * n_fields * sizeof(i64));
    if (bounds == NULL) return -1;
    i64 *fs = bounds, *fe = bounds + n_fields;
    i64 last = n_fields - 1;
    int last_needed = dates[0] == last || dates[1] == last;
    for (i64 k = 0; k < slots * candidates; k++) last_needed |= picks[k] == last;
    for (int k = 0; k < 3; k++) last_needed |= numbers[k] == last;
    for (i64 i = lo; i < hi; i++) {
        i64 p = line_starts[i], end = line_ends[i];
        int good = valid[i] && end > p && end - p <= max_len && data[p] != '#' &&
                   cut_fields(data, p, end, (int)sep, n_fields, fs, fe) &&
                   (!last_needed || trim_last(data, last, fs, fe)) &&
                   read_row(data, i, count, picks, slots, candidates, numbers, dates, required, scale, fs, fe,
                            fields, micros, values, nulls);
        ok[i] = (u8)good;
        for (i64 slot = 0; !good && slot < slots; slot++) {
            i64 *field = FIELD(fields, i, slot, slots);
            field[0] = field[1] = -1;
        }
    }
    free(bounds);
    return 0;
}

/* Copy [s, e) to out undoing CloudFront's %XX for cf_set bytes, jumping from one `%` to the next.
 * Returns the end of the copy; *high is set when a value held an encoded byte >= 0x80 (left encoded). */
static u8 *decoded(const u8 *data, i64 s, i64 e, u8 *out, const u8 *cf_set, u8 *high) {
    i64 p = s;
    for (;;) {
        i64 q = find_byte(data, p, e, '%');
        copy_bytes(out, data + p, q - p);
        out += q - p;
        if (q >= e) return out;
        if (q + 2 < e) {
            int a = hex_value(data[q + 1]), b = hex_value(data[q + 2]);
            if (a >= 0 && b >= 0) {
                int value = a * 16 + b;
                if (value >= 128) {
                    *high = 1;
                } else if (cf_set[value]) {
                    *out++ = (u8)value;
                    p = q + 3;
                    continue;
                }
            }
        }
        *out++ = '%';
        p = q + 1;
    }
}

/* Lower-case ASCII [s, e) in place; for a host (TIDY_HOST) also drop `:port` and surrounding `[]`.
 * Returns the new end, or NULL when the value holds a non-ASCII byte (polars' Unicode rules decide). */
static u8 *tidy_value(u8 *s, u8 *e, i64 mode) {
    for (u8 *p = s; p < e; p++) {
        if (*p >= 128) return NULL;
        if (*p >= 'A' && *p <= 'Z') *p += 32;
    }
    if (mode != TIDY_HOST) return e;
    u8 *digits = e;
    while (digits > s && is_digit(digits[-1])) digits--;
    if (digits < e && digits > s && digits[-1] == ':') e = digits - 1; /* `:\d+$` */
    u8 *a = s;
    while (a < e && (*a == '[' || *a == ']')) a++;
    while (e > a && (e[-1] == '[' || e[-1] == ']')) e--;
    if (a > s) memmove(s, a, e - a);
    return s + (e - a);
}

/* First pass of the W3C gather: the raw bytes of the chosen rows' values, which is room enough for what
 * decoding and tidying rewrite (both only shorten a value). */
i64 pl_w3c_gather_room(const i64 *fields, i64 width, const i64 *rows, i64 n) {
    i64 total = 0;
    for (i64 r = 0; r < n; r++) {
        const i64 *field = FIELD(fields, rows[r], 0, width);
        for (i64 k = 0; k < width; k++, field += 2) {
            if (field[0] >= 0) total += field[1] - field[0];
        }
    }
    return total;
}

/* Every slot of the chosen rows as Arrow string views (slot, row, 16 bytes), visiting each line once. A value
 * that reads as it is points into data (buffer 0); one with a `%` to decode, or a tidy[slot] mode, is
 * rewritten into out (buffer 1, sized by pl_w3c_gather_room) and points there. present (slot, row): whether
 * there is a value; high (slot, row) marks values the caller must redo: an encoded byte >= 0x80 (copied, not
 * decoded), or a non-ASCII byte met by tidy. Returns the bytes used in out. */
i64 pl_w3c_gather_views(const u8 *data, i64 data_len, const i64 *fields, i64 width, const i64 *rows, i64 n,
                        i64 decode, const u8 *cf_set, const i64 *tidy, u8 *out, i64 out_len, u8 *views, u8 *present,
                        u8 *high) {
    const u8 *data_end = data + data_len, *out_end = out + out_len;
    i64 used = 0;
    memset(high, 0, width * n);
    for (i64 r = 0; r < n; r++) {
        const i64 *field = FIELD(fields, rows[r], 0, width);
        for (i64 k = 0; k < width; k++, field += 2) {
            i64 s = field[0], e = field[1];
            u8 *view = views + (k * n + r) * 16;
            present[k * n + r] = s >= 0;
            if (s < 0) {
                write_view(view, data, 0, 0, 0, data);
                continue;
            }
            i64 escape = decode ? find_byte(data, s, e, '%') : e;
            if (escape == e && tidy[k] == 0) {
                write_view(view, data + s, e - s, 0, s, data_end);
                continue;
            }
            u8 *begin = out + used, *end;
            u8 *flag = &high[k * n + r];
            copy_bytes(begin, data + s, escape - s);
            end = escape < e ? decoded(data, escape, e, begin + (escape - s), cf_set, flag) : begin + (e - s);
            if (tidy[k] != 0 && !*flag) {
                u8 *tidied = tidy_value(begin, end, tidy[k]);
                if (tidied == NULL) *flag = 1; else end = tidied;
            }
            write_view(view, begin, end - begin, 1, used, out_end);
            if (end - begin > 12) used += end - begin; /* a short value lives in its view: its bytes can go */
        }
    }
    return used;
}

/* The template tokenizer of parsers/compiled.py (nginx, Apache and other one-line formats).
 *
 * pl_scan walks each line through the template's program of literal and field steps and records
 * every field as a pair of offsets; the gather turns the chosen fields into Arrow string views of
 * the log bytes. Each typed check accepts exactly what the matching pattern in parsers/fields.py accepts,
 * so lines marked ok parse the same as through the regex engine, which gets every other line.
 */
#include <stdlib.h>

#include "kernels.h"

enum { OP_LITERAL = 0, OP_FIELD = 1, OP_REQUEST = 2 };
enum { STOP_AT_END = -1, STOP_AT_SPACE = -2 };
enum { CHECK_STATUS = 1, CHECK_NUMBER = 2, CHECK_DECIMAL = 3, CHECK_CLF_TIME = 4, CHECK_METHOD = 5,
       CHECK_PROTOCOL = 6 };
#define NO_DAY (-((i64)1 << 62))

/* A line's fields: (start, end) per slot, the lines one after the other: fields[(line * slots + slot) * 2]. */
#define FIELD(fields, i, slot, slots) ((fields) + ((i) * (slots) + (slot)) * 2)

static inline void set_field(i64 *field, i64 start, i64 end) {
    field[0] = start;
    field[1] = end;
}

/* End of `[A-Z][A-Za-z0-9_-]*` starting at s, or -1. */
static i64 method_end(const u8 *data, i64 s, i64 e) {
    if (s >= e || !is_upper(data[s])) return -1;
    i64 j = s + 1;
    while (j < e) {
        int c = data[j];
        if (!(is_alpha(c) || is_digit(c) || c == '_' || c == '-')) break;
        j++;
    }
    return j;
}

/* `[A-Z]+/[0-9.]+` exactly. */
static int is_protocol(const u8 *data, i64 s, i64 e) {
    i64 j = s;
    while (j < e && is_upper(data[j])) j++;
    if (j == s || j >= e || data[j] != '/') return 0;
    j++;
    if (j >= e) return 0;
    for (; j < e; j++) {
        if (!(is_digit(data[j]) || data[j] == '.')) return 0;
    }
    return 1;
}

static int all_digits(const u8 *data, i64 s, i64 e) {
    if (e <= s) return 0;
    for (i64 j = s; j < e; j++) {
        if (!is_digit(data[j])) return 0;
    }
    return 1;
}

/* `\d+(?:\.\d+)?` exactly. */
static int is_decimal(const u8 *data, i64 s, i64 e) {
    for (i64 j = s; j < e; j++) {
        if (data[j] == '.') return all_digits(data, s, j) && all_digits(data, j + 1, e);
    }
    return all_digits(data, s, e);
}

/* `dd/Mon/yyyy:HH:MM:SS +zzzz`. */
static int is_clf_time(const u8 *data, i64 s, i64 e) {
    static const int digits[] = {0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25};
    if (e - s != 26) return 0;
    for (int k = 0; k < 16; k++) {
        if (!is_digit(data[s + digits[k]])) return 0;
    }
    for (int k = 3; k <= 5; k++) {
        if (!is_alpha(data[s + k])) return 0;
    }
    int sign = data[s + 21];
    return data[s + 2] == '/' && data[s + 6] == '/' && data[s + 11] == ':' && data[s + 14] == ':' &&
           data[s + 17] == ':' && data[s + 20] == ' ' && (sign == '+' || sign == '-');
}

/* 1-12 for an English month abbreviation in CLF's case (`Jan`), else 0. */
static int month_of(int a, int b, int c) {
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int index = 0; index < 12; index++) {
        if (names[3 * index] == a && names[3 * index + 1] == b && names[3 * index + 2] == c) return index + 1;
    }
    return 0;
}

static i64 number_at(const u8 *data, i64 s, int width) {
    i64 value = 0;
    for (i64 j = s; j < s + width; j++) value = value * 10 + data[j] - '0';
    return value;
}

/* UTC seconds at the local midnight of a shape-checked CLF time; NO_DAY for a date or offset that cannot be. */
static i64 clf_day_base(const u8 *data, i64 s) {
    int month = month_of(data[s + 3], data[s + 4], data[s + 5]);
    i64 day = number_at(data, s, 2), year = number_at(data, s + 7, 4);
    i64 offset_minutes = number_at(data, s + 24, 2);
    if (month == 0 || day < 1 || day > days_in_month(year, month) || offset_minutes > 59) return NO_DAY;
    i64 offset = number_at(data, s + 22, 2) * 60 + offset_minutes;
    if (data[s + 21] == '-') offset = -offset;
    return days_from_civil(year, month, day) * 86400 - offset * 60;
}

/* Seconds since local midnight of a shape-checked CLF time; -1 for hour 24, minute or second 60. */
static i64 clf_clock(const u8 *data, i64 s) {
    i64 hour = number_at(data, s + 12, 2), minute = number_at(data, s + 15, 2), second = number_at(data, s + 18, 2);
    if (hour > 23 || minute > 59 || second > 59) return -1;
    return hour * 3600 + minute * 60 + second;
}

/* `dd/Mon/yyyy:HH:MM:SS +zzzz` as UTC microseconds; -1 for an impossible time, -2 for another shape.
 *
 * Lines come in time order, so most share the previous line's date and offset: cache ([start of
 * the last valid time, its day base]) lets those skip the calendar arithmetic. */
static i64 clf_micros(const u8 *data, i64 s, i64 e, i64 cache[2]) {
    static const int same[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 17, 20, 21, 22, 23, 24, 25};
    static const int clock_digits[] = {12, 13, 15, 16, 18, 19};
    if (e - s != 26) return -2;
    i64 previous = cache[0];
    int same_day = previous >= 0;
    for (int k = 0; same_day && k < 20; k++) {
        if (data[s + same[k]] != data[previous + same[k]]) same_day = 0;
    }
    i64 base;
    if (same_day) {
        for (int k = 0; k < 6; k++) {
            if (!is_digit(data[s + clock_digits[k]])) return -2;
        }
        base = cache[1];
    } else {
        if (!is_clf_time(data, s, e)) return -2;
        base = clf_day_base(data, s);
        if (base == NO_DAY) return -1;
        cache[0] = s;
        cache[1] = base;
    }
    i64 clock = clf_clock(data, s);
    if (clock < 0) return -1;
    return (base + clock) * 1000000;
}

static int check_field(i64 kind, const u8 *data, i64 s, i64 e, int empty_ok) {
    if (e == s) return empty_ok;
    int dash = e - s == 1 && data[s] == '-';
    switch (kind) {
    case CHECK_STATUS: return e - s == 3 && all_digits(data, s, e);
    case CHECK_NUMBER: return dash || all_digits(data, s, e);
    case CHECK_DECIMAL: return dash || is_decimal(data, s, e);
    case CHECK_CLF_TIME: return is_clf_time(data, s, e);
    case CHECK_METHOD: return dash || method_end(data, s, e) == e;
    case CHECK_PROTOCOL: return dash || is_protocol(data, s, e);
    default: return 1;
    }
}

/* `METHOD SP target [SP PROTOCOL]` inside a quoted request; the target may hold backslash escapes.
 *
 * Slots: method, path (target up to the first `?`), protocol, query (after it; none without `?`).
 * An absolute-form target (`http://host/...`) is refused: the regex engine splits its host off. */
static int cut_request(const u8 *data, i64 s, i64 e, i64 *line_fields) {
    i64 m = method_end(data, s, e);
    if (m < 0 || m >= e || data[m] != ' ') return 0;
    i64 t = m + 1;
    if (e - t >= 4 && data[t] == 'h' && data[t + 1] == 't' && data[t + 2] == 't' && data[t + 3] == 'p') return 0;
    i64 j = t, q = -1;
    for (;;) {
        j = find_any3(data, j, e, ' ', '?', '\\');
        if (j >= e || data[j] == ' ') break;
        if (data[j] == '?') {
            if (q < 0) q = j;
            j++;
        } else { /* an escaped byte never ends the target, but an escaped `?` still splits it */
            if (q < 0 && j + 1 < e && data[j + 1] == '?') q = j + 1;
            j += 2;
        }
    }
    if (j > e) return 0;
    set_field(line_fields, s, m);
    if (q < 0) {
        set_field(line_fields + 2, t, j);
        set_field(line_fields + 6, -1, -1);
    } else {
        set_field(line_fields + 2, t, q);
        set_field(line_fields + 6, q + 1, j);
    }
    if (j == e) {
        set_field(line_fields + 4, -1, -1);
        return 1;
    }
    if (!is_protocol(data, j + 1, e)) return 0;
    set_field(line_fields + 4, j + 1, e);
    return 1;
}

/* The first `"` at or after p not escaped by a backslash (end if none), jumping along the `"`/`\`
 * index from mark *m on, which is left where the search stopped. */
static i64 quote_at(const u8 *data, const i64 *marks, i64 *m, i64 p, i64 end) {
    for (;;) {
        while (marks[*m] < p) (*m)++;
        i64 q = marks[*m];
        if (q >= end) return end;
        if (data[q] == '"') return q;
        p = q + 2;
    }
}

/* Which lines hold a backslash: only those need escape decoding. Backslashes are rare, so
 * memchr jumps from one to the next. */
static void mark_escaped_lines(const u8 *data, i64 n, const i64 *line_ends, i64 count, u8 *escaped) {
    memset(escaped, 0, count);
    i64 line = 0;
    const u8 *end = data + n;
    for (const u8 *found = memchr(data, '\\', n); found != NULL; found = memchr(found + 1, '\\', end - found - 1)) {
        i64 q = found - data;
        while (line < count && line_ends[line] <= q) line++;
        if (line < count) escaped[line] = 1;
    }
}

/* Walk every line through the template program (ops: (steps, 5) kind, a, b, slot, check),
 * recording its fields (line, slot, start/end; -1 for a value that is `-` or empty), whether it
 * matched, its CLF time as UTC microseconds when ts_slot >= 0, and whether it holds a backslash.
 * Quoted fields jump from one `"`/`\` to the next instead of looking at every byte of a long user
 * agent. Lines over max_len bytes are left to the regex engine, which names them.
 * Returns 0, or -1 when memory ran out. */
int pl_scan(const u8 *data, i64 n, const i64 *line_starts, const i64 *line_ends, const u8 *valid, i64 count,
            const i64 *ops, i64 steps, const u8 *literals, i64 empty_ok, i64 ts_slot, i64 max_len, i64 slots,
            i64 *fields, u8 *ok, i64 *micros, u8 *escaped) {
    i64 *marks = positions_alloc(data, n, '"', '\\', 16);
    if (marks == NULL) return -1;
    i64 m = 0;
    i64 clf_cache[2] = {-1, 0};
    for (i64 i = 0; i < count; i++) {
        i64 p = line_starts[i], end = line_ends[i];
        int good = valid[i] && end - p <= max_len;
        for (i64 k = 0; good && k < steps; k++) {
            const i64 *op = ops + 5 * k;
            i64 kind = op[0];
            if (kind == OP_LITERAL) {
                i64 at = op[1], length = op[2];
                good = end - p >= length;
                for (i64 j = 0; good && j < length; j++) good = data[p + j] == literals[at + j];
                p += length;
                continue;
            }
            i64 stop = op[1], quoted = op[2], slot = op[3];
            i64 s = p;
            if (stop == STOP_AT_END) {
                p = end;
            } else if (stop == STOP_AT_SPACE) {
                while (p < end && !is_space(data[p])) p++;
            } else if (quoted) { /* the stop byte is `"`: the first one not escaped by a backslash */
                p = quote_at(data, marks, &m, p, end);
            } else {
                p = find_byte(data, p, end, (int)stop);
            }
            i64 *field = FIELD(fields, i, slot, slots);
            if (kind == OP_REQUEST) {
                good = cut_request(data, s, p, field);
                continue;
            }
            set_field(field, s, p);
            i64 check = op[4];
            if (check == CHECK_CLF_TIME) { /* checked and converted at once (impossible dates: the regex engine's) */
                i64 value = p > s ? clf_micros(data, s, p, clf_cache) : -1;
                if (value == -2 || (value == -1 && !empty_ok) || (slot == ts_slot && value < 0)) {
                    good = 0;
                } else if (slot == ts_slot) {
                    micros[i] = value;
                }
            } else if (check != 0 && !check_field(check, data, s, p, (int)empty_ok)) {
                good = 0;
            }
        }
        if (good && p < end && !is_space(data[p])) good = 0;
        ok[i] = (u8)good;
        i64 *line_fields = FIELD(fields, i, 0, slots);
        for (i64 slot = 0; slot < slots; slot++) {
            i64 *field = line_fields + 2 * slot;
            /* A line not read has every field empty (never stale offsets); `-` and "" are no value. */
            if (!good || (field[0] >= 0 && is_blank(data, field[0], field[1]))) set_field(field, -1, -1);
        }
    }
    mark_escaped_lines(data, n, line_ends, count, escaped);
    free(marks);
    return 0;
}

/* An already-checked digit field as an unsigned integer; not present when empty (-1) or past 2**64 - 1. */
static int read_uint(const u8 *data, const i64 *field, uint64_t *value) {
    const uint64_t tenth = UINT64_MAX / 10;
    *value = 0;
    if (field[0] < 0) return 0;
    for (i64 j = field[0]; j < field[1]; j++) {
        uint64_t digit = (uint64_t)(data[j] - '0');
        if (*value > tenth || (*value == tenth && digit > 5)) return 0;
        *value = *value * 10 + digit;
    }
    return 1;
}

/* The chosen rows' text fields as Arrow string views into data (text slot, row, 16 bytes) with validity
 * (text slot, row), so no value is copied; and the number slots read (number slot, row) with their
 * presence, in one pass over the rows. The caller keeps data under 2 GiB (views hold 32-bit offsets). */
void pl_gather_rows_views(const u8 *data, i64 data_len, const i64 *fields, i64 slots, const i64 *text_slots,
                          i64 width, const i64 *number_slots, i64 numbers_width, const i64 *rows, i64 n, u8 *views,
                          u8 *valid, uint64_t *numbers, u8 *present) {
    const u8 *data_end = data + data_len;
    for (i64 r = 0; r < n; r++) {
        const i64 *line_fields = FIELD(fields, rows[r], 0, slots);
        for (i64 k = 0; k < width; k++) {
            const i64 *field = line_fields + 2 * text_slots[k];
            int has_value = field[0] >= 0;
            valid[k * n + r] = (u8)has_value;
            i64 start = has_value ? field[0] : 0, length = has_value ? field[1] - field[0] : 0;
            write_view(views + (k * n + r) * 16, data + start, length, 0, start, data_end);
        }
        for (i64 k = 0; k < numbers_width; k++) {
            present[k * n + r] = (u8)read_uint(data, line_fields + 2 * number_slots[k], &numbers[k * n + r]);
        }
    }
}

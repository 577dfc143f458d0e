#include "cs_buf.h"
#include "cs_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_buf_init(cs_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : CS_BUF_DEFAULT_CAP;
}

void cs_buf_free(cs_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}

void cs_buf_reset(cs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(cs_buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return 0;
    size_t n = b->alloc ? b->alloc : 256;
    while (n < need)
        n *= 2;
    char *p = realloc(b->data, n);
    if (!p)
        return -1;
    b->data = p;
    b->alloc = n;
    return 0;
}

int cs_buf_append(cs_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int cs_buf_appends(cs_buf *b, const char *s)
{
    return cs_buf_append(b, s, strlen(s));
}

int cs_buf_appendc(cs_buf *b, char c)
{
    return cs_buf_append(b, &c, 1);
}

int cs_buf_appendv(cs_buf *b, const char *s, ...)
{
    va_list ap;
    int rc = 0;
    va_start(ap, s);
    for (; s && rc == 0; s = va_arg(ap, const char *))
        rc = cs_buf_append(b, s, strlen(s));
    va_end(ap);
    return rc;
}

size_t cs_i64_str(char out[24], long long v)
{
    char d[24];
    size_t k = sizeof d;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        d[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--k] = '-';
    memcpy(out, d + k, sizeof d - k);
    out[sizeof d - k] = '\0';
    return sizeof d - k;
}

int cs_buf_append_i64(cs_buf *b, long long v)
{
    char d[24];
    size_t n = cs_i64_str(d, v);
    return cs_buf_append(b, d, n);
}

int cs_buf_reserve(cs_buf *b, size_t extra)
{
    return buf_reserve(b, extra);
}

int cs_buf_vappendf(cs_buf *b, const char *fmt, va_list ap)
{
    /* Formatted straight into the room already there; measured and formatted
     * again only when it did not fit (one printf pass instead of two). */
    size_t room = b->alloc > b->len ? b->alloc - b->len : 0;
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, cp);
    va_end(cp);
    if (n >= 0 && (size_t)n < room) {
        if ((size_t)n > b->cap || b->len > b->cap - (size_t)n) {
            b->data[b->len] = '\0';
            return -1;
        }
        b->len += (size_t)n;
        return 0;
    }
    if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return -1;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cs_buf_appendf(cs_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cs_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* Length of the prefix of s (n bytes) that a JSON string holds as is: no
 * quote, backslash or control character.  Eight bytes at a time. */
static size_t json_plain(const char *s, size_t n)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; n - i >= 8; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        /* A byte below 0x20, or equal to '"' or '\\': the lowest flagged
         * byte is exact (bytes >= 0x80 are never flagged). */
        uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
        uint64_t hit = ((v - ones * 0x20) | (q - ones) | (bs - ones)) & ~v & highs;
        if (hit)
            return i + (size_t)__builtin_ctzll(hit) / 8;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            break;
    }
    return i;
}

int cs_buf_append_json_str(cs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (cs_buf_appendc(b, '"') != 0)
        return -1;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        i += json_plain(s + i, n - i);
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
                esc = u;
            }
        }
        if (!esc)
            continue;
        if (cs_buf_append(b, s + run, i - run) != 0 || cs_buf_appends(b, esc) != 0)
            return -1;
        run = i + 1;
    }
    if (cs_buf_append(b, s + run, n - run) != 0)
        return -1;
    return cs_buf_appendc(b, '"');
}

int cs_buf_append_text(cs_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0, i = 0;
    if (cs_buf_reserve(b, n) != 0)
        return -1;
    while (i < n) {
        unsigned char c = u[i];
        size_t len = 1;
        char esc[8] = "";
        if (c >= 0x80) {
            len = cs_utf8_seq_len(u + i, n - i);
            if (len == 2 && c == 0xC2 && u[i + 1] <= 0x9F)
                snprintf(esc, sizeof esc, "\\u00%c%c", hex[u[i + 1] >> 4], hex[u[i + 1] & 15]);
            else if (len == 0) {
                len = 1;
                snprintf(esc, sizeof esc, "\\x%c%c", hex[c >> 4], hex[c & 15]);
            }
        } else if (c == '\n' || c == '\t' || c == '\r') {
            snprintf(esc, sizeof esc, "\\%c", c == '\n' ? 'n' : c == '\t' ? 't' : 'r');
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%c%c", hex[c >> 4], hex[c & 15]);
        }
        if (esc[0]) {
            if (cs_buf_append(b, s + run, i - run) != 0 || cs_buf_appends(b, esc) != 0)
                return -1;
            run = i + len;
        }
        i += len;
    }
    return cs_buf_append(b, s + run, n - run);
}

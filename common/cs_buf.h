/*
 * cs_buf: a growable byte buffer with a hard size cap.
 *
 * Used for HTTP bodies, serialized events and anything else whose size comes
 * from outside.  Appending past the cap fails instead of growing without end,
 * so a hostile or broken peer cannot make a worker allocate unbounded memory.
 * The data is always NUL-terminated (the terminator is not counted in len).
 *
 * Thread safety: a buffer belongs to one thread at a time.
 * Ownership: the buffer owns its memory; cs_buf_free() releases it.
 */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stddef.h>
#include <stdarg.h>

typedef struct cs_buf {
    char  *data;
    size_t len;
    size_t alloc;
    size_t cap;    /* maximum len; 0 means the default cap */
} cs_buf;

#define CS_BUF_DEFAULT_CAP ((size_t)64 * 1024 * 1024)

void cs_buf_init(cs_buf *b, size_t cap);
void cs_buf_free(cs_buf *b);
void cs_buf_reset(cs_buf *b);
/* 0 on success, -1 when the cap would be exceeded or memory ran out. */
int  cs_buf_append(cs_buf *b, const void *p, size_t n);
int  cs_buf_appends(cs_buf *b, const char *s);
int  cs_buf_appendc(cs_buf *b, char c);
int  cs_buf_appendf(cs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int  cs_buf_vappendf(cs_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Makes room for extra more bytes (and the NUL) without appending. */
int  cs_buf_reserve(cs_buf *b, size_t extra);
/* Appends the strings given, up to a NULL: the hot paths' key names, without
 * printf. */
int  cs_buf_appendv(cs_buf *b, const char *s, ...) __attribute__((sentinel));
/* Appends v in decimal. */
int  cs_buf_append_i64(cs_buf *b, long long v);
/* Writes v in decimal into out (24 bytes hold any value), NUL-terminated;
 * returns its length. */
size_t cs_i64_str(char out[24], long long v);
/* Appends s as a JSON string literal (quotes and escapes included). */
int  cs_buf_append_json_str(cs_buf *b, const char *s, size_t n);
/* Appends s made safe for a terminal or a line-oriented log: every C0
 * control character and DEL (newline, tab and carriage return as \n, \t,
 * \r, the others as \xNN), every C1 control character (U+0080..U+009F, as
 * \u0080..\u009F) and every byte that is not valid UTF-8 (\xNN) is written
 * as a visible escape; everything else is kept.  The one escaping of text
 * from outside (product data, channel answers) for human-facing output:
 * the text log, catalogsyncctl, doctor. */
int  cs_buf_append_text(cs_buf *b, const char *s, size_t n);

#endif

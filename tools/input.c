#include "input.h"

#include <string.h>

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cs_input_mode_parse(const char *s)
{
    if (strcmp(s, "auto") == 0)
        return CS_INPUT_AUTO;
    if (strcmp(s, "json") == 0)
        return CS_INPUT_JSON;
    if (strcmp(s, "jsonl") == 0 || strcmp(s, "ndjson") == 0)
        return CS_INPUT_JSONL;
    return -1;
}

/* Cursor over the buffer that keeps the line number of pos. */
typedef struct {
    const char *buf;
    size_t len, pos;
    unsigned line;
} cur;

static void advance(cur *c, size_t to)
{
    for (; c->pos < to; c->pos++)
        if (c->buf[c->pos] == '\n')
            c->line++;
}

static void skip_ws(cur *c)
{
    while (c->pos < c->len && is_ws(c->buf[c->pos])) {
        if (c->buf[c->pos] == '\n')
            c->line++;
        c->pos++;
    }
}

/* End (exclusive) of the JSON value starting at pos, or 0 if unterminated. */
static size_t value_end(const char *b, size_t len, size_t pos)
{
    char c = b[pos];
    if (c == '{' || c == '[') {
        int depth = 0, in_str = 0;
        for (size_t i = pos; i < len; i++) {
            char ch = b[i];
            if (in_str) {
                if (ch == '\\')
                    i++;
                else if (ch == '"')
                    in_str = 0;
            } else if (ch == '"') {
                in_str = 1;
            } else if (ch == '{' || ch == '[') {
                depth++;
            } else if (ch == '}' || ch == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return 0;
    }
    if (c == '"') {
        for (size_t i = pos + 1; i < len; i++) {
            if (b[i] == '\\')
                i++;
            else if (b[i] == '"')
                return i + 1;
        }
        return 0;
    }
    size_t i = pos + 1;
    while (i < len && !is_ws(b[i]) && b[i] != ',' && b[i] != ']' && b[i] != '}' &&
           b[i] != '{' && b[i] != '[')
        i++;
    return i;
}

static int looks_like_jsonl(const char *b, size_t len)
{
    size_t lines = 0, i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && b[e] != '\n')
            e++;
        size_t s = i, t = e;
        while (s < t && is_ws(b[s]))
            s++;
        while (t > s && is_ws(b[t - 1]))
            t--;
        if (t > s) {
            if (b[s] != '{' || b[t - 1] != '}')
                return 0;
            lines++;
        }
        i = e + 1;
    }
    return lines > 1;
}

static size_t split_lines(const char *b, size_t len, cs_input_item_cb *item_cb, void *opaque)
{
    size_t n = 0, i = 0;
    unsigned line = 1;
    while (i < len) {
        size_t e = i;
        while (e < len && b[e] != '\n')
            e++;
        size_t s = i, t = e;
        while (s < t && is_ws(b[s]))
            s++;
        while (t > s && is_ws(b[t - 1]))
            t--;
        if (t > s) {
            n++;
            if (item_cb(opaque, b + s, t - s, line))
                return n;
        }
        line++;
        i = e + 1;
    }
    return n;
}

size_t cs_input_split(const char *buf, size_t len, cs_input_mode mode,
                      cs_input_item_cb *item_cb, cs_input_error_cb *error_cb, void *opaque)
{
    cur c = {buf, len, 0, 1};
    size_t n = 0;

    if (mode == CS_INPUT_JSONL || (mode == CS_INPUT_AUTO && looks_like_jsonl(buf, len)))
        return split_lines(buf, len, item_cb, opaque);

    skip_ws(&c);
    int array = c.pos < len && buf[c.pos] == '[';
    if (array) {
        advance(&c, c.pos + 1);
        for (;;) {
            skip_ws(&c);
            if (c.pos >= len) {
                error_cb(opaque, c.line, "unterminated JSON array");
                return n;
            }
            if (buf[c.pos] == ']' && n == 0)
                break;
            size_t end = value_end(buf, len, c.pos);
            if (!end) {
                error_cb(opaque, c.line, "unterminated JSON value");
                return n;
            }
            n++;
            unsigned line = c.line;
            size_t start = c.pos;
            advance(&c, end);
            if (item_cb(opaque, buf + start, end - start, line))
                return n;
            skip_ws(&c);
            if (c.pos < len && buf[c.pos] == ',') {
                advance(&c, c.pos + 1);
                continue;
            }
            if (c.pos < len && buf[c.pos] == ']')
                break;
            error_cb(opaque, c.line, "expected ',' or ']' between array items");
            return n;
        }
        advance(&c, c.pos + 1);
        skip_ws(&c);
        if (c.pos < len)
            error_cb(opaque, c.line, "unexpected data after the JSON array");
        return n;
    }
    for (;;) {
        skip_ws(&c);
        if (c.pos >= len)
            return n;
        size_t end = value_end(buf, len, c.pos);
        if (!end) {
            error_cb(opaque, c.line, "unterminated JSON value");
            return n;
        }
        n++;
        unsigned line = c.line;
        size_t start = c.pos;
        advance(&c, end);
        if (item_cb(opaque, buf + start, end - start, line))
            return n;
    }
}

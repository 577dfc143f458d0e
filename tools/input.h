/*
 * input: splits a buffer of JSON input into one span per item, for
 * catalogsync-publish.  Accepts a JSON array of items, JSON lines, or a
 * stream of concatenated JSON values (pretty-printed objects one after the
 * other).  It only finds item boundaries; each span is parsed and validated
 * by cs_event.  Pure and reentrant; the spans point into the caller's buffer.
 */
#ifndef CS_INPUT_H
#define CS_INPUT_H

#include <stddef.h>

typedef enum { CS_INPUT_AUTO = 0, CS_INPUT_JSON, CS_INPUT_JSONL } cs_input_mode;

/* Called per item with its span and the line it starts on (1-based).
 * Return non-zero to stop. */
typedef int (cs_input_item_cb)(void *opaque, const char *p, size_t len, unsigned line);
/* Called when the input's framing is broken at line; splitting stops there
 * (JSON lines mode reports the bad line and goes on). */
typedef void (cs_input_error_cb)(void *opaque, unsigned line, const char *why);

int cs_input_mode_parse(const char *s);

/* Returns the number of items handed to item_cb. */
size_t cs_input_split(const char *buf, size_t len, cs_input_mode mode,
                      cs_input_item_cb *item_cb, cs_input_error_cb *error_cb, void *opaque);

#endif

/*
 * cs_event_priv.h: what cs_event.c shares with its fast decoder
 * (cs_event_fast.c) and with the tests that hold the two against each other.
 * Not for callers: they use cs_event.h.
 */
#ifndef CS_EVENT_PRIV_H
#define CS_EVENT_PRIV_H

#include "cs_event.h"

/* The event's arena: n bytes (8-aligned) that die with the event. */
void *cs_event_arena_alloc(cs_event_arena **head, size_t n);

/* A first arena block sized for an event of len bytes of JSON. */
void cs_event_arena_reserve(cs_event_arena **head, size_t len);

/*
 * The fast decoder: one pass over the payload straight into ev (a zeroed
 * event), no document.  It accepts only what the reference parser accepts
 * and fills ev exactly as the reference would; anything else — every
 * rejection, and the rare valid shapes it does not handle (numbers with a
 * fraction in unknown fields, escaped keys, very deep or long values) —
 * returns -1, and the caller runs the reference parser on the same bytes for
 * the result and the exact error message.  Returns 0 when ev is complete.
 * The payload has passed the size check; the decoder checks its UTF-8.
 */
int cs_event_decode_fast(const char *buf, size_t len, cs_event *ev);

/* The reference parser (jansson DOM, then the contract's checks), the one
 * that words every rejection.  cs_event_parse() tries the fast decoder
 * first; tests and the fuzzer compare the two. */
cs_event_err cs_event_parse_reference(const char *buf, size_t len,
                                      const cs_event_limits *lim, cs_event **out,
                                      char *errstr, size_t errstr_size);

#endif

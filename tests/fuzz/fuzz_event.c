/*
 * fuzz_event: libFuzzer harness for the event contract (common/cs_event.h).
 *
 * Input: one Kafka payload (or one catalogsync-publish input object), as is.
 *
 * Feeds it to cs_event_parse() and to cs_event_parse_input() with a
 * product.updated template, so bare product snapshots get wrapped too.  Every
 * event that parses goes through the round trip the publisher relies on:
 * cs_event_serialize() must succeed, its canonical JSON must parse again, and
 * serializing that event must give the same bytes.  A broken round trip
 * abort()s: an event the publisher re-serializes and the workers then reject
 * (or read differently) is a lost or altered product change.
 *
 * The same bytes also go to the reference parser (cs_event_parse_reference):
 * cs_event_parse() tries the fast decoder first, and the two must give the
 * same verdict, the same event, or the same error message.  A difference
 * abort()s.
 *
 * Memory errors and undefined behaviour are caught by ASan/UBSan.
 */
#include "cs_buf.h"
#include "cs_event_priv.h"
#include "../unit/event_compare.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const changed[] = {"price", "name"};

static const cs_event_template tpl = {
    .type = CS_EV_UPDATED,
    .tenant = "fuzz",
    .actor = "fuzz",
    .changed_fields = changed,
    .n_changed_fields = 2,
};

static void fail(const char *what, const cs_buf *a, const cs_buf *b, const char *err)
{
    fprintf(stderr, "fuzz_event: %s\n  first:  %.*s\n  second: %.*s\n  error:  %s\n", what,
            (int)a->len, a->data ? a->data : "", (int)b->len, b->data ? b->data : "", err);
    abort();
}

/* serialize -> parse -> serialize: both steps succeed and the bytes agree. */
static void round_trip(const cs_event *ev)
{
    cs_buf a, b;
    cs_event *again = NULL;
    char err[512] = "";
    char key[512];

    cs_buf_init(&a, 0);
    cs_buf_init(&b, 0);
    if (cs_event_serialize(ev, &a) != 0)
        fail("cs_event_serialize() failed on a parsed event", &a, &b, "");
    if (cs_event_parse(a.data, a.len, NULL, &again, err, sizeof err) != CS_EVENT_OK)
        fail("the serialized event does not parse again", &a, &b, err);
    if (cs_event_serialize(again, &b) != 0)
        fail("cs_event_serialize() failed on the re-parsed event", &a, &b, "");
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail("serialization is not stable across a parse", &a, &b, "");
    cs_event_key(again, key, sizeof key);
    cs_event_key(again, key, 8);        /* the truncating path */
    cs_event_destroy(again);
    cs_buf_free(&a);
    cs_buf_free(&b);
}

/* The fast decoder's verdict, event and message against the reference's. */
static void differential(const char *buf, size_t size, cs_event_err got, const cs_event *ev,
                         const char *err)
{
    char ref_err[512] = "", why[64];
    cs_event *ref = NULL;
    cs_event_err want = cs_event_parse_reference(buf, size, NULL, &ref, ref_err, sizeof ref_err);
    if (got != want || (got == CS_EVENT_OK && !event_compare(ev, ref, why, sizeof why)) ||
        (got != CS_EVENT_OK && strcmp(err, ref_err) != 0)) {
        fprintf(stderr, "fuzz_event: parse and reference disagree: %s (%s) vs %s (%s), %s\n",
                cs_event_err_name(got), err, cs_event_err_name(want), ref_err,
                got == CS_EVENT_OK ? why : "");
        abort();
    }
    cs_event_destroy(ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char err[512] = "";
    cs_event *ev = NULL;

    cs_event_err got = cs_event_parse(buf, size, NULL, &ev, err, sizeof err);
    differential(buf, size, got, ev, err);
    if (got == CS_EVENT_OK)
        round_trip(ev);
    cs_event_destroy(ev);

    ev = NULL;
    if (cs_event_parse_input(buf, size, NULL, &tpl, &ev, err, sizeof err) == CS_EVENT_OK)
        round_trip(ev);
    cs_event_destroy(ev);
    return 0;
}

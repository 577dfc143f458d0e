/*
 * fuzz_graph: libFuzzer harness for the Meta Graph API answer parsers
 * (workers/meta_graph.h).
 *
 * Input: one HTTP answer body, as is.  The parsers take (ptr, len), so the
 * body is passed without a terminating NUL: ASan sees any read past len.
 *
 *   - cs_graph_parse_error() (HTTP status taken from the first two bytes),
 *     then cs_graph_classify() of what it filled;
 *   - cs_graph_parse_items_batch() and cs_graph_parse_batch_status(), freed
 *     whether they succeed or not;
 *   - cs_graph_throttle_pause_ms() with the input split at its first NUL
 *     into X-Business-Use-Case-Usage and X-App-Usage (the second is NULL
 *     when the input has no NUL); the pause must stay in
 *     [0, CS_CHANNEL_MAX_PAUSE_MS] as documented, else abort();
 *   - cs_graph_appsecret_proof() on the same two strings.
 */
#include "meta_graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_pause(int64_t ms, const char *buc, const char *app)
{
    if (ms < 0 || ms > CS_CHANNEL_MAX_PAUSE_MS) {
        fprintf(stderr, "fuzz_graph: pause %lld ms out of range\n  buc: %s\n  app: %s\n",
                (long long)ms, buc, app ? app : "(null)");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char err[512];

    cs_graph_error e;
    long status = size >= 2 ? (long)((data[0] | data[1] << 8) % 600) : 200;
    cs_graph_parse_error(body, size, status, &e);
    (void)cs_class_name(cs_graph_classify(&e));

    cs_graph_batch_reply reply;
    memset(&reply, 0, sizeof reply);
    cs_graph_parse_items_batch(body, size, &reply, err, sizeof err);
    cs_graph_batch_reply_free(&reply);

    cs_graph_batch_status st;
    memset(&st, 0, sizeof st);
    cs_graph_parse_batch_status(body, size, &st, err, sizeof err);
    cs_graph_batch_status_free(&st);

    /* Two NUL-terminated header strings from one input. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *buc = copy;
    size_t first = strlen(copy);
    const char *app = first < size ? copy + first + 1 : NULL;
    int pct = 0;
    check_pause(cs_graph_throttle_pause_ms(buc, app, -1, 60000, &pct), buc, app);
    check_pause(cs_graph_throttle_pause_ms(app, buc, 1500, -5, NULL), app ? app : "(null)", buc);

    char proof[65];
    cs_graph_appsecret_proof(buc, app ? app : "", proof);
    free(copy);
    return 0;
}

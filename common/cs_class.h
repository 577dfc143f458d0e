/*
 * cs_class: what a failed channel call means to the worker, in one
 * vocabulary every channel client uses.  Each channel's client classifies
 * its own answers into these classes (workers/meta_graph.h:
 * cs_graph_classify; workers/woo_rest.h: cs_woo_classify) and its sink
 * turns the class into an outcome: retry later, pause the connection,
 * fail the item, or split the call.
 *
 * Thread safety: no state.
 */
#ifndef CS_CLASS_H
#define CS_CLASS_H

typedef enum {
    CS_CLASS_OK = 0,
    CS_CLASS_TRANSIENT,   /* retry with backoff */
    CS_CLASS_THROTTLE,    /* pause the connection for the channel's delay, no attempt charged */
    CS_CLASS_AUTH,        /* key, token or permission: pause the connection, alert */
    CS_CLASS_BAD_ITEM,    /* the request itself is wrong: park the item */
    CS_CLASS_REFUSED,     /* the connection refuses every call (its target is gone or not
                             ours, disallowed): pause the connection, alert */
    CS_CLASS_TOO_LARGE    /* the call carried too much data: split it */
} cs_class;

/* "ok","transient","throttle","auth","bad_item","refused","too_large"; the
 * kind of a pause a sink reports (cs_conn_result.kind) is one of these
 * unless the channel has a word of its own. */
const char *cs_class_name(cs_class c);

#endif

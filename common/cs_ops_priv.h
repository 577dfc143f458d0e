/*
 * cs_ops_priv: what cs_ops.c (reads) and cs_ops_change.c (changes) share.
 * Nothing else includes it.
 */
#ifndef CS_OPS_PRIV_H
#define CS_OPS_PRIV_H

#include "cs_buf.h"
#include "cs_ops.h"

struct cs_ops {
    const cs_config *cfg;
    cs_redis *r;
    cs_sync *sync[2];           /* meta, woocommerce */
    cs_ops_conn *conns;
    size_t n_conns;
};

cs_sync *cs_ops_sync_of(cs_ops *o, const char *sink);
/* P{sink}: the base of the sink's key names (common/cs_keys.h) */
const char *cs_ops_key_base(cs_ops *o, const char *sink);
/* One command; NULL (logged) on a transport or error reply. */
redisReply *cs_ops_cmd(cs_ops *o, int argc, const char **argv);

#endif

/*
 * cs_keys: Redis key names (common/cs_keys.h, docs/REDIS.md).
 */
#include "cs_keys.h"

#include <stddef.h>

void cs_key_base(cs_buf *out, const char *redis_prefix, const char *sink)
{
    cs_buf_reset(out);
    cs_buf_appendv(out, redis_prefix, "{", sink, "}:", NULL);
}

void cs_key_sink(cs_buf *out, const char *base, const char *name)
{
    cs_buf_reset(out);
    cs_buf_appendv(out, base, name, NULL);
}

void cs_key_conn(cs_buf *out, const char *base, const char *name, const char *conn)
{
    cs_buf_reset(out);
    cs_buf_appendv(out, base, name, ":", conn, NULL);
}

void cs_key_product(cs_buf *out, const char *base, const char *name, const char *conn,
                    const char *tenant, const char *id)
{
    cs_buf_reset(out);
    if (id)
        cs_buf_appendv(out, base, name, ":", conn, ":", tenant, ":", id, NULL);
    else
        cs_buf_appendv(out, base, name, ":", conn, ":", tenant, NULL);
}

void cs_key_tally(cs_buf *out, const char *base, const char *conn, int64_t bucket)
{
    cs_buf_reset(out);
    cs_buf_appendf(out, "%s" CS_KEY_TALLY ":%s:%lld", base, conn, (long long)bucket);
}

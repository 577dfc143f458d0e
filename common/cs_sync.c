#include "cs_sync_priv.h"
#include "cs_log.h"
#include "cs_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* KEYS: state, retry, snap, index, inflight, lease, counts, exclude, waiting
 * ARGV: member, version, snapshot, now, sku, name, product key, owner (this
 *       worker), owner_until (now + retry.lease_ms)
 * Versions (at most 2^53 - 1, CS_EVENT_MAX_VERSION) are compared as Lua
 * numbers, exact up to there, and stored as the decimal string C wrote:
 * a Lua number is written back as %.17g or worse. */
static const char LUA_BEGIN[] =
    "local f = redis.call('HMGET', KEYS[1], 'version', 'status', 'owner', 'owner_until', 'behind')\n"
    "local cur_s, status, owner, behind = f[1], f[2] or '', f[3], f[5]\n"
    "local cur, v, now = tonumber(cur_s or '-1'), tonumber(ARGV[2]), tonumber(ARGV[4])\n"
    "local owner_until = tonumber(f[4] or '0')\n"
    "local lease_end = 0\n"
    "if redis.call('HEXISTS', KEYS[6], ARGV[1]) == 1 then\n"
    "  lease_end = tonumber(redis.call('ZSCORE', KEYS[5], ARGV[1]) or '0')\n"
    "end\n"
    "if v < cur then return {'stale', status, ''} end\n"
    "if v == cur then\n"
    "  if status ~= 'pending' and status ~= 'not_synced' then return {'dup', status, ''} end\n"
    /* The same version still unsettled: pushed again (a worker re-reading
     * its own batch, or one taking over from a worker gone) unless another
     * live worker is pushing or confirming it: a claimed retry's lease, or
     * the owner that began it.  That worker settles it; if it dies, the
     * lease's expiry or the recovery entry queued here pushes it. */
    "  if lease_end > now then return {'held', status, ''} end\n"
    "  if owner and owner ~= ARGV[8] and owner_until > now then\n"
    "    redis.call('ZADD', KEYS[2], 'NX', owner_until, ARGV[1])\n"
    "    return {'held', status, ''}\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 'owner', ARGV[8], 'owner_until', ARGV[9])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])\n"
    "  return {'push', status, redis.call('HGET', KEYS[1], 'handle') or ''}\n"
    "end\n"
    /* A push of an older version begun and never settled (worker or Redis
     * gone meanwhile) may have reached the channel: remembered, as settle
     * does for a push it saw leave. */
    "if status == 'pending' then redis.call('HSET', KEYS[1], 'pushed', 1) end\n"
    /* Excluded by an operator: kept up to date in Redis, never pushed. */
    "if redis.call('SISMEMBER', KEYS[8], ARGV[7]) == 1 then\n"
    "  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'skipped', 'attempts', 0,\n"
    "    'skip_reason', 'excluded by an operator', 'sku', ARGV[5], 'name', ARGV[6],\n"
    "    'product', ARGV[7], 'seen_at', ARGV[4])\n"
    "  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'owner', 'owner_until', 'behind')\n"
    "  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  if redis.call('HDEL', KEYS[6], ARGV[1]) == 1 then redis.call('ZREM', KEYS[5], ARGV[1]) end\n"
    "  redis.call('SADD', KEYS[4], ARGV[7])\n"
    "  redis.call('ZREM', KEYS[9], ARGV[7])\n"
    "  if status ~= 'skipped' then\n"
    "    if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end\n"
    "    redis.call('HINCRBY', KEYS[7], 'skipped', 1)\n"
    "  end\n"
    "  return {'excluded', status, ''}\n"
    "end\n"
    /* An older version is still in a live worker's hands: a claimed retry
     * (its lease), or a push begun and not settled (its owner: pushing, or
     * confirming a recorded batch).  Pushing this version now could reach
     * the channel before that older write does, and a batch confirmed late
     * would leave the older version last.  This version is recorded and
     * queued behind it instead ("behind": the version it waits for); the
     * holder's settle makes it due at once, and if the holder dies it is
     * due when the lease or the owner's time ends. */
    "local hold = 0\n"
    "if lease_end > now then hold = lease_end\n"
    "elseif (status == 'pending' or behind) and owner_until > now then\n"
    "  hold = owner_until\n"
    "  if not behind then behind = cur_s end\n"
    "end\n"
    "if hold > 0 then\n"
    "  redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'retry_pending', 'attempts', 0,\n"
    "    'next_attempt', hold, 'sku', ARGV[5], 'name', ARGV[6], 'product', ARGV[7],\n"
    "    'seen_at', ARGV[4])\n"
    "  if behind then redis.call('HSET', KEYS[1], 'behind', behind) end\n"
    "  redis.call('HDEL', KEYS[1], 'handle', 'skip_reason')\n"
    "  redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])\n"
    "  redis.call('ZADD', KEYS[2], hold, ARGV[1])\n"
    "  redis.call('SADD', KEYS[4], ARGV[7])\n"
    "  redis.call('ZADD', KEYS[9], 'NX', ARGV[4], ARGV[7])\n"
    "  if status ~= 'retry_pending' then\n"
    "    if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end\n"
    "    redis.call('HINCRBY', KEYS[7], 'retry_pending', 1)\n"
    "  end\n"
    "  return {'deferred', status, ''}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'version', ARGV[2], 'status', 'pending', 'attempts', 0,\n"
    "  'sku', ARGV[5], 'name', ARGV[6], 'product', ARGV[7], 'seen_at', ARGV[4],\n"
    "  'owner', ARGV[8], 'owner_until', ARGV[9])\n"
    "redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'behind')\n"
    "redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])\n"
    /* Durable from here: the push's outcome is settled by this worker, or,
     * should it die, this entry is claimed when the owner's time ends (the
     * worker commits the event's offset before the push ends). */
    "redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])\n"
    "if redis.call('HDEL', KEYS[6], ARGV[1]) == 1 then redis.call('ZREM', KEYS[5], ARGV[1]) end\n"
    "redis.call('SADD', KEYS[4], ARGV[7])\n"
    "redis.call('ZADD', KEYS[9], 'NX', ARGV[4], ARGV[7])\n"
    "if status ~= 'pending' then\n"
    "  if status ~= '' then redis.call('HINCRBY', KEYS[7], status, -1) end\n"
    "  redis.call('HINCRBY', KEYS[7], 'pending', 1)\n"
    "end\n"
    "return {'push', status, ''}\n";

/* KEYS: retry, inflight, lease, snap, fence
 * ARGV: now, lease_ms, limit, then the connections to leave alone (this
 *       worker's that are busy: their due members stay queued, not claimed
 *       and handed back at every flush) */
static const char LUA_CLAIM[] =
    "local now = tonumber(ARGV[1])\n"
    "local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)\n"
    "for _, m in ipairs(expired) do\n"
    "  redis.call('ZREM', KEYS[2], m)\n"
    "  redis.call('HDEL', KEYS[3], m)\n"
    "  redis.call('ZADD', KEYS[1], now, m)\n"
    "end\n"
    "local want, skip, skipped, taken = tonumber(ARGV[3]), {}, 0, 0\n"
    "for i = 4, #ARGV do skip[ARGV[i]] = true end\n"
    "local out = {}\n"
    "while taken < want and skipped < 10 * want do\n"
    "  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', skipped,\n"
    "    want - taken)\n"
    "  if #due == 0 then break end\n"
    "  for _, m in ipairs(due) do\n"
    "    if skip[string.match(m, '^[^|]*')] then skipped = skipped + 1\n"
    "    else\n"
    "      taken = taken + 1\n"
    "      redis.call('ZREM', KEYS[1], m)\n"
    "      local snap = redis.call('HGET', KEYS[4], m)\n"
    "      if snap then\n"
    "        local tok = tostring(redis.call('INCR', KEYS[5]))\n"
    "        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), m)\n"
    "        redis.call('HSET', KEYS[3], m, tok)\n"
    "        out[#out + 1] = m\n"
    "        out[#out + 1] = tok\n"
    "        out[#out + 1] = snap\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return out\n";

/* KEYS: state, retry, inflight, lease, snap, index, stats, errors, counts,
 *       history, tally (this 5-minute bucket), waiting
 * ARGV: 1 member, 2 version, 3 token, 4 kind, 5 now, 6 remote_id, 7 code,
 *       8 subcode, 9 type, 10 message, 11 trace, 12 resume_at,
 *       13 max_attempts, 14 delays (csv), 15 jitter_pct, 16 rand 0..999,
 *       17 product key, 18 handle */
static const char LUA_SETTLE[] =
    "local old = redis.call('HGET', KEYS[1], 'status') or ''\n"
    /* The product's last ten attempts, newest first (catalogsyncctl show). */
    /* The version is spliced in as written (digits from C): cjson would
     * write a number above 10^14 as 9.007199254741e+15. */
    "local function remember(kind, attempts)\n"
    "  local rest = cjson.encode({at = tonumber(ARGV[5]), outcome = kind, attempt = attempts,\n"
    "    code = ARGV[7], message = ARGV[10]})\n"
    "  redis.call('LPUSH', KEYS[10], '{\"version\":' .. ARGV[2] .. ',' .. string.sub(rest, 2))\n"
    "  redis.call('LTRIM', KEYS[10], 0, 9)\n"
    "end\n"
    "local function apply()\n"
    "local m, v, now, kind = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5]), ARGV[4]\n"
    "if ARGV[3] ~= '' then\n"
    /* The lease was taken over (expired and claimed again, or fenced by
     * begin) while this worker pushed or confirmed: its outcome changes
     * nothing.  One of an older version than Redis holds may still have
     * reached the channel after the newer one was pushed: "overtaken", and
     * the worker queues the newest version again (requeue_overtaken). */
    "  if redis.call('HGET', KEYS[4], m) ~= ARGV[3] then\n"
    "    if kind ~= 'release' and kind ~= 'pending' and\n"
    "       tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') > tonumber(ARGV[2]) then\n"
    "      return {'overtaken', 0, 0}\n"
    "    end\n"
    "    return {'fenced', 0, 0}\n"
    "  end\n"
    "  if kind ~= 'pending' then\n"
    "    redis.call('HDEL', KEYS[4], m)\n"
    "    redis.call('ZREM', KEYS[3], m)\n"
    "  end\n"
    "end\n"
    /* No state: the product was removed (a newer version's delete settled)
     * while this outcome was on its way; recording it would bring back a
     * product without a version. */
    "local stored = redis.call('HGET', KEYS[1], 'version')\n"
    "if not stored then return {'superseded', 0, 0} end\n"
    "local cur = tonumber(stored)\n"
    /* A release hands the claim back untouched; a lease holder's release
     * of an overtaken version also makes the newer version queued behind
     * its lease (begin: "deferred") due now, as any outcome of it does. */
    /* The newer version queued behind this one (begin: "deferred", behind
     * a lease or an owner's push) is due once this one is done with. */
    "local waited = ARGV[3] ~= '' or redis.call('HGET', KEYS[1], 'behind') == ARGV[2]\n"
    "local function wake()\n"
    "  if redis.call('ZSCORE', KEYS[2], m) then redis.call('ZADD', KEYS[2], now, m) end\n"
    "  redis.call('HDEL', KEYS[1], 'behind')\n"
    "end\n"
    "if kind == 'release' then\n"
    "  if v >= cur then\n"
    "    redis.call('ZADD', KEYS[2], tonumber(ARGV[12]), m)\n"
    /* A fresh push handed back (its connection busy): queued, in no
     * worker's hands, claimed when a lane has room. */
    "    if ARGV[3] == '' and redis.call('HGET', KEYS[1], 'status') == 'pending' then\n"
    "      redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'next_attempt', ARGV[12])\n"
    "      redis.call('HDEL', KEYS[1], 'owner', 'owner_until')\n"
    "    end\n"
    "  elseif waited then wake() end\n"
    "  return {'released', 0, tonumber(ARGV[12])}\n"
    "end\n"
    "if v < cur then\n"
    "  if kind == 'pending' then return {'superseded', 0, 0} end\n"
    "  if waited then\n"
    "    wake()\n"
    "    return {'superseded', 0, 0}\n"
    "  end\n"
    /* A push that nothing waited for: the newer version was pushed while
     * this one was in flight (its owner's time ran out), and this one may
     * have reached the channel after it. */
    "  return {'overtaken', 0, 0}\n"
    "end\n"
    /* A request carrying the product left (accepted, confirmed, or an
     * outcome naming its remote id): it may be at the channel. */
    "if kind == 'pending' or kind == 'synced' or ARGV[6] ~= '' then\n"
    "  redis.call('HSET', KEYS[1], 'pushed', 1)\n"
    "end\n"
    "if kind == 'deleted' or kind == 'synced' or kind == 'skipped' then\n"
    "  redis.call('ZREM', KEYS[12], ARGV[17])\n"
    "end\n"
    "if kind == 'deleted' then\n"
    "  redis.call('DEL', KEYS[1], KEYS[10])\n"
    "  redis.call('HDEL', KEYS[5], m)\n"
    "  redis.call('ZREM', KEYS[2], m)\n"
    "  redis.call('SREM', KEYS[6], ARGV[17])\n"
    /* No remote id: the product never reached the channel (the connection
     * never held it); only its records went. */
    "  if ARGV[6] == '' then return {'cleaned', 0, 0} end\n"
    "  redis.call('HINCRBY', KEYS[7], 'deleted_total', 1)\n"
    "  return {'deleted', 0, 0}\n"
    "end\n"
    "if kind == 'pending' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'pending', 'handle', ARGV[18], 'last_attempt', now)\n"
    /* Due again then unless settled before: a worker that died while
     * confirming is followed by one that polls the handle. */
    "  if tonumber(ARGV[12]) > 0 then\n"
    "    redis.call('HSET', KEYS[1], 'next_attempt', ARGV[12], 'owner_until', ARGV[12])\n"
    "    redis.call('ZADD', KEYS[2], ARGV[12], m)\n"
    "  end\n"
    "  return {'pending', 0, 0}\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'owner', 'owner_until', 'behind')\n"
    "local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')\n"
    "if kind == 'synced' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'synced', 'synced_version', ARGV[2], 'last_success', now,\n"
    "    'last_attempt', now, 'attempts', attempts + 1, 'remote_id', ARGV[6])\n"
    "  if ARGV[19] ~= '' then redis.call('HSET', KEYS[1], 'warnings', ARGV[19])\n"
    "  else redis.call('HDEL', KEYS[1], 'warnings') end\n"
    "  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt', 'skip_reason')\n"
    "  redis.call('ZREM', KEYS[2], m)\n"
    "  redis.call('HINCRBY', KEYS[7], 'synced_total', 1)\n"
    "  remember('synced', attempts + 1)\n"
    "  return {'synced', attempts + 1, 0}\n"
    "end\n"
    "if kind == 'skipped' then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'skipped', 'skip_reason', ARGV[10], 'last_attempt', now)\n"
    "  redis.call('HDEL', KEYS[1], 'handle', 'next_attempt')\n"
    "  redis.call('ZREM', KEYS[2], m)\n"
    "  remember('skipped', attempts)\n"
    "  return {'skipped', attempts, 0}\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'last_error_code', ARGV[7], 'last_error_subcode', ARGV[8],\n"
    "  'last_error_type', ARGV[9], 'last_error_message', ARGV[10], 'last_error_trace', ARGV[11],\n"
    "  'last_error_at', now, 'last_attempt', now)\n"
    /* A batch that may still apply this version keeps its handle (a retry
     * carrying it, a pause), to be polled before anything is pushed again; a
     * failure, or a retry without it (Meta said the batch did not apply it),
     * drops it. */
    "if ARGV[18] ~= '' then redis.call('HSET', KEYS[1], 'handle', ARGV[18])\n"
    "elseif kind ~= 'paused' then redis.call('HDEL', KEYS[1], 'handle') end\n"
    "if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'remote_id', ARGV[6]) end\n"
    "redis.call('LPUSH', KEYS[8], cjson.encode({product = ARGV[17], kind = kind, at = now,\n"
    "  code = ARGV[7], subcode = ARGV[8], type = ARGV[9], message = ARGV[10], trace = ARGV[11]}))\n"
    "redis.call('LTRIM', KEYS[8], 0, 49)\n"
    "if kind == 'paused' then\n"
    "  local at = tonumber(ARGV[12])\n"
    "  redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'next_attempt', at)\n"
    "  redis.call('ZADD', KEYS[2], at, m)\n"
    "  redis.call('HINCRBY', KEYS[7], 'paused_total', 1)\n"
    "  return {'paused', attempts, at}\n"
    "end\n"
    "attempts = attempts + 1\n"
    "if kind == 'failed' or attempts >= tonumber(ARGV[13]) then\n"
    "  redis.call('HSET', KEYS[1], 'status', 'failed', 'attempts', attempts)\n"
    "  redis.call('HDEL', KEYS[1], 'next_attempt')\n"
    "  redis.call('ZREM', KEYS[2], m)\n"
    "  redis.call('HINCRBY', KEYS[7], 'failed_total', 1)\n"
    "  remember('failed', attempts)\n"
    "  return {'failed', attempts, 0}\n"
    "end\n"
    "local delays = {}\n"
    "for d in string.gmatch(ARGV[14], '[^,]+') do delays[#delays + 1] = tonumber(d) end\n"
    "local d = delays[math.min(attempts, #delays)]\n"
    "local j = tonumber(ARGV[15])\n"
    "if j > 0 then d = d + math.floor(d * j / 100 * (tonumber(ARGV[16]) / 500 - 1)) end\n"
    "if d < 0 then d = 0 end\n"
    "local due = now + d\n"
    "redis.call('HSET', KEYS[1], 'status', 'retry_pending', 'attempts', attempts, 'next_attempt', due)\n"
    "redis.call('ZADD', KEYS[2], due, m)\n"
    "redis.call('HINCRBY', KEYS[7], 'retry_total', 1)\n"
    "remember('retry', attempts)\n"
    "return {'retry', attempts, due}\n"
    "end\n"
    "local res = apply()\n"
    /* The 5-minute tally counts what was decided: a retry on the last
     * attempt is a failure, a delete of what never reached the channel
     * (no remote id) nothing. */
    "local counted = {synced = 1, retry = 1, failed = 1, paused = 1, skipped = 1, deleted = 1}\n"
    "if counted[res[1]] then\n"
    "  redis.call('HINCRBY', KEYS[11], res[1], 1)\n"
    "  redis.call('PEXPIRE', KEYS[11], 90000000)\n"
    "end\n"
    "local new = redis.call('HGET', KEYS[1], 'status') or ''\n"
    "if new ~= old then\n"
    "  if old ~= '' then redis.call('HINCRBY', KEYS[9], old, -1) end\n"
    "  if new ~= '' then redis.call('HINCRBY', KEYS[9], new, 1) end\n"
    "end\n"
    "return res\n";

cs_sync *cs_sync_new(cs_redis *r, const cs_config *cfg, const char *sink)
{
    cs_sync *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->r = r;
    s->cfg = cfg;
    s->sink = strdup(sink);
    size_t n = strlen(cfg->redis_prefix) + strlen(sink) + 4;
    s->prefix = malloc(n);
    if (!s->sink || !s->prefix) {
        cs_sync_destroy(s);
        return NULL;
    }
    snprintf(s->prefix, n, "%s{%s}:", cfg->redis_prefix, sink);
    unsigned char id[8];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
        cs_sync_destroy(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof id; i++)
        snprintf(s->owner + 2 * i, 3, "%02x", id[i]);
    s->s_begin = cs_redis_add_script(r, LUA_BEGIN);
    s->s_claim = cs_redis_add_script(r, LUA_CLAIM);
    s->s_settle = cs_redis_add_script(r, LUA_SETTLE);
    s->s_reset = cs_redis_add_script(r, CS_SYNC_LUA_RESET);
    s->s_exclude = cs_redis_add_script(r, CS_SYNC_LUA_EXCLUDE);
    s->s_pause = cs_redis_add_script(r, CS_SYNC_LUA_PAUSE);
    s->s_resume = cs_redis_add_script(r, CS_SYNC_LUA_RESUME);
    if (s->s_begin < 0 || s->s_claim < 0 || s->s_settle < 0 || s->s_reset < 0 ||
        s->s_exclude < 0 || s->s_pause < 0 || s->s_resume < 0) {
        cs_sync_destroy(s);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < cfg->n_retry_schedule && k < sizeof s->delays - 24; i++)
        k += (size_t)snprintf(s->delays + k, sizeof s->delays - k, "%s%lld", i ? "," : "",
                              (long long)cfg->retry_schedule_ms[i]);
    return s;
}

void cs_sync_destroy(cs_sync *s)
{
    if (!s)
        return;
    free(s->prefix);
    free(s->sink);
    free(s);
}

const char *cs_sync_sink(const cs_sync *s)
{
    return s->sink;
}

void cs_sync_key(const cs_sync *s, cs_buf *out, const char *what)
{
    cs_buf_reset(out);
    cs_buf_appends(out, s->prefix);
    cs_buf_appends(out, what);
}

void cs_sync_state_key(const cs_sync *s, cs_buf *out, const char *conn, const char *tenant,
                       const char *product_id)
{
    cs_buf_reset(out);
    cs_buf_appendv(out, s->prefix, "state:", conn, ":", tenant, ":", product_id, NULL);
}

int cs_sync_job_init(cs_sync_job *j, size_t conn, const char *conn_id, cs_event *ev)
{
    memset(j, 0, sizeof *j);
    j->conn = conn;
    j->conn_id = conn_id;
    j->ev = ev;
    size_t nc = strlen(conn_id), nt = strlen(ev->tenant), np = strlen(ev->product.id);
    j->member = malloc(nc + nt + np + 3);
    if (!j->member)
        return -1;
    /* "<conn>|<tenant>:<product id>" */
    char *m = j->member;
    memcpy(m, conn_id, nc);
    m[nc] = '|';
    memcpy(m + nc + 1, ev->tenant, nt);
    m[nc + 1 + nt] = ':';
    memcpy(m + nc + 2 + nt, ev->product.id, np + 1);
    j->st.version = -1;
    j->st.synced_version = -1;
    return 0;
}

void cs_sync_job_free(cs_sync_job *j)
{
    if (!j)
        return;
    cs_event_destroy(j->ev);
    if (j->sink_free)
        j->sink_free(j->sink_data);
    j->sink_data = NULL;
    free(j->member);
    j->ev = NULL;
    j->member = NULL;
}

void cs_sync_keys_init(keys *k)
{
    cs_buf_init(&k->state, 4096);
    cs_buf_init(&k->retry, 512);
    cs_buf_init(&k->inflight, 512);
    cs_buf_init(&k->lease, 512);
    cs_buf_init(&k->snap, 512);
    cs_buf_init(&k->index, 512);
    cs_buf_init(&k->stats, 512);
    cs_buf_init(&k->fence, 512);
    cs_buf_init(&k->errors, 512);
    cs_buf_init(&k->counts, 512);
    cs_buf_init(&k->exclude, 512);
    cs_buf_init(&k->waiting, 512);
    cs_buf_init(&k->history, 4096);
    cs_buf_init(&k->tally, 512);
}

void cs_sync_keys_free(keys *k)
{
    cs_buf_free(&k->state);
    cs_buf_free(&k->retry);
    cs_buf_free(&k->inflight);
    cs_buf_free(&k->lease);
    cs_buf_free(&k->snap);
    cs_buf_free(&k->index);
    cs_buf_free(&k->stats);
    cs_buf_free(&k->fence);
    cs_buf_free(&k->errors);
    cs_buf_free(&k->counts);
    cs_buf_free(&k->exclude);
    cs_buf_free(&k->waiting);
    cs_buf_free(&k->history);
    cs_buf_free(&k->tally);
}

void cs_sync_keys_fill(const cs_sync *s, keys *k, const char *conn)
{
    char what[256];
    cs_sync_key(s, &k->retry, "retry");
    cs_sync_key(s, &k->inflight, "inflight");
    cs_sync_key(s, &k->lease, "lease");
    cs_sync_key(s, &k->snap, "snap");
    cs_sync_key(s, &k->fence, "fence");
    if (conn) {
        snprintf(what, sizeof what, "index:%s", conn);
        cs_sync_key(s, &k->index, what);
        snprintf(what, sizeof what, "stats:%s", conn);
        cs_sync_key(s, &k->stats, what);
        snprintf(what, sizeof what, "errors:%s", conn);
        cs_sync_key(s, &k->errors, what);
        snprintf(what, sizeof what, "counts:%s", conn);
        cs_sync_key(s, &k->counts, what);
        snprintf(what, sizeof what, "exclude:%s", conn);
        cs_sync_key(s, &k->exclude, what);
        snprintf(what, sizeof what, "waiting:%s", conn);
        cs_sync_key(s, &k->waiting, what);
        snprintf(what, sizeof what, "tally:%s:%lld", conn,
                 (long long)(cs_now_ms() / CS_SYNC_TALLY_MS));
        cs_sync_key(s, &k->tally, what);
    }
}

int cs_sync_eval_int(cs_sync *s, int script, int argc, const char **argv, long long *out)
{
    if (cs_redis_ready(s->r) != 0)
        return -1;
    argv[1] = cs_redis_script_sha(s->r, script);
    redisReply *r = cs_redis_cmd(s->r, argc, argv, NULL);
    int rc = -1;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        rc = 0;
    } else if (r) {
        cs_redis_drop(s->r);
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Reads n replies; on a transport error frees what it read and returns -1.
 * Error replies (a script bug) are logged and count as failures too. */
static int read_replies(cs_sync *s, redisReply **reps, size_t n, const char *what)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        reps[i] = cs_redis_pipe_get(s->r);
        if (!reps[i]) {
            for (size_t k = 0; k < i; k++)
                freeReplyObject(reps[k]);
            return -1;
        }
        if (reps[i]->type == REDIS_REPLY_ERROR) {
            CS_ERROR("redis", "%s: %s", what, reps[i]->str);
            rc = -1;
        }
    }
    if (rc != 0) {
        /* NOSCRIPT (SCRIPT FLUSH, failover): reconnecting loads the scripts. */
        cs_redis_drop(s->r);
    }
    if (rc != 0)
        for (size_t i = 0; i < n; i++)
            freeReplyObject(reps[i]);
    return rc;
}

/* The begin script's first reply word, parsed here once. */
static int begin_result(const char *word)
{
    static const struct {
        const char *word;
        int result;
    } words[] = {
        {"push", CS_BEGIN_PUSH},         {"stale", CS_BEGIN_STALE},
        {"dup", CS_BEGIN_DUP},           {"deferred", CS_BEGIN_DEFERRED},
        {"excluded", CS_BEGIN_EXCLUDED}, {"held", CS_BEGIN_HELD},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(word, words[i].word) == 0)
            return words[i].result;
    return CS_BEGIN_DUP;    /* unknown: never pushed */
}

int cs_sync_begin(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    cs_buf snap, pkey;
    char now[24], ver[24], until[24];
    int rc = -1;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    if (!reps)
        return -1;
    cs_sync_keys_init(&k);
    cs_buf_init(&snap, 0);
    cs_buf_init(&pkey, 1024);
    int64_t t = cs_now_ms();
    snprintf(now, sizeof now, "%lld", (long long)t);
    snprintf(until, sizeof until, "%lld", (long long)(t + s->cfg->retry_lease_ms));
    if (cs_redis_ready(s->r) != 0)
        goto out;
    const char *filled = NULL;     /* the connection k's sink-wide keys are for */
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = jobs[i];
        const cs_product *p = &j->ev->product;
        if (!filled || strcmp(filled, j->conn_id) != 0)
            cs_sync_keys_fill(s, &k, filled = j->conn_id);
        cs_sync_state_key(s, &k.state, j->conn_id, j->ev->tenant, p->id);
        cs_buf_reset(&snap);
        cs_event_serialize(j->ev, &snap);
        cs_buf_reset(&pkey);
        cs_buf_appendv(&pkey, j->ev->tenant, ":", p->id, NULL);
        cs_i64_str(ver, (long long)p->version);
        const char *argv[] = {"EVALSHA", cs_redis_script_sha(s->r, s->s_begin), "9",
                              k.state.data, k.retry.data, k.snap.data, k.index.data,
                              k.inflight.data, k.lease.data, k.counts.data, k.exclude.data,
                              k.waiting.data, j->member, ver,
                              snap.data, now,
                              p->sku ? p->sku : "", p->name ? p->name : "", pkey.data,
                              s->owner, until};
        size_t lens[sizeof argv / sizeof argv[0]];
        for (size_t a = 0; a < sizeof argv / sizeof argv[0]; a++)
            lens[a] = a == 14 ? snap.len : strlen(argv[a]);
        if (cs_redis_pipe_add(s->r, (int)(sizeof argv / sizeof argv[0]), argv, lens) != 0)
            goto out;
    }
    if (read_replies(s, reps, n, "begin") != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = reps[i];
        cs_sync_job *j = jobs[i];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
            const char *res = r->element[0]->str;
            j->begin_result = begin_result(res);
            copy_str(j->st.status, sizeof j->st.status, r->element[1]);
            copy_str(j->st.handle, sizeof j->st.handle, r->element[2]);
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    cs_sync_keys_free(&k);
    cs_buf_free(&snap);
    cs_buf_free(&pkey);
    return rc;
}

int cs_sync_read(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    int rc = -1;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    if (!reps)
        return -1;
    cs_sync_keys_init(&k);
    if (cs_redis_ready(s->r) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        cs_sync_state_key(s, &k.state, jobs[i]->conn_id, jobs[i]->ev->tenant,
                          jobs[i]->ev->product.id);
        const char *argv[] = {"HMGET", k.state.data, "version", "synced_version", "attempts",
                              "status", "remote_id", "handle", "pushed"};
        if (cs_redis_pipe_add(s->r, 9, argv, NULL) != 0)
            goto out;
    }
    if (read_replies(s, reps, n, "read state") != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = reps[i];
        cs_sync_state *st = &jobs[i]->st;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 7) {
            st->present = r->element[0]->type == REDIS_REPLY_STRING;
            st->version = reply_i64(r->element[0], -1);
            st->synced_version = reply_i64(r->element[1], -1);
            st->attempts = (int)reply_i64(r->element[2], 0);
            copy_str(st->status, sizeof st->status, r->element[3]);
            copy_str(st->remote_id, sizeof st->remote_id, r->element[4]);
            copy_str(st->handle, sizeof st->handle, r->element[5]);
            st->pushed = reply_i64(r->element[6], 0) == 1;
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    cs_sync_keys_free(&k);
    return rc;
}

long cs_sync_claim(cs_sync *s, size_t limit, cs_sync_claim_cb *add, void *opaque)
{
    return cs_sync_claim_except(s, limit, NULL, 0, add, opaque);
}

long cs_sync_claim_except(cs_sync *s, size_t limit, const char *const *skip, size_t n_skip,
                          cs_sync_claim_cb *add, void *opaque)
{
    keys k;
    char now[24], lease[24], lim[24];
    long got = -1;
    const char **argv = malloc((11 + n_skip) * sizeof *argv);
    if (!argv)
        return -1;
    cs_sync_keys_init(&k);
    cs_sync_keys_fill(s, &k, NULL);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    snprintf(lease, sizeof lease, "%d", s->cfg->retry_lease_ms);
    snprintf(lim, sizeof lim, "%zu", limit);
    const char *head[] = {"EVALSHA", NULL, "5", k.retry.data, k.inflight.data, k.lease.data,
                          k.snap.data, k.fence.data, now, lease, lim};
    memcpy(argv, head, sizeof head);
    for (size_t i = 0; i < n_skip; i++)
        argv[11 + i] = skip[i];
    if (cs_redis_ready(s->r) == 0) {
        argv[1] = cs_redis_script_sha(s->r, s->s_claim);
        redisReply *r = cs_redis_cmd(s->r, (int)(11 + n_skip), argv, NULL);
        if (r && r->type == REDIS_REPLY_ARRAY) {
            got = 0;
            for (size_t i = 0; i + 2 < r->elements; i += 3, got++)
                add(opaque, r->element[i]->str, r->element[i + 1]->str, r->element[i + 2]->str,
                    r->element[i + 2]->len);
        } else if (r) {
            CS_ERROR("redis", "claim: %s", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
            cs_redis_drop(s->r);
        }
        if (r)
            freeReplyObject(r);
    }
    cs_sync_keys_free(&k);
    free(argv);
    return got;
}

static const char *kind_arg(cs_outcome_kind k)
{
    switch (k) {
    case CS_OUT_SYNCED: return "synced";
    case CS_OUT_RETRY: return "retry";
    case CS_OUT_FAILED: return "failed";
    case CS_OUT_PAUSED: return "paused";
    case CS_OUT_SKIPPED: return "skipped";
    case CS_OUT_DELETED: return "deleted";
    case CS_OUT_PENDING: return "pending";
    case CS_OUT_RELEASE: return "release";
    default: return "none";
    }
}

const char *cs_outcome_name(cs_outcome_kind k)
{
    return kind_arg(k);
}

/* Channels quote what they received (a 401 page may echo the key): every
 * text of an outcome passes cs_log_redact before it is written to Redis. */
static void cs_sync_redact_outcome(cs_outcome *o)
{
    cs_log_redact(o->remote_id, sizeof o->remote_id);
    cs_log_redact(o->handle, sizeof o->handle);
    cs_log_redact(o->err_code, sizeof o->err_code);
    cs_log_redact(o->err_subcode, sizeof o->err_subcode);
    cs_log_redact(o->err_type, sizeof o->err_type);
    cs_log_redact(o->err_message, sizeof o->err_message);
    cs_log_redact(o->err_trace, sizeof o->err_trace);
    cs_log_redact(o->warnings, sizeof o->warnings);
}

int cs_sync_settle(cs_sync *s, cs_sync_job **jobs, size_t n)
{
    keys k;
    cs_buf pkey;
    char now[24], ver[24], resume[24], maxa[16], jit[16], rnd[24];
    int rc = -1;
    size_t queued = 0;
    redisReply **reps = calloc(n ? n : 1, sizeof *reps);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (!reps || !idx) {
        free(reps);
        free(idx);
        return -1;
    }
    cs_sync_keys_init(&k);
    cs_buf_init(&pkey, 1024);
    snprintf(now, sizeof now, "%lld", (long long)cs_now_ms());
    snprintf(maxa, sizeof maxa, "%d", s->cfg->retry_max_attempts);
    snprintf(jit, sizeof jit, "%d", s->cfg->retry_jitter_pct);
    if (cs_redis_ready(s->r) != 0)
        goto out;
    const char *filled = NULL;     /* the connection k's sink-wide keys are for */
    /* Retry jitter: one seed from the kernel per settle, a splitmix64
     * sequence from it per job (a system call per job cost more than the
     * rest of its settle). */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)cs_now_ms() * 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < n; i++) {
        cs_sync_job *j = jobs[i];
        cs_outcome *o = &j->out;
        if (o->kind == CS_OUT_NONE || j->ignore)
            continue;
        uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        unsigned rv = (unsigned)((z ^ (z >> 31)) % 1000u);
        if (!filled || strcmp(filled, j->conn_id) != 0)
            cs_sync_keys_fill(s, &k, filled = j->conn_id);
        cs_sync_state_key(s, &k.state, j->conn_id, j->ev->tenant, j->ev->product.id);
        cs_buf_reset(&k.history);
        cs_buf_appendv(&k.history, s->prefix, "history:", j->conn_id, ":", j->ev->tenant, ":",
                       j->ev->product.id, NULL);
        cs_buf_reset(&pkey);
        cs_buf_appendv(&pkey, j->ev->tenant, ":", j->ev->product.id, NULL);
        cs_i64_str(ver, (long long)j->ev->product.version);
        cs_i64_str(resume, (long long)o->resume_at);
        cs_i64_str(rnd, (long long)rv);
        cs_sync_redact_outcome(o);
        const char *argv[] = {"EVALSHA", cs_redis_script_sha(s->r, s->s_settle), "12",
                              k.state.data, k.retry.data, k.inflight.data, k.lease.data,
                              k.snap.data, k.index.data, k.stats.data, k.errors.data,
                              k.counts.data, k.history.data, k.tally.data, k.waiting.data,
                              j->member, ver, j->from_retry ? j->token : "", kind_arg(o->kind),
                              now, o->remote_id, o->err_code, o->err_subcode, o->err_type,
                              o->err_message, o->err_trace, resume, maxa, s->delays, jit, rnd,
                              pkey.data, o->handle, o->warnings};
        if (cs_redis_pipe_add(s->r, (int)(sizeof argv / sizeof argv[0]), argv, NULL) != 0)
            goto out;
        idx[queued++] = i;
    }
    if (read_replies(s, reps, queued, "settle") != 0)
        goto out;
    for (size_t q = 0; q < queued; q++) {
        redisReply *r = reps[q];
        cs_sync_job *j = jobs[idx[q]];
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
            copy_str(j->settle_result, sizeof j->settle_result, r->element[0]);
            j->settle_attempts = (int)reply_i64(r->element[1], 0);
            j->settle_next = reply_i64(r->element[2], 0);
        }
        freeReplyObject(r);
    }
    rc = 0;
out:
    free(reps);
    free(idx);
    cs_sync_keys_free(&k);
    cs_buf_free(&pkey);
    return rc;
}

int64_t cs_sync_delay_ms(const cs_config *cfg, int attempts)
{
    if (attempts < 1)
        return 0;
    size_t i = (size_t)attempts <= cfg->n_retry_schedule ? (size_t)attempts - 1
                                                         : cfg->n_retry_schedule - 1;
    return cfg->retry_schedule_ms[i];
}

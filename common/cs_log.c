#include "cs_log.h"
#include "cs_buf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_MAX_SECRETS 64
#define LOG_LINE_CAP    (256 * 1024)

volatile int cs_log_threshold = CS_LOG_INFO;

static cs_log_format log_format = CS_LOG_TEXT;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *secrets[LOG_MAX_SECRETS];
static size_t n_secrets;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void cs_log_set_level(cs_log_level lvl) { cs_log_threshold = (int)lvl; }
void cs_log_set_format(cs_log_format fmt) { log_format = fmt; }
void cs_log_set_stream(FILE *fp) { log_stream = fp; }

const char *cs_log_level_name(cs_log_level lvl)
{
    return (unsigned)lvl < 4 ? level_names[lvl] : "?";
}

int cs_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return CS_LOG_WARN;
    return -1;
}

int cs_log_format_parse(const char *s)
{
    if (strcasecmp(s, "text") == 0)
        return CS_LOG_TEXT;
    if (strcasecmp(s, "json") == 0)
        return CS_LOG_JSON;
    return -1;
}

void cs_log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return;
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        if (strcmp(secrets[i], secret) == 0) {
            pthread_mutex_unlock(&log_lock);
            return;
        }
    if (n_secrets < LOG_MAX_SECRETS) {
        char *copy = strdup(secret);
        if (copy)
            secrets[n_secrets++] = copy;
    }
    pthread_mutex_unlock(&log_lock);
}

void cs_log_clear_secrets(void)
{
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
    pthread_mutex_unlock(&log_lock);
}

static void redact_buf(cs_buf *b)
{
    static const char mask[] = "[REDACTED]";
    for (size_t i = 0; i < n_secrets; i++) {
        size_t sl = strlen(secrets[i]);
        char *p = b->data;
        while (p && (p = strstr(p, secrets[i])) != NULL) {
            size_t off = (size_t)(p - b->data);
            size_t ml = sizeof(mask) - 1;
            if (ml <= sl) {
                memcpy(p, mask, ml);
                memmove(p + ml, p + sl, b->len - off - sl + 1);
                b->len -= sl - ml;
            } else {
                /* The secret is shorter than the mask: overwrite it with
                 * asterisks rather than growing the line. */
                memset(p, '*', sl);
            }
            p = b->data + off + (ml <= sl ? ml : sl);
        }
    }
}

char *cs_log_redact(char *s, size_t size)
{
    if (!s || !size || !s[0] || !n_secrets)
        return s;
    cs_buf b;
    cs_buf_init(&b, size);
    pthread_mutex_lock(&log_lock);
    if (cs_buf_appends(&b, s) == 0) {
        redact_buf(&b);
        memcpy(s, b.data, b.len + 1);
    }
    pthread_mutex_unlock(&log_lock);
    cs_buf_free(&b);
    return s;
}

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + k, n - k, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* Writes one record: msg holds the message, already made safe (redacted,
 * its text escaped); its newlines, if any, are the caller's structure. */
static void emit(cs_log_level lvl, const char *component, const cs_buf *msg)
{
    cs_buf line;
    char ts[40];
    cs_buf_init(&line, LOG_LINE_CAP * 4 + 256);
    timestamp(ts, sizeof ts);
    if (log_format == CS_LOG_JSON) {
        cs_buf_appendv(&line, "{\"ts\":\"", ts, "\",\"level\":\"", cs_log_level_name(lvl),
                       "\",\"component\":", NULL);
        cs_buf_append_json_str(&line, component, strlen(component));
        cs_buf_appends(&line, ",\"msg\":");
        cs_buf_append_json_str(&line, msg->data, msg->len);
        cs_buf_appends(&line, "}\n");
    } else {
        /* "<ts> <LEVEL, padded to 5> <component>: <message>" */
        char lv[8];
        size_t i;
        for (i = 0; i < sizeof lv - 1 && level_names[lvl][i]; i++)
            lv[i] = (char)(level_names[lvl][i] - 32);
        for (; i < 5; i++)
            lv[i] = ' ';
        lv[i] = '\0';
        cs_buf_reserve(&line, msg->len + 128);
        cs_buf_appendv(&line, ts, " ", lv, " ", component, ": ", NULL);
        cs_buf_appends(&line, msg->data);
        cs_buf_appendc(&line, '\n');
    }
    FILE *fp = log_stream ? log_stream : stderr;
    if (line.data) {
        fwrite(line.data, 1, line.len, fp);
        fflush(fp);
    }
    cs_buf_free(&line);
}

/* Appends text redacted and escaped (cs_buf_append_text) to out; the caller
 * holds log_lock. */
static void append_safe(cs_buf *out, cs_buf *text)
{
    if (!text->data)
        cs_buf_appends(text, "");
    redact_buf(text);
    if (cs_buf_append_text(out, text->data, text->len) != 0)
        cs_buf_appends(out, "(log message too long)");
}

void cs_log_write(cs_log_level lvl, const char *component, const char *fmt, ...)
{
    cs_buf msg, safe;
    va_list ap;

    cs_buf_init(&msg, LOG_LINE_CAP);
    cs_buf_init(&safe, LOG_LINE_CAP * 4);
    cs_buf_reserve(&msg, 511);      /* most messages are formatted in one pass */
    va_start(ap, fmt);
    if (cs_buf_vappendf(&msg, fmt, ap) != 0) {
        cs_buf_reset(&msg);
        cs_buf_appends(&msg, "(log message too long)");
    }
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    append_safe(&safe, &msg);
    if (!safe.data)
        cs_buf_appends(&safe, "");
    emit(lvl, component, &safe);
    pthread_mutex_unlock(&log_lock);
    cs_buf_free(&msg);
    cs_buf_free(&safe);
}

void cs_log_block(cs_log_level lvl, const char *component, const char *const *lines, size_t n)
{
    cs_buf one, safe;
    if ((int)lvl > cs_log_threshold)
        return;
    cs_buf_init(&one, LOG_LINE_CAP);
    cs_buf_init(&safe, LOG_LINE_CAP * 4);
    pthread_mutex_lock(&log_lock);
    for (size_t i = 0; i < n; i++) {
        cs_buf_reset(&one);
        cs_buf_appends(&one, lines[i] ? lines[i] : "");
        cs_buf_appendc(&safe, '\n');
        append_safe(&safe, &one);
    }
    if (!safe.data)
        cs_buf_appends(&safe, "");
    emit(lvl, component, &safe);
    pthread_mutex_unlock(&log_lock);
    cs_buf_free(&one);
    cs_buf_free(&safe);
}

/*
 * cs_log: levelled logging in human-readable text or JSON lines, to stderr.
 *
 * The CS_LOG macros check the level before formatting, so debug logging on a
 * hot path costs one comparison when it is off.  Every message passes through
 * a redaction step that replaces each registered secret (tokens, keys,
 * passwords) with "[REDACTED]" before it is written: secrets are registered
 * once at start-up by the configuration loader.
 *
 * Thread safety: cs_log_write() may be called from any thread.  Setup calls
 * (cs_log_set_*, cs_log_add_secret) belong to start-up, before threads run.
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdio.h>

typedef enum {
    CS_LOG_ERROR = 0,
    CS_LOG_WARN  = 1,
    CS_LOG_INFO  = 2,
    CS_LOG_DEBUG = 3
} cs_log_level;

typedef enum {
    CS_LOG_TEXT = 0,
    CS_LOG_JSON = 1
} cs_log_format;

extern volatile int cs_log_threshold;

void cs_log_set_level(cs_log_level lvl);
void cs_log_set_format(cs_log_format fmt);
/* Send output elsewhere than stderr (tests).  The stream is not closed. */
void cs_log_set_stream(FILE *fp);
/* Registers a secret to be masked in every later message (copied).
 * Secrets shorter than 4 bytes are ignored: masking them would mangle text. */
void cs_log_add_secret(const char *secret);
void cs_log_clear_secrets(void);

/* Parse "error|warn|info|debug" / "text|json"; -1 when unknown. */
int cs_log_level_parse(const char *s);
int cs_log_format_parse(const char *s);
const char *cs_log_level_name(cs_log_level lvl);

/* Replaces every registered secret in s (NUL-terminated, modified in place
 * when it fits, else truncated).  Returns s.  Exposed for error strings that
 * leave the process by other routes than the log (CLI messages). */
char *cs_log_redact(char *s, size_t size);

/* Writes one record.  The message is redacted, then its control characters
 * (newlines included) are escaped with cs_buf_append_text: whatever a field
 * holds, a record is one line and cannot forge another. */
void cs_log_write(cs_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A multi-line record (the API error blocks): each of the n lines redacted
 * and escaped like a message, each starting a new line after the record's
 * header.  Only these newlines reach the log. */
void cs_log_block(cs_log_level lvl, const char *component, const char *const *lines, size_t n);

#define CS_LOG(lvl, comp, ...)                                          \
    do {                                                                \
        if ((int)(lvl) <= cs_log_threshold)                             \
            cs_log_write((lvl), (comp), __VA_ARGS__);                   \
    } while (0)

#define CS_ERROR(comp, ...) CS_LOG(CS_LOG_ERROR, comp, __VA_ARGS__)
#define CS_WARN(comp, ...)  CS_LOG(CS_LOG_WARN, comp, __VA_ARGS__)
#define CS_INFO(comp, ...)  CS_LOG(CS_LOG_INFO, comp, __VA_ARGS__)
#define CS_DEBUG(comp, ...) CS_LOG(CS_LOG_DEBUG, comp, __VA_ARGS__)

#endif

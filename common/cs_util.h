/*
 * cs_util: small pure checks shared by the event contract, configuration and
 * channel mappings.  No allocation, no global state: safe from any thread.
 */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Returns -1 when buf[0..len) is valid UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF), else the offset of the first bad byte. */
long cs_utf8_invalid_at(const char *buf, size_t len);

/* A non-negative decimal string: 1 to 15 integer digits, optionally a dot and
 * 1 to 6 fraction digits; no sign, exponent, spaces or leading '+'.
 * Returns 0 when valid, else fills why. */
int cs_decimal_check(const char *s, char *why, size_t why_size);

/* ISO 4217 style code: three upper-case ASCII letters. */
int cs_currency_code_ok(const char *s);

/* RFC 3339 date-time (e.g. 2026-11-21T10:00:00Z, with optional fraction and
 * a Z or +hh:mm offset).  Returns 1 when valid. */
int cs_rfc3339_ok(const char *s);

/* Seconds since the Unix epoch of a valid RFC 3339 date-time (offset
 * applied, fraction dropped); 0, or -1 when cs_rfc3339_ok says no. */
int cs_rfc3339_unix(const char *s, int64_t *out);

/* Strict integer parse of the whole string into [min,max]; 0 on success. */
int cs_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Bounded copy that always terminates; returns strlen(src). */
size_t cs_strlcpy(char *dst, const char *src, size_t size);

/* Makes an arbitrary byte string printable in place: control bytes become
 * spaces and bytes that are not valid UTF-8 become '?' (for quoting bodies
 * that came from outside in errors and logs). */
void cs_text_sanitize(char *s, size_t n);

/* The first CS_SNIPPET_MAX bytes of an answer body that is not the expected
 * JSON, sanitized, appended to msg as ": <snippet>" (an HTML error page
 * tells the operator who answered). */
#define CS_SNIPPET_MAX 200
void cs_append_snippet(char *msg, size_t size, const char *body, size_t len);

/* Copies n bytes of src into dst (size bytes, always terminated), cutting
 * at a UTF-8 character boundary when it does not fit. */
void cs_utf8_copy_trunc(char *dst, size_t size, const char *src, size_t n);

/* vsnprintf into why when why is not NULL (error sentences of pure checks). */
void cs_set_why(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Installs handler for SIGTERM and SIGINT and blocks both in this thread
 * (threads started later inherit the mask); *wait_mask is the mask to pass
 * to sigsuspend() to wait for them.  A server that loops on
 * "while (!stop) sigsuspend(wait_mask);" cannot miss a signal that arrives
 * between the check and the wait. */
void cs_block_stop_signals(void (*handler)(int), sigset_t *wait_mask);

/* Length of the valid UTF-8 sequence at s (its first byte >= 0x80, avail
 * bytes from s to the end of the text), or 0 when it is not one: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
size_t cs_utf8_seq_len(const unsigned char *s, size_t avail);

/* The host of an absolute URL ("scheme://[user@]host[:port][/...]"), IPv6
 * brackets removed, into out; 0, or -1 when there is none or it does not fit. */
int cs_url_host(const char *url, char *out, size_t size);

/* 1 when host (a name or an address literal) is this machine by its very
 * spelling: "localhost", 127.0.0.0/8, ::1 (and ::ffff:127.x.y.z); else 0.
 * No name is resolved. */
int cs_host_is_loopback(const char *host);

/* 1 when the address (a struct sockaddr of AF_INET or AF_INET6) is not a
 * public one: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
 * link-local (169.254/16, fe80::/10), shared (100.64/10), unspecified or
 * multicast, an IPv4-mapped form of those; also any other family. */
struct sockaddr;
int cs_addr_is_internal(const struct sockaddr *sa);

/* No core dumps for this process (they would hold the tokens it reads):
 * RLIMIT_CORE 0 (soft and hard) and PR_SET_DUMPABLE 0.  Called first thing
 * by the programs that read secrets; returns -1 if either call failed. */
int cs_no_core_dumps(void);

/* Milliseconds since the epoch and from a monotonic clock. */
int64_t cs_now_ms(void);
int64_t cs_mono_ms(void);

#endif

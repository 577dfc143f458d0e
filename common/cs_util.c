#include "cs_util.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

size_t cs_utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t need;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1; cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2; cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3; cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need + 1;
}

long cs_utf8_invalid_at(const char *buf, size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = cs_utf8_seq_len(s + i, len - i);
        if (!k)
            return (long)i;
        i += k;
    }
    return -1;
}

void cs_block_stop_signals(void (*handler)(int), sigset_t *wait_mask)
{
    struct sigaction sa;
    sigset_t block;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
}

int cs_decimal_check(const char *s, char *why, size_t why_size)
{
    size_t i = 0, ip = 0, fp = 0;
    if (!s || !*s) {
        snprintf(why, why_size, "is empty");
        return -1;
    }
    if (s[0] == '-') {
        snprintf(why, why_size, "is negative (\"%.40s\")", s);
        return -1;
    }
    while (isdigit((unsigned char)s[i])) {
        i++;
        ip++;
    }
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i])) {
            i++;
            fp++;
        }
        if (fp == 0) {
            snprintf(why, why_size, "is not a decimal string (\"%.40s\")", s);
            return -1;
        }
    }
    if (s[i] != '\0' || ip == 0) {
        snprintf(why, why_size, "is not a decimal string (\"%.40s\")", s);
        return -1;
    }
    if (ip > 15 || fp > 6) {
        snprintf(why, why_size,
                 "is out of range (at most 15 integer and 6 fraction digits)");
        return -1;
    }
    return 0;
}

int cs_currency_code_ok(const char *s)
{
    return s && strlen(s) == 3 && isupper((unsigned char)s[0]) &&
           isupper((unsigned char)s[1]) && isupper((unsigned char)s[2]);
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int cs_rfc3339_ok(const char *s)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) < 20)
        return 0;
    if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2))
        return 0;
    int mon = num(s + 5, 2), day = num(s + 8, 2);
    if (mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] ||
        num(s + 11, 2) > 23 || num(s + 14, 2) > 59 || num(s + 17, 2) > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 1;
    if ((*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' &&
        digits(p + 4, 2) && p[6] == '\0')
        return num(p + 1, 2) <= 23 && num(p + 4, 2) <= 59;
    return 0;
}

int cs_rfc3339_unix(const char *s, int64_t *out)
{
    if (!cs_rfc3339_ok(s))
        return -1;
    /* Days from the civil date (H. Hinnant's algorithm). */
    int64_t y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    int64_t t = days * 86400 + num(s + 11, 2) * 3600 + num(s + 14, 2) * 60 + num(s + 17, 2);
    const char *p = s + 19;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == '+' || *p == '-') {
        int64_t off = num(p + 1, 2) * 3600 + num(p + 4, 2) * 60;
        t += *p == '+' ? -off : off;
    }
    *out = t;
    return 0;
}

int cs_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

size_t cs_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t k = n < size - 1 ? n : size - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return n;
}

int64_t cs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cs_text_sanitize(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            s[i] = ' ';
    size_t pos = 0;
    long bad;
    while (pos < n && (bad = cs_utf8_invalid_at(s + pos, n - pos)) >= 0) {
        s[pos + (size_t)bad] = '?';
        pos += (size_t)bad + 1;
    }
}

void cs_append_snippet(char *msg, size_t size, const char *body, size_t len)
{
    char snip[CS_SNIPPET_MAX + 1];
    size_t n = len < CS_SNIPPET_MAX ? len : CS_SNIPPET_MAX;
    size_t k = strlen(msg);
    if (!body || !n || k + 1 >= size)
        return;
    memcpy(snip, body, n);
    snip[n] = '\0';
    cs_text_sanitize(snip, n);
    snprintf(msg + k, size - k, ": %s", snip);
}

void cs_set_why(char *why, size_t why_size, const char *fmt, ...)
{
    if (!why || why_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

void cs_utf8_copy_trunc(char *dst, size_t size, const char *src, size_t n)
{
    if (!size)
        return;
    if (n > size - 1) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int cs_url_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    if (!p || !size)
        return -1;
    p += 3;
    size_t auth = strcspn(p, "/?#");            /* [user@]host[:port] */
    const char *at = memchr(p, '@', auth);
    if (at) {
        auth -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    size_t n;
    if (*p == '[') {
        const char *close = memchr(p, ']', auth);
        if (!close)
            return -1;
        p++;
        n = (size_t)(close - p);
    } else {
        const char *colon = memchr(p, ':', auth);
        n = colon ? (size_t)(colon - p) : auth;
    }
    if (n == 0 || n >= size)
        return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int cs_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

static int ipv4_internal(uint32_t a)
{
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
           (a & 0xFFC00000u) == 0x64400000u ||          /* 100.64/10 */
           (a & 0xFFFF0000u) == 0xA9FE0000u ||          /* 169.254/16 */
           (a & 0xFFF00000u) == 0xAC100000u ||          /* 172.16/12 */
           (a & 0xFFFF0000u) == 0xC0A80000u ||          /* 192.168/16 */
           (a >> 28) >= 0xE;                            /* multicast, reserved */
}

int cs_addr_is_internal(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_internal(ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr));
    if (sa->sa_family != AF_INET6)
        return 1;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a)) {
        uint32_t v4;
        memcpy(&v4, a->s6_addr + 12, 4);
        return ipv4_internal(ntohl(v4));
    }
    return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_LINKLOCAL(a) ||
           IN6_IS_ADDR_SITELOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
           (a->s6_addr[0] & 0xFE) == 0xFC;              /* fc00::/7 */
}

int cs_no_core_dumps(void)
{
    struct rlimit none = {0, 0};
    int rc = setrlimit(RLIMIT_CORE, &none);
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        rc = -1;
    return rc;
}

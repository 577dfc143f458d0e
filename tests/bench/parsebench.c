/*
 * cs-bench-parse: the event decoder's speed, for `make bench` (parse phase).
 *
 *   cs-bench-parse --events FILE [--max N] [--seconds S]
 *
 * Reads up to N events (JSON lines, as the benchmark publishes them) and
 * parses them over and over for about S seconds each way: with
 * cs_event_parse() (the one-pass decoder, falling back to the reference
 * parser) and with cs_event_parse_reference() (jansson's DOM and the
 * contract's checks).  Prints one line:
 *   parse: N events of B bytes on average: decoder X events/s (U us each),
 *   reference Y events/s (V us each), Zx
 * Exit status: 0, 1 when an event does not parse or the two disagree,
 * 64 bad usage, 66 unreadable file.
 */
#include "cs_event_priv.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef cs_event_err (*parse_fn)(const char *, size_t, const cs_event_limits *, cs_event **,
                                 char *, size_t);

/* Events per second over about `seconds` of whole passes; -1 on a failure. */
static double rate(parse_fn fn, char **ev, size_t *len, size_t n, double seconds)
{
    char err[512];
    size_t done = 0;
    double t0 = now_s(), t;
    do {
        for (size_t i = 0; i < n; i++) {
            cs_event *e = NULL;
            if (fn(ev[i], len[i], NULL, &e, err, sizeof err) != CS_EVENT_OK) {
                fprintf(stderr, "cs-bench-parse: event %zu: %s\n", i + 1, err);
                return -1;
            }
            cs_event_destroy(e);
        }
        done += n;
        t = now_s() - t0;
    } while (t < seconds);
    return (double)done / t;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    size_t max = 20000;
    double seconds = 2.0;
    static const struct option opts[] = {
        {"events", required_argument, NULL, 'e'}, {"max", required_argument, NULL, 'n'},
        {"seconds", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "e:n:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'e': path = optarg; break;
        case 'n': max = strtoul(optarg, NULL, 10); break;
        case 's': seconds = strtod(optarg, NULL); break;
        case 'h':
            printf("Usage: cs-bench-parse --events FILE [--max N] [--seconds S]\n"
                   "Times cs_event_parse() against the reference parser on FILE's events.\n");
            return 0;
        default: return 64;
        }
    }
    if (!path || max == 0) {
        fprintf(stderr, "cs-bench-parse: --events FILE is required (see --help)\n");
        return 64;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 66;
    }
    char **ev = calloc(max, sizeof *ev);
    size_t *len = calloc(max, sizeof *len), n = 0, total = 0, cap = 0;
    char *line = NULL;
    ssize_t got;
    while (ev && len && n < max && (got = getline(&line, &cap, f)) > 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            got--;
        if (!got)
            continue;
        ev[n] = malloc((size_t)got);
        if (!ev[n])
            break;
        memcpy(ev[n], line, (size_t)got);
        len[n++] = (size_t)got;
        total += (size_t)got;
    }
    free(line);
    fclose(f);
    int rc = 1;
    if (n == 0) {
        fprintf(stderr, "cs-bench-parse: no events in %s\n", path);
        goto out;
    }
    /* The two must agree before their speeds mean anything. */
    for (size_t i = 0; i < n; i++) {
        char e1[512], e2[512];
        cs_event *a = NULL, *b = NULL, *x = calloc(1, sizeof *x);
        int ok = cs_event_parse(ev[i], len[i], NULL, &a, e1, sizeof e1) == CS_EVENT_OK &&
                 cs_event_parse_reference(ev[i], len[i], NULL, &b, e2, sizeof e2) ==
                     CS_EVENT_OK &&
                 x && cs_event_decode_fast(ev[i], len[i], x) == 0;
        cs_event_destroy(a);
        cs_event_destroy(b);
        cs_event_destroy(x);
        if (!ok) {
            fprintf(stderr, "cs-bench-parse: event %zu is not taken by both parsers\n", i + 1);
            goto out;
        }
    }
    double fast = rate(cs_event_parse, ev, len, n, seconds);
    double ref = rate(cs_event_parse_reference, ev, len, n, seconds);
    if (fast < 0 || ref < 0)
        goto out;
    printf("parse: %zu events of %zu bytes on average: decoder %.0f events/s (%.2f us each), "
           "reference %.0f events/s (%.2f us each), %.1fx\n",
           n, total / n, fast, 1e6 / fast, ref, 1e6 / ref, fast / ref);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(ev[i]);
    free(ev);
    free(len);
    return rc;
}

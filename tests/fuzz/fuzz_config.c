/*
 * fuzz_config: libFuzzer harness for the configuration loader (common/cs_config.h).
 *
 * Input: the text of one configuration file (libconfig syntax).
 *
 * cs_config_load_file() reads a path, so every run writes the input to
 * /tmp/cs-fuzz-config-<pid>.conf and removes it once loaded (a crash inside
 * the loader leaves it behind, holding the crashing input).  A file that
 * loads goes through cs_config_finalize(), as every program does, and a
 * configuration that finalizes is resolved for both sinks and printed with
 * cs_config_dump() to /dev/null (what --check-config does).
 *
 * Side effects handled here: finalize registers secrets with cs_log (a fixed
 * table, cleared every run) and sets the log level and format; log output
 * goes to /dev/null.  Secrets written as env:/file: references may fail to
 * resolve; that is an ordinary configuration error.  Run it with stdin on
 * /dev/null (make fuzz does): "file:/dev/stdin" would otherwise wait.
 */
#include "cs_config.h"
#include "cs_log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc __attribute__((unused)), char ***argv __attribute__((unused)))
{
    snprintf(path, sizeof path, "/tmp/cs-fuzz-config-%ld.conf", (long)getpid());
    devnull = fopen("/dev/null", "w");
    if (!devnull) {
        perror("/dev/null");
        abort();
    }
    cs_log_set_stream(devnull);
    return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];

    cs_config *cfg = cs_config_new();
    if (!cfg)
        return 0;
    write_file(data, size);
    int loaded = cs_config_load_file(cfg, path, err, sizeof err) == 0;
    unlink(path);
    if (loaded && cs_config_finalize(cfg, err, sizeof err) == 0) {
        cs_config_resolve_sink_secrets(cfg, "meta", err, sizeof err);
        cs_config_resolve_sink_secrets(cfg, "woocommerce", err, sizeof err);
        cs_config_dump(cfg, devnull);
    }
    cs_config_destroy(cfg);
    cs_log_clear_secrets();
    return 0;
}

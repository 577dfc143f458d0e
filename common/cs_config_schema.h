/*
 * cs_config_schema: the tables behind cs_config, shared by its loader
 * (cs_config.c) and its printer (cs_config_dump.c).  Private to those two
 * files: nothing else includes it.
 */
#ifndef CS_CONFIG_SCHEMA_H
#define CS_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "cs_config.h"

enum { SECRET_DEFERRED = 2 };   /* opt.secret: resolved by cs_config_resolve_sink_secrets */
enum { T_STR, T_INT, T_ENUM, T_BOOL, T_INTLIST, T_STRLIST, T_KAFKA_PROPS };

typedef struct opt {
    const char *section;        /* flat sections; NULL in list-entry tables */
    const char *key;
    int type;
    size_t off;
    size_t count_off;           /* T_INTLIST / T_STRLIST: offset of the size_t count */
    int secret;
    int64_t min, max;
    const char *const *values;  /* T_ENUM */
} opt;

typedef struct list_spec {
    const char *section, *key;
    const opt *table;
    size_t n_table, elem_size;
    int (*defaults)(void *entry);
    void (*free_entry)(void *entry);
} list_spec;

typedef struct cs_cfg_schema {
    const opt *opts;
    size_t n_opts;
    const list_spec *lists;
    size_t n_lists;
    const char *const *sections;
} cs_cfg_schema;

extern const cs_cfg_schema cs_cfg;

static inline char **str_at(void *base, const opt *o) { return (char **)((char *)base + o->off); }
static inline int *int_at(void *base, const opt *o) { return (int *)((char *)base + o->off); }
static inline size_t *count_at(void *base, const opt *o)
{
    return (size_t *)((char *)base + o->count_off);
}

void **cs_cfg_list_array(cs_config *c, const list_spec *ls, size_t **count);

/* Resolves "env:NAME" / "file:/path" into the secret (what names it in errors). */
int cs_cfg_resolve_secret(const char *what, const char *ref, char **out, char *errstr,
                          size_t errstr_size);

extern const opt *const cs_cfg_catalog_opts;
extern const size_t cs_cfg_n_catalog_opts;
extern const opt *const cs_cfg_store_opts;
extern const size_t cs_cfg_n_store_opts;

#endif

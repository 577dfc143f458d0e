/* cs_config_dump: prints the effective configuration, secrets redacted. */
#include "cs_config.h"
#include "cs_config_schema.h"

#include <stdio.h>
#include <string.h>

static void dump_str(FILE *out, const char *v)
{
    fputc('"', out);
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            fputc('\\', out);
        fputc(*v, out);
    }
    fputc('"', out);
}

static void dump_table(FILE *out, void *base, const opt *t, size_t nt, const char *section,
                       const char *indent)
{
    for (size_t i = 0; i < nt; i++) {
        const opt *o = &t[i];
        if ((o->section && strcmp(o->section, section) != 0) || o->type == T_KAFKA_PROPS)
            continue;
        fprintf(out, "%s%s = ", indent, o->key);
        if (o->type == T_INT)
            fprintf(out, "%d", *int_at(base, o));
        else if (o->type == T_BOOL)
            fputs(*int_at(base, o) ? "true" : "false", out);
        else if (o->type == T_INTLIST || o->type == T_STRLIST) {
            fputc('[', out);
            for (size_t k = 0; k < *count_at(base, o); k++) {
                if (k)
                    fputs(", ", out);
                if (o->type == T_INTLIST)
                    fprintf(out, "%lld", (long long)(*(int64_t **)str_at(base, o))[k]);
                else
                    dump_str(out, (*(char ***)str_at(base, o))[k]);
            }
            fputc(']', out);
        } else if (o->secret == SECRET_DEFERRED && !strncmp(*str_at(base, o), "env:", 4))
            dump_str(out, *str_at(base, o));   /* a reference, not the secret */
        else if (o->secret == SECRET_DEFERRED && !strncmp(*str_at(base, o), "file:", 5))
            dump_str(out, *str_at(base, o));
        else if (o->secret)
            dump_str(out, **str_at(base, o) ? "[REDACTED]" : "");
        else
            dump_str(out, *str_at(base, o));
        fputs(";\n", out);
    }
}

void cs_config_dump(const cs_config *cfg, FILE *out)
{
    cs_config *c = (cs_config *)cfg;
    const char *const *sections = cs_cfg.sections;
    fprintf(out, "# effective configuration (%s); secrets redacted\n",
            c->path ? c->path : "built-in defaults");
    for (size_t s = 0; sections[s]; s++) {
        fprintf(out, "%s = {\n", sections[s]);
        const list_spec *ls = NULL;
        for (size_t j = 0; j < cs_cfg.n_lists; j++)
            if (strcmp(cs_cfg.lists[j].section, sections[s]) == 0)
                ls = &cs_cfg.lists[j];
        if (ls) {
            size_t *count;
            void **arr = cs_cfg_list_array(c, ls, &count);
            fprintf(out, "  %s = (", ls->key);
            for (size_t i = 0; i < *count; i++) {
                fputs(i ? ",\n    {\n" : "\n    {\n", out);
                dump_table(out, (char *)*arr + i * ls->elem_size, ls->table, ls->n_table, NULL,
                           "      ");
                fputs("    }", out);
            }
            fputs(*count ? "\n  );\n" : ");\n", out);
        } else {
            dump_table(out, c, cs_cfg.opts, cs_cfg.n_opts, sections[s], "  ");
        }
        if (strcmp(sections[s], "kafka") == 0) {
            fputs("  properties = [", out);
            for (size_t i = 0; i < c->n_kafka_props; i++) {
                fputs(i ? ",\n    " : "\n    ", out);
                char line[600];
                snprintf(line, sizeof line, "%s=%s", c->kafka_props[i].key,
                         c->kafka_props[i].secret ? "[REDACTED]" : c->kafka_props[i].value);
                dump_str(out, line);
            }
            fputs(c->n_kafka_props ? "\n  ];\n" : "];\n", out);
        }
        fputs("};\n", out);
    }
}

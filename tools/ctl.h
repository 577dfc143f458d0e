/*
 * ctl: shared bits of catalogsyncctl (ctl.c: the commands over Redis;
 * doctor.c: the online checks).
 */
#ifndef CS_CTL_H
#define CS_CTL_H

#include <stdio.h>

#include "cs_config.h"
#include "cs_ops.h"

#define CTL_OK       0
#define CTL_FAIL     1      /* Redis unreachable, or the operation failed */
#define CTL_PROBLEMS 2      /* doctor found problems; show: product unknown */
#define CTL_USAGE    64
#define CTL_CONFIG   78

typedef struct ctl {
    cs_config *cfg;
    cs_ops *ops;
    int json;
    int color;
    const char *sink, *conn;
} ctl;

/* ANSI colour when ctl->color (a terminal without NO_COLOR). */
const char *ctl_color(const ctl *c, const char *name);   /* "green", "orange", "red", "grey", "bold", "reset" */

int ctl_doctor(ctl *c);

#endif

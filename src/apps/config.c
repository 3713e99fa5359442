/* A trainer's configuration as text, from a table of fields: what a checkpoint
 * stores ("shendu.<prefix>.<key>" metadata), what a resume reads back and what
 * the CLI compares with the flags given again. One table per trainer replaces
 * a hand-written get/set/parse per key. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(o, f) ((char *)(o) + (f)->offset)

void sd_config_get(const sd_config_field *f, const void *opts, char *buf, size_t size)
{
    const char *p = (const char *)opts + f->offset;
    switch (f->kind) {
    case SD_CFG_INT: snprintf(buf, size, "%d", *(const int *)p); break;
    case SD_CFG_LONG: snprintf(buf, size, "%ld", *(const long *)p); break;
    case SD_CFG_DOUBLE: snprintf(buf, size, "%.17g", *(const double *)p); break;
    case SD_CFG_FLOAT: {   /* the shortest of %.7g / %.9g that reads back as the same float */
        float x = *(const float *)p;
        snprintf(buf, size, "%.7g", x);
        if (strtof(buf, NULL) != x) snprintf(buf, size, "%.9g", x);
        break;
    }
    case SD_CFG_U64: snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case SD_CFG_STR: {
        const char *s = *(const char *const *)p;
        snprintf(buf, size, "%s", s ? s : f->dflt ? f->dflt : "");
        break;
    }
    case SD_CFG_ENUM: {
        int v = *(const int *)p, n = 0;
        while (f->names[n]) n++;
        snprintf(buf, size, "%s", v >= 0 && v < n ? f->names[v] : "?");
        break;
    }
    }
}

void sd_config_show(const sd_config_field *f, const void *opts, char *buf, size_t size)
{
    const double x = f->kind == SD_CFG_DOUBLE ? *(const double *)((const char *)opts + f->offset) : 0;
    if (f->kind == SD_CFG_DOUBLE && (double)(float)x == x) sd_fmt_float(buf, size, x);
    else sd_config_get(f, opts, buf, size);
}

int sd_config_parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int sd_config_set(const sd_config_field *f, void *opts, const char *v, char **owned)
{
    char *p = FIELD(opts, f), *end;
    int bad = !*v;
    switch (f->kind) {
    case SD_CFG_INT: {
        long x;
        bad = sd_config_parse_long(v, (long)f->min, (long)f->max, &x);
        if (!bad) *(int *)p = (int)x;
        break;
    }
    case SD_CFG_LONG: {
        long x;
        bad = sd_config_parse_long(v, (long)f->min, (long)f->max, &x);
        if (!bad) *(long *)p = x;
        break;
    }
    case SD_CFG_DOUBLE: {   /* (a value that underflows or overflows is refused, as by the flags) */
        errno = 0;
        double x = strtod(v, &end);
        bad |= *end || errno == ERANGE || (x != 0.0 && !(fabs(x) >= DBL_MIN)) || !(x >= f->min && x <= f->max);
        if (!bad) *(double *)p = x;
        break;
    }
    case SD_CFG_FLOAT: {
        errno = 0;
        float x = strtof(v, &end);
        bad |= *end || errno == ERANGE || (x != 0.0f && !(fabsf(x) >= FLT_MIN)) || !(x >= f->min && x <= f->max);
        if (!bad) *(float *)p = x;
        break;
    }
    case SD_CFG_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        bad |= *end || *v == '-';
        if (!bad) *(uint64_t *)p = x;
        break;
    }
    case SD_CFG_STR: {
        char *copy = strdup(v);
        if (!copy) return sd_error("out of memory");
        free(*owned);
        *owned = copy;
        *(const char **)p = copy;
        bad = 0;
        break;
    }
    case SD_CFG_ENUM: {
        bad = 1;
        for (int i = 0; f->names[i]; i++)
            if (!strcmp(f->names[i], v)) { *(int *)p = i; bad = 0; }
        break;
    }
    }
    return bad ? sd_error("bad value '%s' for '%s'", v, f->key) : 0;
}

const sd_config_field *sd_config_find(const sd_config_field *fields, const char *key)
{
    for (; fields->key; fields++)
        if (!strcmp(fields->key, key)) return fields;
    return NULL;
}

int sd_config_to_meta(const sd_config_field *fields, const void *opts, const char *prefix, sd_config_text *t)
{
    int n = 0;
    for (; fields[n].key; n++) {
        if (n == SD_CONFIG_MAX) return sd_error("too many configuration keys");
        snprintf(t->keys[n], sizeof t->keys[n], "shendu.%s.%s", prefix, fields[n].key);
        sd_config_get(&fields[n], opts, t->values[n], sizeof t->values[n]);
        t->kv[n] = (sd_st_kv){ t->keys[n], t->values[n] };
    }
    t->n = n;
    return 0;
}

int sd_config_from_file(const sd_config_field *fields, void *opts, const char *prefix, const sd_st_file *f,
                        const char *path, char **owned)
{
    for (int i = 0, k = 0; fields[i].key; i++) {
        char key[96];
        snprintf(key, sizeof key, "shendu.%s.%s", prefix, fields[i].key);
        const char *v = sd_st_meta(f, key);
        if (!v && fields[i].kind != SD_CFG_STR) v = fields[i].dflt;   /* a key added later: its default */
        if (!v) return sd_error("%s: checkpoint lacks '%s'", path, key);
        if (sd_config_set(&fields[i], opts, v, fields[i].kind == SD_CFG_STR ? &owned[k] : NULL))
            return sd_error_prefix("%s", path);
        k += fields[i].kind == SD_CFG_STR;
    }
    return 0;
}

/* ---- --precision (issue 22) */

const char *const sd_precision_names[] = { "fp32", "bf16", NULL };

void sd_app_use_precision(sd_ctx *ctx, int precision, FILE *log)
{
    if (precision == SD_PRECISION_FP32 || sd_ctx_set_precision(ctx, (sd_precision)precision) == 0) return;
    fprintf(log, "note: %s; training in fp32\n", sd_last_error());
}

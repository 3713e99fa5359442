/* Data sets from class folders, fitting pictures into a model's input,
 * stratified splits and fingerprints (shendu/folder.h).
 *
 * Reading a folder: list the class folders and their pictures (sorted), read
 * every picture's header for its size and mode (the set's size and channels
 * follow from them unless given), then decode and fit every picture into one
 * uint8 block, in parallel; a picture that fails is marked, and the first
 * one is decoded again on this thread for its message. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/folder.h"
#include "engine/parallel.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- Fitting */

/* RGBA -> RGB or gray+alpha -> gray over a gray background; a copy otherwise. */
static int flatten_alpha(const sd_image *in, uint8_t bg, sd_image *out)
{
    if (in->c != 4) return sd_image_alloc(out, in->w, in->h, in->c, 0) ? -1
           : (memcpy(out->px, in->px, (size_t)in->w * in->h * in->c), 0);
    if (sd_image_alloc(out, in->w, in->h, 3, 0)) return -1;
    const size_t n = (size_t)in->w * in->h;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = in->px + 4 * i;
        for (int k = 0; k < 3; k++) out->px[3 * i + k] = (uint8_t)((p[k] * p[3] + bg * (255 - p[3]) + 127) / 255);
    }
    return 0;
}

int sd_image_fit_planar(const sd_image *in, int w, int h, int c, sd_fit_mode mode, uint8_t background, uint8_t *out)
{
    if (!in || !in->px || !out || w < 1 || h < 1 || (c != 1 && c != 3))
        return sd_error("sd_image_fit: bad arguments (%dx%d, %d channels)", w, h, c);
    sd_image flat = { 0 }, part = { 0 }, sized = { 0 };
    int rc = -1;
    if (flatten_alpha(in, background, &flat)) goto done;
    if (c == 1 && flat.c == 3 && sd_image_to_gray(&flat, &flat)) goto done;
    /* the region of the source to use (crop) and where it lands (pad) */
    int sx = 0, sy = 0, sw = flat.w, sh = flat.h, dx = 0, dy = 0, dw = w, dh = h;
    if (mode == SD_FIT_MODE_CROP) {
        if ((int64_t)flat.w * h > (int64_t)flat.h * w) {   /* wider than the target: cut the sides */
            sw = (int)(((int64_t)flat.h * w + h / 2) / h);
            if (sw < 1) sw = 1;
            sx = (flat.w - sw) / 2;
        } else {
            sh = (int)(((int64_t)flat.w * h + w / 2) / w);
            if (sh < 1) sh = 1;
            sy = (flat.h - sh) / 2;
        }
    } else if (mode == SD_FIT_MODE_PAD) {
        if ((int64_t)flat.w * h > (int64_t)flat.h * w) {
            dh = (int)(((int64_t)flat.h * w + flat.w / 2) / flat.w);
            if (dh < 1) dh = 1;
            dy = (h - dh) / 2;
        } else {
            dw = (int)(((int64_t)flat.w * h + flat.h / 2) / flat.h);
            if (dw < 1) dw = 1;
            dx = (w - dw) / 2;
        }
    }
    const sd_image *src = &flat;
    if (sx || sy || sw != flat.w || sh != flat.h) {
        if (sd_image_alloc(&part, sw, sh, flat.c, 0)) goto done;
        for (int y = 0; y < sh; y++)
            memcpy(part.px + (size_t)y * sw * flat.c, flat.px + ((size_t)(sy + y) * flat.w + sx) * flat.c,
                   (size_t)sw * flat.c);
        src = &part;
    }
    if (src->w != dw || src->h != dh) {
        if (sd_image_resize(src, dw, dh, &sized)) goto done;
        src = &sized;
    }
    /* into the planar output, background around, gray repeated into colour */
    memset(out, background, (size_t)c * w * h);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                out[((size_t)k * h + dy + y) * w + dx + x] = src->px[((size_t)y * dw + x) * src->c + (src->c == 1 ? 0 : k)];
    rc = 0;
done:
    sd_image_free(&flat);
    sd_image_free(&part);
    sd_image_free(&sized);
    return rc;
}

/* ---- Listing */

typedef struct name_list { char **v; int n, cap; } name_list;

static int names_add(name_list *s, const char *name)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return sd_error("out of memory listing a folder");
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(name))) return sd_error("out of memory listing a folder");
    s->n++;
    return 0;
}

static void names_free(name_list *s)
{
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_picture_name(const char *n)
{
    const char *dot = strrchr(n, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* Sorted entries of dir: sub-folders (want_dirs) or pictures; *other counts the files left out. */
static int list_dir(const char *dir, int want_dirs, name_list *out, int *other)
{
    DIR *d = opendir(dir);
    if (!d) return sd_error("%s: %s", dir, strerror(errno));
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            rc = sd_error("%s/%s: path too long", dir, e->d_name);
            break;
        }
        struct stat st;
        if (stat(path, &st)) continue;   /* a dangling link */
        if (want_dirs ? S_ISDIR(st.st_mode) : (S_ISREG(st.st_mode) && is_picture_name(e->d_name)))
            rc = names_add(out, e->d_name);
        else if (other && !S_ISDIR(st.st_mode)) (*other)++;
    }
    closedir(d);
    if (!rc && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_name);
    return rc;
}

int sd_folder_has_split(const char *dir)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/train", dir);
    if (stat(p, &st) || !S_ISDIR(st.st_mode)) return 0;
    snprintf(p, sizeof p, "%s/test", dir);
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* ---- Reading a folder */

typedef struct pic { char *path; int label, w, h, c, bad; } pic;

static int load_fail(const char *dir, name_list *cls, pic *p, int np, int rc)
{
    names_free(cls);
    for (int i = 0; i < np; i++) free(p[i].path);
    free(p);
    (void)dir;
    return rc;
}

int sd_dataset_load_folder(const char *dir, const sd_folder_opts *opts, sd_dataset *out, sd_folder_report *report)
{
    sd_folder_opts o = opts ? *opts : (sd_folder_opts){ 0 };
    sd_folder_report local;
    sd_folder_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(dir, &st)) return sd_error("%s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return sd_error("%s: not a folder", dir);
    name_list cls = { 0 };
    pic *p = NULL;
    int np = 0, cap = 0;
    if (list_dir(dir, 1, &cls, &r->other_files)) return load_fail(dir, &cls, p, np, -1);
    if (cls.n == 0)
        return load_fail(dir, &cls, p, np,
                         sd_error("%s: no class folders (expected %s/<class>/<picture>.png|.jpg|.jpeg)", dir, dir));
    if (!o.classes && cls.n == 1 && !o.describe)
        return load_fail(dir, &cls, p, np,
                         sd_error("%s: only one class folder ('%s'); a classifier needs at least two", dir, cls.v[0]));
    if (cls.n > SD_MAX_CLASSES)
        return load_fail(dir, &cls, p, np, sd_error("%s: %d class folders (at most %d)", dir, cls.n, SD_MAX_CLASSES));
    for (int k = 0; k < cls.n; k++) {
        if (strchr(cls.v[k], ','))
            return load_fail(dir, &cls, p, np,
                             sd_error("%s/%s: a class name may not hold a comma (model files list classes with commas)",
                                      dir, cls.v[k]));
        int label = k;
        if (o.classes) {
            label = -1;
            for (int j = 0; j < o.nclass; j++)
                if (!strcmp(o.classes[j], cls.v[k])) label = j;
            if (label < 0) {   /* both sides named: this folder, and the classes it should be one of */
                char known[256];
                size_t len = 0;
                known[0] = 0;
                for (int j = 0; j < o.nclass && len + 1 < sizeof known; j++) {
                    int w = snprintf(known + len, sizeof known - len, "%s%s", j ? ", " : "", o.classes[j]);
                    if (w < 0) break;
                    len += (size_t)w;
                }
                if (len >= sizeof known - 1) memcpy(known + sizeof known - 4, "...", 4);
                return load_fail(dir, &cls, p, np,
                                 sd_error("%s/%s: %s has no class '%s' (its %d classes: %s)", dir, cls.v[k],
                                          o.classes_of ? o.classes_of : "the model", cls.v[k], o.nclass, known));
            }
        }
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, cls.v[k]);
        name_list files = { 0 };
        if (list_dir(sub, 0, &files, &r->other_files)) {
            names_free(&files);
            return load_fail(dir, &cls, p, np, -1);
        }
        if (files.n == 0 && !o.describe) {
            names_free(&files);
            return load_fail(dir, &cls, p, np,
                             sd_error("%s: an empty class folder (no .png, .jpg or .jpeg pictures)", sub));
        }
        for (int i = 0; i < files.n; i++) {
            if (np == cap) {
                cap = cap ? 2 * cap : 1024;
                pic *q = realloc(p, (size_t)cap * sizeof *q);
                if (!q) { names_free(&files); return load_fail(dir, &cls, p, np, sd_error("out of memory")); }
                p = q;
            }
            char path[8200];
            snprintf(path, sizeof path, "%s/%s", sub, files.v[i]);
            p[np] = (pic){ .path = strdup(path), .label = label };
            if (!p[np].path) { names_free(&files); return load_fail(dir, &cls, p, np, sd_error("out of memory")); }
            np++;
        }
        names_free(&files);
    }
    /* headers: sizes and modes */
    const int threads = o.threads > 0 ? o.threads : omp_get_max_threads();
    #pragma omp parallel for schedule(dynamic, 64) num_threads(threads)
    for (int i = 0; i < np; i++)
        p[i].bad = sd_image_probe(p[i].path, &p[i].w, &p[i].h, &p[i].c) != 0;
    int colour = 0;
    for (int i = 0; i < np; i++) {
        if (p[i].bad) continue;
        const char *dot = strrchr(p[i].path, '.');
        if (!strcasecmp(dot, ".png")) r->png++;
        else r->jpeg++;
        if (p[i].c == 1) r->gray++;
        else r->colour++;
        if (p[i].c == 4) r->alpha++;
        colour |= p[i].c >= 3;
        int s = 0;
        while (s < r->nsizes && (r->size_w[s] != p[i].w || r->size_h[s] != p[i].h)) s++;
        if (s == r->nsizes && s < SD_FOLDER_MAX_SIZES) {
            r->size_w[s] = p[i].w;
            r->size_h[s] = p[i].h;
            r->nsizes++;
        }
        if (s < r->nsizes) r->size_n[s]++;
    }
    if (o.w <= 0 || o.h <= 0) {
        int best = -1;
        for (int s = 0; s < r->nsizes; s++)
            if (best < 0 || r->size_n[s] > r->size_n[best]) best = s;
        if (best < 0) { o.w = o.h = 28; }
        else { o.w = r->size_w[best]; o.h = r->size_h[best]; }
    }
    if (o.channels != 1 && o.channels != 3) o.channels = colour ? 3 : 1;
    const size_t img = (size_t)o.channels * o.h * o.w;
    const size_t max_bytes = o.max_bytes ? o.max_bytes : (size_t)4 << 30;
    if ((size_t)np > max_bytes / img)
        return load_fail(dir, &cls, p, np,
                         sd_error("%s: %d pictures of %dx%dx%d need %.1f GiB decoded (limit %.1f GiB); choose a "
                                  "smaller --size", dir, np, o.channels, o.h, o.w, (double)np * img / (1 << 30),
                                  (double)max_bytes / (1 << 30)));
    uint8_t *images = malloc((size_t)np * img);
    uint8_t *labels = malloc((size_t)np);
    if (!images || !labels) {
        free(images);
        free(labels);
        return load_fail(dir, &cls, p, np, sd_error("%s: out of memory for %d pictures", dir, np));
    }
    #pragma omp parallel for schedule(dynamic, 16) num_threads(threads)
    for (int i = 0; i < np; i++) {
        if (p[i].bad) continue;
        sd_image im;
        if (sd_image_load_any(p[i].path, &im)) { p[i].bad = 1; continue; }
        p[i].bad = sd_image_fit_planar(&im, o.w, o.h, o.channels, o.fit, o.background, images + (size_t)i * img) != 0;
        sd_image_free(&im);
    }
    /* compact: drop the bad ones (or stop at the first) */
    int n = 0;
    for (int i = 0; i < np; i++) {
        if (p[i].bad) {
            if (!r->bad++) {
                sd_image im;
                if (sd_image_load_any(p[i].path, &im) == 0) {   /* failed in fitting, not decoding */
                    sd_image_free(&im);
                    sd_error("%s: could not be fitted into %dx%d", p[i].path, o.w, o.h);
                }
                snprintf(r->first_bad, sizeof r->first_bad, "%s", sd_last_error());
            }
            continue;
        }
        if (p[i].w != o.w || p[i].h != o.h) r->resized++;
        if (n != i) memmove(images + (size_t)n * img, images + (size_t)i * img, img);
        labels[n] = (uint8_t)p[i].label;
        r->count[p[i].label]++;
        n++;
    }
    r->pictures = n;
    if (r->bad && !o.skip_bad) {
        free(images);
        free(labels);
        return load_fail(dir, &cls, p, np,
                         sd_error("%s%s (--skip-bad leaves out the pictures that cannot be read)", r->first_bad,
                                  r->bad > 1 ? " and more" : ""));
    }
    if (n == 0) {
        free(images);
        free(labels);
        return load_fail(dir, &cls, p, np, sd_error("%s: no picture could be read", dir));
    }
    out->n = n;
    out->c = o.channels;
    out->h = o.h;
    out->w = o.w;
    out->images = images;
    out->labels = labels;
    if (o.classes) {
        out->nclass = o.nclass;
        if (sd_dataset_set_classes(out, o.classes, o.nclass)) {
            sd_dataset_free(out);
            return load_fail(dir, &cls, p, np, -1);
        }
    } else {
        out->nclass = cls.n;
        out->classes = cls.v;   /* ownership moves to the data set */
        cls.v = NULL;
        cls.n = 0;
    }
    return load_fail(dir, &cls, p, np, 0);
}

/* ---- Splits and fingerprints */

int sd_dataset_set_classes(sd_dataset *d, const char *const *names, int n)
{
    if (!names) return 0;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) return sd_error("out of memory");
    for (int i = 0; i < n; i++)
        if (!(v[i] = strdup(names[i]))) {
            for (int j = 0; j < i; j++) free(v[j]);
            free(v);
            return sd_error("out of memory");
        }
    d->classes = v;
    return 0;
}

/* Copy the examples idx[0..n) of d into out (labels, pixels or features, class names). */
static int take(const sd_dataset *d, const int32_t *idx, int n, sd_dataset *out)
{
    memset(out, 0, sizeof *out);
    const size_t img = (size_t)d->c * d->h * d->w;
    out->n = n;
    out->c = d->c;
    out->h = d->h;
    out->w = d->w;
    out->nclass = d->nclass;
    out->labels = malloc(n ? (size_t)n : 1);
    if (d->x) out->x = malloc((size_t)(n ? n : 1) * img * sizeof(float));
    else out->images = malloc((n ? (size_t)n : 1) * img);
    if (!out->labels || (!out->x && !out->images) || sd_dataset_set_classes(out, (const char *const *)d->classes, d->nclass)) {
        sd_dataset_free(out);
        return sd_error("out of memory splitting a data set");
    }
    for (int i = 0; i < n; i++) {
        out->labels[i] = d->labels[idx[i]];
        if (d->x) memcpy(out->x + (size_t)i * img, d->x + (size_t)idx[i] * img, img * sizeof(float));
        else memcpy(out->images + (size_t)i * img, d->images + (size_t)idx[i] * img, img);
    }
    return 0;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int sd_dataset_split(const sd_dataset *all, double frac, uint64_t seed, sd_dataset *a, sd_dataset *b)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    if (!(frac > 0 && frac < 1)) return sd_error("a split fraction must be between 0 and 1, not %g", frac);
    int32_t *idx = malloc((size_t)all->n * sizeof *idx), *ia = malloc((size_t)all->n * sizeof *ia),
            *ib = malloc((size_t)all->n * sizeof *ib);
    if (!idx || !ia || !ib) {
        free(idx), free(ia), free(ib);
        return sd_error("out of memory splitting a data set");
    }
    sd_rng rng;
    sd_rng_seed(&rng, seed);
    int na = 0, nb = 0;
    for (int k = 0; k < all->nclass; k++) {   /* each class in the same proportion */
        int m = 0;
        for (int i = 0; i < all->n; i++)
            if (all->labels[i] == k) idx[m++] = i;
        sd_rng_shuffle(&rng, idx, (size_t)m);
        int held = (int)(frac * m + 0.5);
        if (m >= 2 && held >= m) held = m - 1;
        for (int i = 0; i < m; i++) {
            if (i < held) ib[nb++] = idx[i];
            else ia[na++] = idx[i];
        }
    }
    /* keep the file order within each part (the data order a shuffle starts from) */
    qsort(ia, (size_t)na, sizeof *ia, cmp_i32);
    qsort(ib, (size_t)nb, sizeof *ib, cmp_i32);
    free(idx);
    int rc = take(all, ia, na, a) || take(all, ib, nb, b) ? -1 : 0;
    if (rc) {
        sd_dataset_free(a);
        sd_dataset_free(b);
    }
    free(ia);
    free(ib);
    return rc;
}

void sd_dataset_fingerprint(const sd_dataset *d, char out[17])
{
    uint64_t h = 1469598103934665603ull;
    const size_t img = (size_t)d->c * d->h * d->w;
    for (int i = 0; i < d->n; i++) {
        h = (h ^ d->labels[i]) * 1099511628211ull;
        const uint8_t *p = d->x ? (const uint8_t *)(d->x + (size_t)i * img) : d->images + (size_t)i * img;
        const size_t bytes = d->x ? img * sizeof(float) : img;
        for (size_t j = 0; j < bytes; j++) h = (h ^ p[j]) * 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

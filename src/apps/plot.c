#define _POSIX_C_SOURCE 200809L
/* Curves from metric logs: the figure's layout as a scene of shapes, written
 * as SVG here or painted for a PNG (plot_raster.c), and terminal sparklines. */
#include "metlog.h"
#include "plot.h"
#include "shendu.h"

#include <math.h>
#include <stdarg.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t palette[8] = { 0x2563eb, 0xdc2626, 0x16a34a, 0x9333ea, 0xea580c, 0x0891b2, 0xca8a04, 0xdb2777 };
#define GRID 0xe5e7eb
#define INK 0x374151

/* ---- Building a scene */

static sc_item *sc_add(sc_scene *s, sc_type type, uint32_t color)
{
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 256;
        sc_item *it = realloc(s->items, (size_t)nc * sizeof *it);
        if (!it) { s->failed = 1; return NULL; }
        s->items = it;
        s->cap = nc;
    }
    sc_item *it = &s->items[s->n++];
    memset(it, 0, sizeof *it);
    it->type = type;
    it->color = color;
    it->run = -1;
    return it;
}

static int sc_str(sc_scene *s, const char *str)
{
    int n = (int)strlen(str) + 1;
    if (s->plen + n > s->pcap) {
        int nc = s->pcap ? 2 * s->pcap : 4096;
        while (nc < s->plen + n) nc *= 2;
        char *p = realloc(s->pool, (size_t)nc);
        if (!p) { s->failed = 1; return 0; }
        s->pool = p;
        s->pcap = nc;
    }
    memcpy(s->pool + s->plen, str, (size_t)n);
    s->plen += n;
    return s->plen - n;
}

static void sc_rect(sc_scene *s, float x0, float y0, float x1, float y1, uint32_t color, int fill)
{
    sc_item *it = sc_add(s, SC_RECT, color);
    if (!it) return;
    it->x0 = x0, it->y0 = y0, it->x1 = x1, it->y1 = y1, it->fill = fill;
}

static void sc_text(sc_scene *s, float x, float y, float size, int anchor, uint32_t color, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int off = sc_str(s, buf);
    sc_item *it = sc_add(s, SC_TEXT, color);
    if (!it) return;
    it->x0 = x, it->y0 = y, it->width = size, it->anchor = anchor, it->text = off;
}

static void sc_hline(sc_scene *s, float x0, float x1, float y, uint32_t color)
{
    sc_rect(s, x0, y - 0.5f, x1, y + 0.5f, color, 1);
}

static void scene_free(sc_scene *s)
{
    free(s->items);
    free(s->pts);
    free(s->pool);
    memset(s, 0, sizeof *s);
}

/* ---- Data: the panels and each run's points in them */

static int is_loss(const char *name) { return strstr(name, "loss") || strstr(name, "bpc"); }

static int want_measure(const sd_plot_opts *o, const char *name)
{
    if (!o->measures) return 1;
    for (int i = 0; o->measures[i]; i++)
        if (!strcmp(o->measures[i], name)) return 1;
    return 0;
}

/* The panels: measures with a finite value in some table, in order of appearance. */
static int panel_names(const sd_metlog_table *t, int n, const sd_plot_opts *o, char names[][48], int max)
{
    int np = 0;
    for (int k = 0; k < n; k++)
        for (int c = 4; c < t[k].ncol; c++) {
            int have = 0, dup = 0;
            for (int i = 0; i < np; i++) dup |= !strcmp(names[i], t[k].names[c]);
            if (dup || !want_measure(o, t[k].names[c])) continue;
            for (int k2 = 0; k2 < n && !have; k2++) {
                int c2 = sd_metlog_col(&t[k2], t[k].names[c]);
                for (int r = 0; c2 >= 0 && r < t[k2].nrow && !have; r++) have = isfinite(t[k2].v[(size_t)r * t[k2].ncol + c2]);
            }
            if (have && np < max) snprintf(names[np++], 48, "%s", t[k].names[c]);
        }
    return np;
}

/* One run's points of one measure: x and y (smoothed), returned count. */
static int series(const sd_metlog_table *t, const char *measure, const sd_plot_opts *o, int smooth, double *xs,
                  double *ys, int *nstep)
{
    int dummy;
    if (!nstep) nstep = &dummy;
    *nstep = 0;
    int c = sd_metlog_col(t, measure);
    if (c < 0) return 0;
    const char *xn = o->x ? o->x : "step";
    int xc = !strcmp(xn, "time") ? 3 : 1;
    double per_epoch = 0;   /* x = epoch: steps / steps per epoch (from the first epoch record) */
    if (!strcmp(xn, "epoch"))
        for (int r = 0; r < t->nrow && per_epoch <= 0; r++) {
            const double *row = t->v + (size_t)r * t->ncol;
            if (row[0] == SD_REC_EPOCH && row[2] > 0 && row[1] > 0) per_epoch = row[1] / row[2];
        }
    int n = 0;
    double ema = 0, w = 0, a = smooth ? o->smooth : 0;
    for (int r = 0; r < t->nrow; r++) {
        const double *row = t->v + (size_t)r * t->ncol;
        double y = row[c], x = per_epoch > 0 ? row[1] / per_epoch : !strcmp(xn, "epoch") ? row[2] : row[xc];
        if (!isfinite(y) || !isfinite(x) || row[0] == SD_REC_FINAL) continue;   /* the kept model's: no point of a curve */
        *nstep += row[0] == SD_REC_STEP;
        if (a > 0 && row[0] == SD_REC_STEP) {   /* debiased moving average (starts at the first value) */
            ema = a * ema + (1 - a) * y;
            w = a * w + (1 - a);
            y = ema / w;
        }
        xs[n] = x;
        ys[n++] = y;
    }
    return n;
}

/* Round tick steps: 1, 2 or 5 times a power of ten, about `want` ticks over [lo, hi]. */
static double nice_step(double lo, double hi, int want)
{
    double raw = (hi - lo) / want, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void fmt_num(char *buf, size_t n, double v)
{
    if (fabs(v) < 1e-12) v = 0;
    if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3)) snprintf(buf, n, "%.1e", v);
    else snprintf(buf, n, "%.4g", v);
}

typedef struct panel {
    float x0, y0, x1, y1;          /* the plotting area in pixels */
    double xlo, xhi, ylo, yhi;     /* data range (y: log10 on a log scale) */
    int log;
} panel;

static float px_x(const panel *p, double x) { return (float)(p->x0 + (x - p->xlo) / (p->xhi - p->xlo) * (p->x1 - p->x0)); }
static float px_y(const panel *p, double y)
{
    if (p->log) y = log10(y);
    return (float)(p->y1 - (y - p->ylo) / (p->yhi - p->ylo) * (p->y1 - p->y0));
}

static void axes(sc_scene *s, const panel *p, const char *title, const char *xname)
{
    char b[32];
    sc_rect(s, p->x0, p->y0, p->x1, p->y1, 0xffffff, 1);
    sc_text(s, p->x0, p->y0 - 8, 13, 0, INK, "%s%s", title, p->log ? " (log scale)" : "");
    if (p->log) {
        const double decades = p->yhi - p->ylo;   /* ticks at 1..9, 1/2/5 or 1 times powers of ten */
        if (decades < 0.5) {   /* less than a factor of 3: evenly spaced values */
            const double lo = pow(10, p->ylo), hi = pow(10, p->yhi), st = nice_step(lo, hi, 5);
            for (double v = ceil(lo / st) * st; v <= hi; v += st) {
                float y = px_y(p, v);
                sc_hline(s, p->x0, p->x1, y, GRID);
                fmt_num(b, sizeof b, v);
                sc_text(s, p->x0 - 6, y + 4, 11, 2, INK, "%s", b);
            }
        }
        for (int k = (int)floor(p->ylo); decades >= 0.5 && k <= (int)ceil(p->yhi); k++)
            for (int m = 1; m <= 9; m++) {
                double v = m * pow(10, k), ly = log10(v);
                if (ly < p->ylo || ly > p->yhi) continue;
                if ((decades > 3 && m > 1) || (decades > 1 && m != 1 && m != 2 && m != 5)) continue;
                float y = px_y(p, v);
                sc_hline(s, p->x0, p->x1, y, GRID);
                fmt_num(b, sizeof b, v);
                sc_text(s, p->x0 - 6, y + 4, 11, 2, INK, "%s", b);
            }
    } else {
        double st = nice_step(p->ylo, p->yhi, 5);
        for (double v = ceil(p->ylo / st) * st; v <= p->yhi + st * 1e-9; v += st) {
            float y = px_y(p, v);
            sc_hline(s, p->x0, p->x1, y, GRID);
            fmt_num(b, sizeof b, v);
            sc_text(s, p->x0 - 6, y + 4, 11, 2, INK, "%s", b);
        }
    }
    double st = nice_step(p->xlo, p->xhi, 6);
    for (double v = ceil(p->xlo / st) * st; v <= p->xhi + st * 1e-9; v += st) {
        float x = px_x(p, v);
        sc_rect(s, x - 0.5f, p->y1, x + 0.5f, p->y1 + 4, INK, 1);
        fmt_num(b, sizeof b, v);
        sc_text(s, x, p->y1 + 16, 11, 1, INK, "%s", b);
    }
    sc_text(s, p->x1, p->y1 + 30, 11, 2, INK, "%s", xname);
    sc_rect(s, p->x0, p->y0, p->x1, p->y1, 0x9ca3af, 0);
}

static void add_line(sc_scene *s, const panel *p, const double *xs, const double *ys, int n, uint32_t color,
                     float width, int run, int name, int faint)
{
    if (s->npts + n > s->ptcap) {
        int nc = s->ptcap ? 2 * s->ptcap : 4096;
        while (nc < s->npts + n) nc *= 2;
        float *pts = realloc(s->pts, (size_t)nc * 2 * sizeof *pts);
        if (!pts) { s->failed = 1; return; }
        s->pts = pts;
        s->ptcap = nc;
    }
    int first = s->npts;
    for (int i = 0; i < n; i++) {
        if (p->log && !(ys[i] > 0)) continue;
        s->pts[2 * s->npts] = px_x(p, xs[i]);
        s->pts[2 * s->npts + 1] = px_y(p, ys[i]);
        s->npts++;
    }
    sc_item *it = sc_add(s, SC_LINE, color);
    if (!it) return;
    it->first = first, it->npts = s->npts - first, it->width = width, it->run = run, it->text = name;
    it->fill = faint;   /* a LINE's fill flag: drawn faint (the raw values behind a smoothed curve) */
    if (it->npts <= 40 && run >= 0)   /* few points (epoch records): mark each */
        for (int i = first; i < s->npts; i++) {
            sc_item *d = sc_add(s, SC_DOT, color);
            if (d) d->x0 = s->pts[2 * i], d->y0 = s->pts[2 * i + 1], d->width = 2.5f;
        }
}

static int build_scene(sc_scene *s, const sd_metlog_table *t, const char *const *labels, int n, const sd_plot_opts *o)
{
    memset(s, 0, sizeof *s);
    char names[32][48];
    int np = panel_names(t, n, o, names, 32);
    if (np == 0) return sd_error("nothing to plot: no measure with a value%s", o->measures ? " among those asked for" : "");
    size_t maxrows = 0;
    for (int k = 0; k < n; k++) maxrows = (size_t)t[k].nrow > maxrows ? (size_t)t[k].nrow : maxrows;
    double *xs = malloc(maxrows * sizeof *xs), *ys = malloc(maxrows * sizeof *ys);
    if (!xs || !ys) { free(xs); free(ys); return sd_error("out of memory"); }
    const int cols = np == 1 ? 1 : 2, rows = (np + cols - 1) / cols, title_h = o->title ? 30 : 0, legend_h = 30;
    s->w = o->width > 0 ? o->width : 960;
    const int ph = o->height > 0 ? (o->height - title_h - legend_h) / rows : 260;
    s->h = title_h + legend_h + rows * ph;
    const float pw = (float)s->w / cols;
    sc_rect(s, 0, 0, (float)s->w, (float)s->h, 0xf9fafb, 1);
    if (o->title) sc_text(s, 16, 22, 16, 0, INK, "%s", o->title);
    float lx = 16;   /* the legend */
    for (int k = 0; k < n; k++) {
        float ly = (float)title_h + 18;
        sc_rect(s, lx, ly - 6, lx + 18, ly - 3, palette[k % 8], 1);
        sc_text(s, lx + 24, ly, 12, 0, INK, "%s", labels[k]);
        lx += 24 + 7.5f * (float)strlen(labels[k]) + 20;
    }
    const char *xname = o->x ? o->x : "step";
    for (int i = 0; i < np; i++) {
        panel p = { .x0 = (i % cols) * pw + 64, .x1 = (i % cols + 1) * pw - 16,
                    .y0 = (float)(title_h + legend_h + (i / cols) * ph + 26), .y1 = (float)(title_h + legend_h + (i / cols + 1) * ph - 36) };
        p.log = o->log_y && is_loss(names[i]);
        double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
        for (int k = 0; k < n; k++) {
            int m = series(&t[k], names[i], o, 0, xs, ys, NULL);
            for (int j = 0; j < m; j++) {
                if (p.log && !(ys[j] > 0)) continue;
                double y = p.log ? log10(ys[j]) : ys[j];
                xlo = fmin(xlo, xs[j]), xhi = fmax(xhi, xs[j]), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
            }
        }
        if (!(ylo <= yhi)) { p.log = 0; ylo = 0; yhi = 1; xlo = 0; xhi = 1; }   /* no positive values for a log scale */
        if (xhi - xlo < 1e-12) { xlo -= 1; xhi += 1; }
        double pad = yhi - ylo >= 1e-12 ? (yhi - ylo) * 0.06 : p.log ? 0.1 : yhi != 0 ? fabs(yhi) * 0.1 : 0.5;
        p.xlo = xlo, p.xhi = xhi, p.ylo = ylo - pad, p.yhi = yhi + pad;
        axes(s, &p, names[i], xname);
        int name = sc_str(s, names[i]);
        for (int k = 0; k < n; k++) {
            int nstep, m = series(&t[k], names[i], o, 0, xs, ys, &nstep);
            if (!m) continue;
            if (o->smooth > 0 && nstep > 1) {   /* the raw values faint behind the smoothed curve */
                add_line(s, &p, xs, ys, m, palette[k % 8], 1.0f, -1, name, 1);
                m = series(&t[k], names[i], o, 1, xs, ys, NULL);
            }
            add_line(s, &p, xs, ys, m, palette[k % 8], 1.8f, k, name, 0);
        }
    }
    free(xs);
    free(ys);
    if (s->failed) { scene_free(s); return sd_error("out of memory"); }
    return 0;
}

/* ---- SVG */

typedef struct sbuf { char *p; size_t n, cap; int failed; } sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = b->p ? vsnprintf(b->p + b->n, room, fmt, ap) : -2;
        va_end(ap);
        if (k >= 0 && (size_t)k < room) { b->n += (size_t)k; return; }
        if (k == -1) { b->failed = 1; return; }
        size_t nc = b->cap ? 2 * b->cap : 1 << 16;
        while (k > 0 && nc < b->n + (size_t)k + 1) nc *= 2;
        char *p = realloc(b->p, nc);
        if (!p) { b->failed = 1; return; }
        b->p = p;
        b->cap = nc;
    }
}

static void sb_escaped(sbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') sb_printf(b, "&lt;");
        else if (*s == '>') sb_printf(b, "&gt;");
        else if (*s == '&') sb_printf(b, "&amp;");
        else if (*s == '"') sb_printf(b, "&quot;");
        else if ((unsigned char)*s >= 32 || *s == '\t') sb_printf(b, "%c", *s);
    }
}

static char *scene_svg(const sc_scene *s, const char *const *labels)
{
    sbuf b = { 0 };
    sb_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n", s->w, s->h, s->w, s->h);
    for (int i = 0; i < s->n; i++) {
        const sc_item *it = &s->items[i];
        unsigned c = it->color & 0xffffff;
        switch (it->type) {
        case SC_RECT:
            sb_printf(&b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" %s=\"#%06x\"%s/>\n", it->x0, it->y0,
                      it->x1 - it->x0, it->y1 - it->y0, it->fill ? "fill" : "stroke", c, it->fill ? "" : " fill=\"none\"");
            break;
        case SC_TEXT:
            sb_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\" fill=\"#%06x\"%s>", it->x0, it->y0, it->width, c,
                      it->anchor == 1 ? " text-anchor=\"middle\"" : it->anchor == 2 ? " text-anchor=\"end\"" : "");
            sb_escaped(&b, s->pool + it->text);
            sb_printf(&b, "</text>\n");
            break;
        case SC_DOT:
            sb_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#%06x\"/>\n", it->x0, it->y0, it->width, c);
            break;
        case SC_LINE:
            if (it->run >= 0) {
                sb_printf(&b, "<polyline class=\"series\" data-run=\"");
                sb_escaped(&b, labels[it->run]);
                sb_printf(&b, "\" data-measure=\"");
                sb_escaped(&b, s->pool + it->text);
                sb_printf(&b, "\"");
            } else {
                sb_printf(&b, "<polyline class=\"raw\"");
            }
            sb_printf(&b, " fill=\"none\" stroke=\"#%06x\" stroke-width=\"%.1f\"%s stroke-linejoin=\"round\" points=\"", c,
                      it->width, it->fill ? " stroke-opacity=\"0.25\"" : "");
            for (int j = 0; j < it->npts; j++)
                sb_printf(&b, "%s%.1f,%.1f", j ? " " : "", s->pts[2 * (it->first + j)], s->pts[2 * (it->first + j) + 1]);
            sb_printf(&b, "\"/>\n");
            break;
        }
    }
    sb_printf(&b, "</svg>\n");
    if (b.failed) { free(b.p); sd_error("out of memory"); return NULL; }
    return b.p;
}

char *sd_plot_svg(const sd_metlog_table *t, const char *const *labels, int n, const sd_plot_opts *o)
{
    sc_scene s;
    if (build_scene(&s, t, labels, n, o)) return NULL;
    char *svg = scene_svg(&s, labels);
    scene_free(&s);
    return svg;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

int sd_plot_write(const char *path, const sd_metlog_table *t, const char *const *labels, int n, const sd_plot_opts *o)
{
    if (ends_with(path, ".png")) {
        sc_scene s;
        sd_image im;
        if (build_scene(&s, t, labels, n, o)) return -1;
        int rc = sc_rasterize(&s, &im);
        scene_free(&s);
        if (rc) return -1;
        rc = sd_image_save_png(path, &im);
        sd_image_free(&im);
        return rc;
    }
    char *svg = sd_plot_svg(t, labels, n, o);
    if (!svg) return -1;
    int rc = sd_write_atomic(path, &(sd_chunk){ svg, strlen(svg) }, 1);
    free(svg);
    return rc;
}

/* ---- Terminal: one sparkline per run and measure */

int sd_plot_terminal(FILE *f, const sd_metlog_table *t, const char *const *labels, int n, const sd_plot_opts *o,
                     int width)
{
    static const char *const bars[8] = { "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588" };
    char names[32][48];
    int np = panel_names(t, n, o, names, 32);
    if (np == 0) return sd_error("nothing to plot: no measure with a value");
    if (width < 8) width = 8;
    if (width > 400) width = 400;
    size_t maxrows = 1, lw = 4;
    for (int k = 0; k < n; k++) {
        maxrows = (size_t)t[k].nrow > maxrows ? (size_t)t[k].nrow : maxrows;
        lw = strlen(labels[k]) > lw ? strlen(labels[k]) : lw;
    }
    double *xs = malloc(maxrows * sizeof *xs), *ys = malloc(maxrows * sizeof *ys);
    if (!xs || !ys) { free(xs); free(ys); return sd_error("out of memory"); }
    for (int i = 0; i < np; i++) {
        int lg = o->log_y && is_loss(names[i]);
        double lo = INFINITY, hi = -INFINITY, xlo = INFINITY, xhi = -INFINITY;
        for (int k = 0; k < n; k++) {
            int m = series(&t[k], names[i], o, 1, xs, ys, NULL);
            for (int j = 0; j < m; j++) {
                if (lg && !(ys[j] > 0)) continue;
                double y = lg ? log10(ys[j]) : ys[j];
                lo = fmin(lo, y), hi = fmax(hi, y), xlo = fmin(xlo, xs[j]), xhi = fmax(xhi, xs[j]);
            }
        }
        fprintf(f, "%s%s  (%s %g to %g)\n", names[i], lg ? " (log scale)" : "", o->x ? o->x : "step", xlo, xhi);
        for (int k = 0; k < n; k++) {
            int m = series(&t[k], names[i], o, 1, xs, ys, NULL);
            if (!m) continue;
            double sum[400] = { 0 };
            int cnt[400] = { 0 };
            for (int j = 0; j < m; j++) {
                if (lg && !(ys[j] > 0)) continue;
                int b = xhi > xlo ? (int)((xs[j] - xlo) / (xhi - xlo) * (width - 1) + 0.5) : 0;
                sum[b] += lg ? log10(ys[j]) : ys[j];
                cnt[b]++;
            }
            for (int b = 0, prev = -1; b < width; b++) {   /* join the points: interpolate empty columns */
                if (!cnt[b]) continue;
                for (int e = prev + 1; prev >= 0 && e < b; e++) {
                    double u = (double)(e - prev) / (b - prev);
                    sum[e] = (1 - u) * sum[prev] / cnt[prev] + u * sum[b] / cnt[b];
                    cnt[e] = -1;
                }
                prev = b;
            }
            fprintf(f, "  %-*s ", (int)lw, labels[k]);
            for (int b = 0; b < width; b++) {
                if (!cnt[b]) { fputc(' ', f); continue; }
                double v = cnt[b] < 0 ? sum[b] : sum[b] / cnt[b];
                int level = hi > lo ? (int)((v - lo) / (hi - lo) * 7 + 0.5) : 3;
                fputs(bars[level < 0 ? 0 : level > 7 ? 7 : level], f);
            }
            fprintf(f, "  %.4g -> %.4g\n", ys[0], ys[m - 1]);
        }
    }
    free(xs);
    free(ys);
    return ferror(f) ? sd_error("write error") : 0;
}

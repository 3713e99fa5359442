/* The drawing behind sd_plot_*: plot.c lays a figure out as a list of
 * shapes in pixel coordinates (a scene); plot.c writes it as SVG,
 * plot_raster.c paints it into an RGB image for a PNG. Internal to src/apps. */
#ifndef SHENDU_PLOT_H
#define SHENDU_PLOT_H

#include "shendu/image.h"

#include <stdint.h>

typedef enum { SC_RECT, SC_LINE, SC_TEXT, SC_DOT } sc_type;
typedef struct sc_item {
    sc_type type;
    uint32_t color;          /* 0xRRGGBB */
    float x0, y0, x1, y1;    /* RECT: corners (filled if `fill`, else outlined); TEXT, DOT: x0, y0 */
    float width;             /* LINE: stroke width; DOT: radius; TEXT: font size (px) */
    int fill, anchor;        /* TEXT anchor: 0 start, 1 middle, 2 end */
    int first, npts;         /* LINE: points pts[2*first ...] */
    int run;                 /* LINE: the run's index (-1: not a data series) */
    int text;                /* TEXT: offset in the text pool; LINE: the measure's name */
} sc_item;
typedef struct sc_scene {
    int w, h;
    sc_item *items;
    int n, cap;
    float *pts;
    int npts, ptcap;
    char *pool;
    int plen, pcap;
    int failed;              /* out of memory while building */
} sc_scene;

/* Paint the scene into a w × h RGB image (allocated here). */
int sc_rasterize(const sc_scene *s, sd_image *out);
/* The built-in 5×7 bitmap font: row 0..6 (top first) of character ch as 5
 * bits, bit 4 the left column; printable ASCII, other bytes draw as a box. */
int sc_glyph_row(int ch, int row);

#endif

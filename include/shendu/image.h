/* shendu/image.h — 8-bit images: PNG files (via libpng), gray conversion,
 * resizing, MNIST-style preparation of photos, and picture grids.
 *
 * An sd_image is w×h pixels of c interleaved 8-bit channels, row-major, top
 * row first: px[(y*w + x)*c + k]. c is 1 (gray), 3 (RGB) or 4 (RGBA, straight
 * i.e. not premultiplied alpha). Pixel values are used as stored: no gamma or
 * colour-profile correction is applied anywhere.
 *
 * Ownership: every function that fills an `sd_image *out` allocates out->px;
 * release it with sd_image_free. *out is overwritten without freeing what it
 * held, except when out == in, where the input is replaced (and its old
 * pixels freed) only after the call succeeded. On failure *out is left
 * untouched when out == in, and zeroed otherwise.
 *
 * Errors: -1 and a message in sd_last_error(); messages from file functions
 * begin with the file name ("FILE: not a PNG file"). libpng never prints and
 * never longjmps through the caller. */
#ifndef SHENDU_IMAGE_H
#define SHENDU_IMAGE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits on any image loaded or made here, checked before allocating. */
#define SD_IMAGE_MAX_SIDE   65536                 /* width and height */
#define SD_IMAGE_MAX_PIXELS ((int64_t)1 << 28)    /* w*h: 256 Mpx, 1 GiB as RGBA */

typedef struct sd_image {
    int w, h, c;       /* c = 1 gray, 3 RGB, 4 RGBA */
    uint8_t *px;       /* w*h*c bytes, row-major, interleaved */
} sd_image;

/* Allocate a w×h×c image with all bytes set to `fill`. */
int  sd_image_alloc(sd_image *out, int w, int h, int c, uint8_t fill);
void sd_image_free(sd_image *im);               /* NULL-safe; leaves *im zeroed */

/* ---- PNG files. Loading accepts any valid PNG — palette, gray (1-16 bit),
 * gray+alpha, RGB, RGBA, 16-bit, interlaced — and gives 8 bits per channel:
 *   gray                -> c = 1
 *   RGB, palette        -> c = 3
 *   anything with alpha -> c = 4 (gray+alpha and tRNS transparency expand to RGBA)
 * 16-bit samples are scaled with rounding (v*255/65535). Images larger than
 * the limits above are refused before any pixel memory is allocated
 * ("FILE: image too large (W x H)"); other errors: "FILE: No such file or
 * directory", "FILE: not a PNG file", "FILE: truncated PNG data",
 * "FILE: corrupt PNG: <libpng's reason>". */
int sd_image_load_png(const char *path, sd_image *out);
/* Write an 8-bit gray, RGB or RGBA PNG, atomically (sd_write_atomic). */
int sd_image_save_png(const char *path, const sd_image *im);

/* ---- Conversions. */
/* Gray by luminance 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), rounded.
 * Alpha is composited over white first, as an image viewer shows a transparent
 * PNG: a black stroke on a transparent canvas becomes black on white. A gray
 * input is copied. */
int sd_image_to_gray(const sd_image *in, sd_image *out);

/* Resize to w×h, each axis independently: shrinking averages the exact area
 * each output pixel covers (a box filter with fractional edge weights, so a
 * photo shrunk to 28×28 keeps thin strokes as gray instead of dropping them);
 * enlarging interpolates bilinearly between pixel centres, edges clamped.
 * Colour is weighted by alpha for RGBA, so transparent pixels do not bleed
 * their colour into visible neighbours. A constant image stays constant. */
int sd_image_resize(const sd_image *in, int w, int h, sd_image *out);

/* Enlarge by an integer factor (1..256), each pixel becoming a factor×factor
 * block: makes 28×28 pictures viewable without blurring them. */
int sd_image_scale_nearest(const sd_image *in, int factor, sd_image *out);

/* ---- Preparing a picture like the MNIST / Fashion-MNIST training data.
 *
 * Those data sets show a light object on a black background, 28×28 gray.
 * A photo or drawing usually shows a dark object on a light background, and
 * a network trained on MNIST sees it as noise unless it is inverted. Steps:
 *   1. gray (sd_image_to_gray: alpha over white, BT.601 luminance);
 *   2. invert (v -> 255 - v) according to .invert; SD_INVERT_AUTO inverts
 *      when more than half of the border pixels (the outermost rows and
 *      columns) are light (>= 128), i.e. the background is light;
 *   3. if .autolevel: stretch levels so the darkest pixel becomes 0 and the
 *      lightest 255 (a grayish paper background becomes black);
 *   4. resize into the (28 - 2*margin)² box: stretched to fill it, or, with
 *      SD_FIT_PAD, scaled to keep the aspect ratio and centred, the rest filled
 *      with the background (the mean of the border pixels after steps 2-3);
 *   5. out28x28[y*28 + x] = pixel / 255, in [0, 1], as the batcher feeds
 *      training data with its default scale.
 * MNIST digits sit in a 20×20 box centred in 28×28 (margin 4); Fashion-MNIST
 * products fill the frame (margin 0). The all-zero option struct (or NULL)
 * means: auto invert, keep aspect, no margin, no autolevel. */
typedef enum sd_image_invert {
    SD_INVERT_AUTO = 0,    /* invert when the border is mostly light */
    SD_INVERT_NEVER,
    SD_INVERT_ALWAYS
} sd_image_invert;

typedef enum sd_image_fit {
    SD_FIT_PAD = 0,        /* keep the aspect ratio, pad with background */
    SD_FIT_STRETCH         /* fill the box, distorting the aspect ratio */
} sd_image_fit;

typedef struct sd_image_prep_opts {
    sd_image_invert invert;
    sd_image_fit fit;
    int margin;            /* background pixels on each side, 0..13 */
    int autolevel;         /* 1: stretch levels to the full 0..255 range */
} sd_image_prep_opts;

/* opts may be NULL. out28x28 receives 784 floats. If `inverted` is not NULL
 * it is set to 1 when the picture was inverted, else 0. */
int sd_image_to_mnist(const sd_image *in, const sd_image_prep_opts *opts,
                      float *out28x28, int *inverted);

/* ---- Picture grids (GAN samples, convolution kernels, data set previews).
 * imgs holds n float images of c×h×w, planar (NCHW, as tensors are), c = 1
 * (gray) or 3 (RGB); values are mapped linearly lo -> 0, hi -> 255, clamped
 * (NaN -> 0). Pass lo == hi to use the data's own min and max instead (a
 * constant input then becomes mid-gray 128). Images fill the grid row by
 * row, `cols` per row (cols <= 0: ceil(sqrt(n))), with `pad` black pixels
 * between images and around the border; unused cells are black:
 *   width = cols*w + (cols+1)*pad,  height = rows*h + (rows+1)*pad,
 *   rows = ceil(n / cols), image i at x = pad + (i % cols)*(w + pad),
 *                                     y = pad + (i / cols)*(h + pad).
 * out->c = c. */
int sd_image_grid(const float *imgs, int n, int c, int h, int w, int cols, int pad,
                  float lo, float hi, sd_image *out);

#ifdef __cplusplus
}
#endif
#endif

/* Internal to the image code (src/data/image.c, png.c): the checks both use. */
#ifndef SHENDU_IMAGE_INTERNAL_H
#define SHENDU_IMAGE_INTERNAL_H

#include "shendu/image.h"

#include <stdint.h>

int sd_image_dims_ok(int64_t w, int64_t h);   /* within SD_IMAGE_MAX_SIDE / _PIXELS */
int sd_image_chans_ok(int c);                 /* 1, 3 or 4 */
/* 0, or -1 with an error naming `who` (NULL image, bad size or channels, no pixels). */
int sd_image_check(const sd_image *im, const char *who);

#endif

/* Data augmentation for image batches: random shifts and left-right flips. */
#include "shendu/data.h"

#include <string.h>

/* x (n,c,h,w): each image moved by (dy,dx) in [-shift, shift] and mirrored with p = 1/2. */
void sd_augment_batch(float *x, int n, int c, int h, int w, const sd_augment_opts *o, sd_rng *rng, float *scratch)
{
    const size_t plane = (size_t)h * w, img = (size_t)c * plane;
    for (int i = 0; i < n; i++) {
        float *im = x + (size_t)i * img;
        int dy = o->shift ? (int)sd_rng_below(rng, 2 * o->shift + 1) - o->shift : 0;
        int dx = o->shift ? (int)sd_rng_below(rng, 2 * o->shift + 1) - o->shift : 0;
        int flip = o->flip ? (int)(sd_rng_u64(rng) >> 63) : 0;
        if (!dy && !dx && !flip) continue;
        memcpy(scratch, im, img * sizeof(float));
        for (int ch = 0; ch < c; ch++) {
            const float *src = scratch + ch * plane;
            float *dst = im + ch * plane;
            for (int r = 0; r < h; r++) {
                int sr = r - dy;
                for (int q = 0; q < w; q++) {
                    int sq = (flip ? w - 1 - q : q) - dx;
                    dst[(size_t)r * w + q] = sr >= 0 && sr < h && sq >= 0 && sq < w ? src[(size_t)sr * w + sq] : o->fill;
                }
            }
        }
    }
}

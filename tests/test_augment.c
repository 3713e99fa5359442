/* Augmentation: shifts move pixels and fill with the background value,
 * flips mirror, nothing happens with both off, and the same seed repeats. */
#include "check.h"
#include "shendu.h"

#include <string.h>

int main(void)
{
    enum { H = 5, W = 6 };
    float x[H * W], y[H * W], scratch[H * W];
    for (int i = 0; i < H * W; i++) x[i] = (float)(i + 1);
    sd_rng rng;
    sd_rng_seed(&rng, 4);

    /* off: untouched */
    memcpy(y, x, sizeof x);
    sd_augment_batch(y, 1, 1, H, W, &(sd_augment_opts){ 0 }, &rng, scratch);
    CHECK(!memcmp(x, y, sizeof x));

    /* flip only: each row reversed, or untouched; over many draws both happen */
    int flipped = 0, kept = 0;
    for (int t = 0; t < 64; t++) {
        memcpy(y, x, sizeof x);
        sd_augment_batch(y, 1, 1, H, W, &(sd_augment_opts){ .flip = 1 }, &rng, scratch);
        int is_flip = 1, is_same = !memcmp(x, y, sizeof x);
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++) is_flip &= y[r * W + q] == x[r * W + W - 1 - q];
        flipped += is_flip;
        kept += is_same;
        CHECK(is_flip || is_same);
    }
    CHECK(flipped > 10 && kept > 10);

    /* shift only: every output pixel is either the fill value or the input
     * pixel displaced by one common (dy, dx) with |dy|, |dx| <= 2 */
    for (int t = 0; t < 64; t++) {
        memcpy(y, x, sizeof x);
        sd_augment_batch(y, 1, 1, H, W, &(sd_augment_opts){ .shift = 2, .fill = -7 }, &rng, scratch);
        int found = 0;
        for (int dy = -2; dy <= 2 && !found; dy++)
            for (int dx = -2; dx <= 2 && !found; dx++) {
                int match = 1;
                for (int r = 0; r < H; r++)
                    for (int q = 0; q < W; q++) {
                        int sr = r - dy, sq = q - dx;
                        float want = sr >= 0 && sr < H && sq >= 0 && sq < W ? x[sr * W + sq] : -7.0f;
                        match &= y[r * W + q] == want;
                    }
                found = match;
            }
        CHECK(found);
    }

    /* same seed, same result; batch of several images, several channels */
    float a[3 * 2 * H * W], b[3 * 2 * H * W], s2[2 * H * W];
    for (int i = 0; i < 3 * 2 * H * W; i++) a[i] = b[i] = (float)i;
    sd_rng r1, r2;
    sd_rng_seed(&r1, 9);
    sd_rng_seed(&r2, 9);
    sd_augment_opts o = { .shift = 1, .flip = 1 };
    sd_augment_batch(a, 3, 2, H, W, &o, &r1, s2);
    sd_augment_batch(b, 3, 2, H, W, &o, &r2, s2);
    CHECK(!memcmp(a, b, sizeof a));
    return check_done("test_augment");
}

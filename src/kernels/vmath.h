/* e^x and the normal CDF in plain arithmetic (no library calls), so that a
 * loop under `#pragma omp simd` over them becomes vector code: the attention
 * kernel's softmax and GELU's forward and backward.  Both are as accurate as
 * the float libm calls they replace, to a few units in the last place:
 *   sd_vexpf: e^x = 2^n e^r with n = round(x / ln 2), r = x − n ln 2 (ln 2 in two
 *     parts, so r is exact), |r| ≤ ln2/2, e^r by its Taylor polynomial of degree 7
 *     (truncation below 5e-9 relative).  x is clamped to [−87, 88]: e^−87 ≈ 1.6e−38
 *     stands in for the smaller results (the callers only add or scale them), and
 *     NaN stays NaN.
 *   sd_vphif: Φ(x) = ½ erfc(−x/√2), with erfc(z) for z ≥ 0 from the Chebyshev fit
 *     t e^{−z² + P(t)}, t = 1 / (1 + z/2), P of degree 9 (Numerical Recipes'
 *     erfcc; fractional error below 1.2e−7), and erfc(−z) = 2 − erfc(z). */
#ifndef SD_KERNELS_VMATH_H
#define SD_KERNELS_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#pragma omp declare simd notinbranch
static inline float sd_vexpf(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float n = rintf(x * 1.44269504088896341f);
    const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float s;
    memcpy(&s, &bits, sizeof s);
    return p * s;
}

#pragma omp declare simd notinbranch
static inline float sd_vphif(float x)
{
    const float z = fabsf(x) * 0.70710678118654752f, t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float half_erfc = 0.5f * t * sd_vexpf(p - z * z);   /* ½ erfc(|x|/√2) = Φ(−|x|) */
    return x < 0.0f ? half_erfc : 1.0f - half_erfc;
}

#endif

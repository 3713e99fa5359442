/* e^x and the normal CDF in plain arithmetic (no library calls, no branches),
 * so that a loop under `#pragma omp simd` over them becomes vector code: the
 * attention kernel's softmax, GELU, SiLU, and the recurrent cells' sigmoid and
 * tanh (rnn_cell.h). Both are as accurate as the float libm calls they replace,
 * to a few units in the last place:
 *   sd_vexpf: e^x = 2^k e^r with k = round(x / ln 2) (by adding 1.5·2^23, which
 *     leaves k in the low mantissa bits: no float-to-int conversion, so NaN
 *     stays NaN without undefined behaviour), r = x − k ln 2 (ln 2 in two parts,
 *     so r is exact), |r| ≤ ln2/2, e^r by its Taylor polynomial of degree 7
 *     (truncation below 5e-9 relative), and 2^k added into the exponent bits.
 *     x is clamped to [−87, 88], where the result is still a normal float:
 *     e^−87 ≈ 1.6e−38 stands in for the smaller results (the callers only add
 *     or scale them, and σ, tanh stay within a float of their limits).
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
    const float shifter = 12582912.0f;              /* 1.5 * 2^23 */
    const float t = x * 1.44269504088896341f + shifter, k = t - shifter;
    const float r = (x - k * 0.693145751953125f) - k * 1.42860682030941723e-6f;
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tb, pb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&pb, &p, sizeof pb);
    pb += tb << 23;                                 /* times 2^k */
    memcpy(&p, &pb, sizeof p);
    return p;
}

/* σ(x) = 1 / (1 + e^-x) and tanh x = 1 − 2 / (1 + e^2x): within a float of 0,
 * ±1 far out (the clamp above), NaN stays NaN. */
#pragma omp declare simd notinbranch
static inline float sd_vsigmoidf(float x) { return 1.0f / (1.0f + sd_vexpf(-x)); }
#pragma omp declare simd notinbranch
static inline float sd_vtanhf(float x) { return 1.0f - 2.0f / (1.0f + sd_vexpf(2.0f * x)); }

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

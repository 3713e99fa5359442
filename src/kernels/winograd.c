/* Winograd's minimal filtering F(2x2, 3x3) for 3x3, stride-1 convolutions,
 * NCHW, float32 (Lavin & Gray 2015): the forward, and the backward's dx.
 *
 * The output is cut into 2x2 tiles; tile (ti, tj) needs the 4x4 input patch
 * d at rows 2ti - pad .. 2ti - pad + 3 (0 outside x). With
 *
 *   Bᵀ = | 1  0 -1  0 |    G = | 1    0    0   |    Aᵀ = | 1  1  1  0 |
 *        | 0  1  1  0 |        | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
 *        | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *        | 0  1  0 -1 |        | 0    0    1   |
 *
 * each input channel c and output channel o contribute Aᵀ [(G g Gᵀ) ∘ (Bᵀ d B)] A
 * to the tile, and the sum over c of the elementwise product is, for each of
 * the 16 positions ξ, a matrix product:
 *
 *   U[ξ] (C, O)      = G g Gᵀ at ξ for every filter g = w[o, c]   once per call
 *   V[ξ] (C, T)      = Bᵀ d B at ξ for every channel and tile      T tiles of a chunk of images
 *   M[ξ] (T, O)      = V[ξ]ᵀ · U[ξ]                               16 sd_gemm calls
 *   y tile (o, t)    = Aᵀ M[·](t, o) A + b[o]                      the 2x2 outputs inside y
 *
 * The products put the tiles along M and the output channels along N: the
 * micro-kernel's tile is 6 rows by 64 columns, and channel counts are
 * multiples of 16 far more often than tile counts are (conv2 of the CNN at
 * batch 1: 36 tiles, 64 channels; the other way round the last column panel
 * would be half empty).
 *
 * 16 products with K = C instead of one with K = 9C over 4 pixels: 2.25x fewer
 * multiplications for whole tiles. Images go in chunks whose V and M fit in
 * the L2 cache, one chunk per thread at a time; every output is computed by
 * one thread in a fixed order, so results do not depend on the thread count.
 * Rounding differs from the direct sum (the transforms add and subtract
 * inputs first): the tests hold it to the reference loops' 1e-4.
 *
 * The backward's dx is the same algorithm on dy (sd_conv2d_winograd_dx); the
 * weight gradient is not (it stays im2col's product, src/kernels/conv.c). */
#include "engine/internal.h"
#include "shendu/kernels.h"

#include "engine/parallel.h"
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

/* Floats of V and M per chunk of images (256 KB, a quarter of a Zen 4 core's
 * L2; 128 KB and 512 KB measured within 3 % of it). */
#define CHUNK_FLOATS (64 * 1024)

int sd_conv2d_winograd_ok(const sd_conv_dims *d)
{
    /* With few channels the 16 products have nothing to sum over (K = C):
     * im2col's single product with K = 9C is faster. */
    return d->kh == 3 && d->kw == 3 && d->stride == 1 && d->c >= 8 && d->o >= 8;
}

static int tiles_of(const sd_conv_dims *d) { return ((d->oh + 1) / 2) * ((d->ow + 1) / 2); }

/* Images per chunk: at least one, at most N. */
static int chunk_of(const sd_conv_dims *d)
{
    long per_image = 16L * tiles_of(d) * (d->c + d->o);
    long k = CHUNK_FLOATS / (per_image > 0 ? per_image : 1);
    if (k < 1) k = 1;
    return k < d->n ? (int)k : (d->n > 0 ? d->n : 1);
}

size_t sd_conv2d_winograd_scratch(const sd_conv_dims *d, int threads)
{
    size_t u = 16 * (size_t)d->o * d->c;
    return u + (size_t)(threads > 0 ? threads : 1) * chunk_of(d) * 16 * (size_t)tiles_of(d) * (d->c + d->o);
}

/* U[ξ][c][o] = (G g Gᵀ)[ξ] for every filter g of d (O filters of C channels,
 * 3x3): g = w[o, c] (w is (O,C,3,3)); with `flip`, g = w[c, o] turned by 180
 * degrees (w is (C,O,3,3)): the filters of the backward's dx. Sixteen filters
 * (o) at a time, each loop over the filters so that it vectorises, through a
 * small buffer: each plane gets a run of 16 contiguous floats. */
static void transform_weights(const sd_conv_dims *d, const float *w, int flip, float *U)
{
    const int O = d->o, C = d->c;
    const size_t plane = (size_t)O * C;
    const size_t so = flip ? 9 : (size_t)C * 9, sc = flip ? (size_t)O * 9 : 9;   /* filter (o, c) at o*so + c*sc */
    for (int c = 0; c < C; c++)
        for (int o0 = 0; o0 < O; o0 += 16) {
            const int no = O - o0 < 16 ? O - o0 : 16;
            const float *g = w + o0 * so + c * sc;
            float gq[9][16] = { { 0 } }, t[4][3][16], u[16][16];   /* [tap][filter], [ξ][filter] */
            for (int k = 0; k < no; k++)                  /* 9 contiguous taps per filter */
                for (int q = 0; q < 9; q++) gq[q][k] = g[k * so + (flip ? 8 - q : q)];
            for (int q = 0; q < 3; q++)                   /* t = G g: 4 rows of 3 */
                for (int k = 0; k < 16; k++) {
                    t[0][q][k] = gq[q][k];
                    t[1][q][k] = 0.5f * (gq[q][k] + gq[3 + q][k] + gq[6 + q][k]);
                    t[2][q][k] = 0.5f * (gq[q][k] - gq[3 + q][k] + gq[6 + q][k]);
                    t[3][q][k] = gq[6 + q][k];
                }
            for (int r = 0; r < 4; r++)                   /* u = t Gᵀ */
                for (int k = 0; k < 16; k++) {
                    u[4 * r + 0][k] = t[r][0][k];
                    u[4 * r + 1][k] = 0.5f * (t[r][0][k] + t[r][1][k] + t[r][2][k]);
                    u[4 * r + 2][k] = 0.5f * (t[r][0][k] - t[r][1][k] + t[r][2][k]);
                    u[4 * r + 3][k] = t[r][2][k];
                }
            for (int xi = 0; xi < 16; xi++) {             /* (a constant size: not a rep movs) */
                float *dst = U + xi * plane + (size_t)c * O + o0;
                if (no == 16) memcpy(dst, u[xi], sizeof u[xi]);
                else memcpy(dst, u[xi], (size_t)no * sizeof(float));
            }
        }
}

#if !defined(__wasm_simd128__)   /* the wasm build has its own transforms, below */
/* Tiles of a tile row per step: the 2*15 + 2 = 32 input columns they read
 * are two vectors. */
#define ROW_TILES 15

/* p[j] = row[x0 + j] for j < 32 where 0 <= x0 + j < W, else 0 (row NULL: all 0). */
static inline void padded_row(float *restrict p, const float *row, int x0, int W)
{
#if defined(__AVX512F__)
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int h = 0; h < 2; h++) {
        const __m512i xj = _mm512_add_epi32(lane, _mm512_set1_epi32(x0 + 16 * h));
        __mmask16 m = _mm512_cmpge_epi32_mask(xj, _mm512_setzero_si512()) &
                      _mm512_cmplt_epi32_mask(xj, _mm512_set1_epi32(W));
        if (!row) m = 0;
        /* masked-off lanes are not read: row + x0 may point before the row */
        _mm512_storeu_ps(p + 16 * h, _mm512_maskz_loadu_ps(m, row ? row + x0 + 16 * h : p));
    }
#else
    for (int j = 0; j < 32; j++) p[j] = row && x0 + j >= 0 && x0 + j < W ? row[x0 + j] : 0.0f;
#endif
}

/* V[ξ][c][t0 + t] = (Bᵀ d B)[ξ] for each tile t of image x (C,H,W); ld = T.
 * Up to ROW_TILES tiles of a tile row at once: Bᵀ on the four input rows they
 * read (padded with zeros), then B along the row, tile tj reading columns
 * 2tj .. 2tj+3 (with AVX-512, a permute per column of the tiles). */
static void transform_input(const sd_conv_dims *d, const float *x, float *V, int ld, int t0)
{
    const int C = d->c, H = d->h, W = d->w, TH = (d->oh + 1) / 2, TW = (d->ow + 1) / 2, pad = d->pad;
    const size_t plane = (size_t)C * ld;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ti = 0; ti < TH; ti++)
            for (int tj0 = 0; tj0 < TW; tj0 += ROW_TILES) {
                const int ntj = TW - tj0 < ROW_TILES ? TW - tj0 : ROW_TILES;
                float p[4][32], t[4][32];
                for (int r = 0; r < 4; r++) {
                    const int i = 2 * ti - pad + r;
                    padded_row(p[r], i >= 0 && i < H ? xc + (size_t)i * W : NULL, 2 * tj0 - pad, W);
                }
                for (int j = 0; j < 32; j++) {            /* t = Bᵀ p */
                    t[0][j] = p[0][j] - p[2][j];
                    t[1][j] = p[1][j] + p[2][j];
                    t[2][j] = p[2][j] - p[1][j];
                    t[3][j] = p[1][j] - p[3][j];
                }
                float *v = V + (size_t)c * ld + t0 + ti * TW + tj0;
                for (int r = 0; r < 4; r++) {             /* t B */
                    float *v0 = v + (4 * r) * plane, *v1 = v0 + plane, *v2 = v1 + plane, *v3 = v2 + plane;
                    const float *tr = t[r];
#if defined(__AVX512F__)
                    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 0);
                    const __m512i one = _mm512_set1_epi32(1);
                    const __m512 lo = _mm512_loadu_ps(tr), hi = _mm512_loadu_ps(tr + 16);
                    const __m512i i1 = _mm512_add_epi32(even, one), i2 = _mm512_add_epi32(i1, one);
                    const __m512 a = _mm512_permutex2var_ps(lo, even, hi), b = _mm512_permutex2var_ps(lo, i1, hi);
                    const __m512 e = _mm512_permutex2var_ps(lo, i2, hi);
                    const __m512 f = _mm512_permutex2var_ps(lo, _mm512_add_epi32(i2, one), hi);
                    const __mmask16 m = (__mmask16)((1u << ntj) - 1);
                    _mm512_mask_storeu_ps(v0, m, _mm512_sub_ps(a, e));
                    _mm512_mask_storeu_ps(v1, m, _mm512_add_ps(b, e));
                    _mm512_mask_storeu_ps(v2, m, _mm512_sub_ps(e, b));
                    _mm512_mask_storeu_ps(v3, m, _mm512_sub_ps(b, f));
#else
                    for (int tj = 0; tj < ntj; tj++) {
                        const float a = tr[2 * tj], b = tr[2 * tj + 1], e = tr[2 * tj + 2], f = tr[2 * tj + 3];
                        v0[tj] = a - e;
                        v1[tj] = b + e;
                        v2[tj] = e - b;
                        v3[tj] = b - f;
                    }
#endif
                }
            }
    }
}

/* y (O,OH,OW) of one image = (or, accumulating, +=) Aᵀ M[·](t0 + t, o) A + b[o]
 * for its tiles; M[ξ] is (T, O). Sixteen channels by up to 16 tiles of a tile
 * row at a time: the transform runs on vectors over the channels (M's rows
 * are contiguous in o) into out[row][column][channel], which then goes to y's
 * rows of 2 * 16 columns (with AVX-512: 16 x 16 transposes in registers and a
 * masked store per channel and row; else one float at a time, read back from
 * vector stores, never the other way round: a vector load of scalar stores
 * waits for each of them). */
#if defined(__AVX512F__)
/* r[j] = row j of a 16 x 16 block -> r[k] = column k. Pairs of floats, then
 * pairs of pairs, interleave within 128-bit lanes; two lane shuffles finish
 * the 4 x 4 transpose of the lanes themselves. */
static inline void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 16; g += 4) {   /* u[g + c], lane L: column 4L + c, rows g..g+3 */
        const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
        const __m512d e = _mm512_castps_pd(t[g + 2]), f = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, e));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, e));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, f));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, f));
    }
    for (int c = 0; c < 4; c++) {       /* column 4L + c = lane L of u[c], u[4 + c], u[8 + c], u[12 + c] */
        const __m512 s0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), s1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        const __m512 s2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const __m512 s3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(s0, s2, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(s1, s3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
    }
}
#endif

static void transform_output(const sd_conv_dims *d, const float *M, int T, int t0, const float *b,
                             int accumulate, float *y)
{
    const int O = d->o, OH = d->oh, OW = d->ow, TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    const size_t plane = (size_t)T * O;
    for (int ti = 0; ti < TH; ti++)
        for (int tj0 = 0; tj0 < TW; tj0 += 16) {
            const int ntj = TW - tj0 < 16 ? TW - tj0 : 16;
            const int j0 = 2 * tj0, nj = OW - j0 < 2 * ntj ? OW - j0 : 2 * ntj;
            for (int o0 = 0; o0 < O; o0 += 16) {
                const int no = O - o0 < 16 ? O - o0 : 16;
                _Alignas(64) float out[2][32][16];        /* [row][column][channel] */
                for (int tj = 0; tj < ntj; tj++) {
                    const float *m = M + (size_t)(t0 + ti * TW + tj0 + tj) * O + o0;
#if defined(__AVX512F__)
                    const __mmask16 km = (__mmask16)(no == 16 ? 0xFFFF : (1u << no) - 1);
                    __m512 t[2][4];
                    for (int s = 0; s < 4; s++) {         /* t = Aᵀ m */
                        const __m512 m0 = _mm512_maskz_loadu_ps(km, m + s * plane);
                        const __m512 m1 = _mm512_maskz_loadu_ps(km, m + (4 + s) * plane);
                        const __m512 m2 = _mm512_maskz_loadu_ps(km, m + (8 + s) * plane);
                        const __m512 m3 = _mm512_maskz_loadu_ps(km, m + (12 + s) * plane);
                        t[0][s] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                        t[1][s] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
                    }
                    for (int r = 0; r < 2; r++) {         /* t A */
                        _mm512_store_ps(out[r][2 * tj], _mm512_add_ps(_mm512_add_ps(t[r][0], t[r][1]), t[r][2]));
                        _mm512_store_ps(out[r][2 * tj + 1], _mm512_sub_ps(_mm512_sub_ps(t[r][1], t[r][2]), t[r][3]));
                    }
#else
                    float t[2][4][16];
                    for (int s = 0; s < 4; s++)           /* t = Aᵀ m */
                        for (int k = 0; k < no; k++) {
                            const float m0 = m[s * plane + k], m1 = m[(4 + s) * plane + k];
                            const float m2 = m[(8 + s) * plane + k], m3 = m[(12 + s) * plane + k];
                            t[0][s][k] = m0 + m1 + m2;
                            t[1][s][k] = m1 - m2 - m3;
                        }
                    for (int r = 0; r < 2; r++)           /* t A */
                        for (int k = 0; k < no; k++) {
                            out[r][2 * tj][k] = t[r][0][k] + t[r][1][k] + t[r][2][k];
                            out[r][2 * tj + 1][k] = t[r][1][k] - t[r][2][k] - t[r][3][k];
                        }
#endif
                }
                for (int r = 0; r < 2 && 2 * ti + r < OH; r++) {
                    float *yr0 = y + ((size_t)o0 * OH + 2 * ti + r) * OW + j0;   /* channel o0's row */
                    const size_t ldy = (size_t)OH * OW;
#if defined(__AVX512F__)
                    for (int jb = 0; jb < nj; jb += 16) {
                        __m512 v[16];
                        for (int j = 0; j < 16; j++)
                            v[j] = jb + j < nj ? _mm512_load_ps(out[r][jb + j]) : _mm512_setzero_ps();
                        transpose16(v);
                        const __mmask16 m = (__mmask16)(nj - jb >= 16 ? 0xFFFF : (1u << (nj - jb)) - 1);
                        for (int k = 0; k < no; k++) {
                            float *yr = yr0 + k * ldy + jb;
                            const __m512 add = accumulate ? _mm512_maskz_loadu_ps(m, yr)
                                                          : _mm512_set1_ps(b ? b[o0 + k] : 0.0f);
                            _mm512_mask_storeu_ps(yr, m, _mm512_add_ps(v[k], add));
                        }
                    }
#else
                    for (int k = 0; k < no; k++) {
                        float *yr = yr0 + k * ldy;
                        const float bo = b ? b[o0 + k] : 0.0f;
                        if (accumulate)
                            for (int j = 0; j < nj; j++) yr[j] += out[r][j][k];
                        else
                            for (int j = 0; j < nj; j++) yr[j] = out[r][j][k] + bo;
                    }
#endif
                }
            }
        }
}

#endif

#if defined(__wasm_simd128__)
/* The wasm build's transforms (SIMD128): the same arithmetic as the loops
 * above, element for element, so the same bits, four floats at a time.
 *
 * Input: up to 12 tiles of a tile row per step. Bᵀ on the columns they read
 * (whole vectors, padded with zeros), then B along the row for 4 tiles at a
 * time: tile tj reads columns 2tj .. 2tj+3, so the tiles' first and second
 * columns are the even and odd lanes of two vectors, their third and fourth
 * those of the same two vectors two columns on. */
#define ROW_TILES_SIMD128 12

/* p[j] = row[x0 + j] for j < nw (a multiple of 4) where 0 <= x0 + j < W, else 0. */
static inline void padded_row_simd128(float *restrict p, const float *row, int x0, int W, int nw)
{
    for (int j = 0; j < nw; j += 4) {
        if (row && x0 + j >= 0 && x0 + j + 4 <= W) {
            wasm_v128_store(p + j, wasm_v128_load(row + x0 + j));
            continue;
        }
        for (int q = j; q < j + 4; q++) p[q] = row && x0 + q >= 0 && x0 + q < W ? row[x0 + q] : 0.0f;
    }
}

/* dst[0 .. n) = the first n lanes of v (n >= 1; a loop here becomes a call of memcpy) */
static inline void store_lanes(float *dst, v128_t v, int n)
{
    if (n >= 4) { wasm_v128_store(dst, v); return; }
    dst[0] = wasm_f32x4_extract_lane(v, 0);
    if (n > 1) dst[1] = wasm_f32x4_extract_lane(v, 1);
    if (n > 2) dst[2] = wasm_f32x4_extract_lane(v, 2);
}

static void transform_input_simd128(const sd_conv_dims *d, const float *x, float *V, int ld, int t0)
{
    const int C = d->c, H = d->h, W = d->w, TH = (d->oh + 1) / 2, TW = (d->ow + 1) / 2, pad = d->pad;
    const size_t plane = (size_t)C * ld;
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int ti = 0; ti < TH; ti++)
            for (int tj0 = 0; tj0 < TW; tj0 += ROW_TILES_SIMD128) {
                const int ntj = TW - tj0 < ROW_TILES_SIMD128 ? TW - tj0 : ROW_TILES_SIMD128;
                const int nw = 2 * ((ntj - 1) & ~3) + 12;   /* the last group of 4 reads up to 2 g + 9 */
                _Alignas(16) float p[4][32], t[4][32];
                for (int r = 0; r < 4; r++) {
                    const int i = 2 * ti - pad + r;
                    padded_row_simd128(p[r], i >= 0 && i < H ? xc + (size_t)i * W : NULL, 2 * tj0 - pad, W, nw);
                }
                for (int j = 0; j < nw; j += 4) {            /* t = Bᵀ p */
                    const v128_t p0 = wasm_v128_load(p[0] + j), p1 = wasm_v128_load(p[1] + j);
                    const v128_t p2 = wasm_v128_load(p[2] + j), p3 = wasm_v128_load(p[3] + j);
                    wasm_v128_store(t[0] + j, wasm_f32x4_sub(p0, p2));
                    wasm_v128_store(t[1] + j, wasm_f32x4_add(p1, p2));
                    wasm_v128_store(t[2] + j, wasm_f32x4_sub(p2, p1));
                    wasm_v128_store(t[3] + j, wasm_f32x4_sub(p1, p3));
                }
                float *v = V + (size_t)c * ld + t0 + ti * TW + tj0;
                for (int r = 0; r < 4; r++) {                /* t B */
                    float *v0 = v + (4 * r) * plane, *v1 = v0 + plane, *v2 = v1 + plane, *v3 = v2 + plane;
                    const float *tr = t[r];
                    for (int g = 0; g < ntj; g += 4) {
                        const v128_t lo = wasm_v128_load(tr + 2 * g), hi = wasm_v128_load(tr + 2 * g + 4);
                        const v128_t lo2 = wasm_v128_load(tr + 2 * g + 2), hi2 = wasm_v128_load(tr + 2 * g + 6);
                        const v128_t a = wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6), b = wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7);
                        const v128_t e = wasm_i32x4_shuffle(lo2, hi2, 0, 2, 4, 6);
                        const v128_t f = wasm_i32x4_shuffle(lo2, hi2, 1, 3, 5, 7);
                        const int n = ntj - g;
                        store_lanes(v0 + g, wasm_f32x4_sub(a, e), n);
                        store_lanes(v1 + g, wasm_f32x4_add(b, e), n);
                        store_lanes(v2 + g, wasm_f32x4_sub(e, b), n);
                        store_lanes(v3 + g, wasm_f32x4_sub(b, f), n);
                    }
                }
            }
    }
}

/* Output: sixteen channels (four vectors) by up to 16 tiles, as above; the
 * rows go to y through 4 x 4 transposes (4 channels by 4 columns). Fewer
 * than 16 channels at the end take the scalar loops' way. */
static inline void transpose4_simd128(v128_t r[4])
{
    const v128_t t0 = wasm_i32x4_shuffle(r[0], r[1], 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r[0], r[1], 2, 6, 3, 7);
    const v128_t t2 = wasm_i32x4_shuffle(r[2], r[3], 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r[2], r[3], 2, 6, 3, 7);
    r[0] = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    r[1] = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    r[2] = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    r[3] = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}

static void transform_output_simd128(const sd_conv_dims *d, const float *M, int T, int t0, const float *b,
                                     int accumulate, float *y)
{
    const int O = d->o, OH = d->oh, OW = d->ow, TH = (OH + 1) / 2, TW = (OW + 1) / 2;
    const size_t plane = (size_t)T * O, ldy = (size_t)OH * OW;
    for (int ti = 0; ti < TH; ti++)
        for (int tj0 = 0; tj0 < TW; tj0 += 16) {
            const int ntj = TW - tj0 < 16 ? TW - tj0 : 16;
            const int j0 = 2 * tj0, nj = OW - j0 < 2 * ntj ? OW - j0 : 2 * ntj;
            for (int o0 = 0; o0 < O; o0 += 16) {
                const int no = O - o0 < 16 ? O - o0 : 16;
                _Alignas(16) float out[2][32][16];        /* [row][column][channel] */
                for (int tj = 0; tj < ntj; tj++) {
                    const float *m = M + (size_t)(t0 + ti * TW + tj0 + tj) * O + o0;
                    if (no == 16) {
                        for (int q = 0; q < 16; q += 4) {
                            v128_t u[2][4];
                            for (int s = 0; s < 4; s++) {     /* t = Aᵀ m */
                                const v128_t m0 = wasm_v128_load(m + s * plane + q);
                                const v128_t m1 = wasm_v128_load(m + (4 + s) * plane + q);
                                const v128_t m2 = wasm_v128_load(m + (8 + s) * plane + q);
                                const v128_t m3 = wasm_v128_load(m + (12 + s) * plane + q);
                                u[0][s] = wasm_f32x4_add(wasm_f32x4_add(m0, m1), m2);
                                u[1][s] = wasm_f32x4_sub(wasm_f32x4_sub(m1, m2), m3);
                            }
                            for (int r = 0; r < 2; r++) {     /* t A */
                                wasm_v128_store(&out[r][2 * tj][q],
                                                wasm_f32x4_add(wasm_f32x4_add(u[r][0], u[r][1]), u[r][2]));
                                wasm_v128_store(&out[r][2 * tj + 1][q],
                                                wasm_f32x4_sub(wasm_f32x4_sub(u[r][1], u[r][2]), u[r][3]));
                            }
                        }
                        continue;
                    }
                    float t[2][4][16];
                    for (int s = 0; s < 4; s++)
                        for (int k = 0; k < no; k++) {
                            const float m0 = m[s * plane + k], m1 = m[(4 + s) * plane + k];
                            const float m2 = m[(8 + s) * plane + k], m3 = m[(12 + s) * plane + k];
                            t[0][s][k] = m0 + m1 + m2;
                            t[1][s][k] = m1 - m2 - m3;
                        }
                    for (int r = 0; r < 2; r++)
                        for (int k = 0; k < no; k++) {
                            out[r][2 * tj][k] = t[r][0][k] + t[r][1][k] + t[r][2][k];
                            out[r][2 * tj + 1][k] = t[r][1][k] - t[r][2][k] - t[r][3][k];
                        }
                }
                for (int r = 0; r < 2 && 2 * ti + r < OH; r++) {
                    float *yr0 = y + ((size_t)o0 * OH + 2 * ti + r) * OW + j0;   /* channel o0's row */
                    const int kv = no / 4 * 4;
                    for (int k = 0; k < kv; k += 4) {
                        int j = 0;
                        for (; j + 4 <= nj; j += 4) {
                            v128_t c[4] = { wasm_v128_load(&out[r][j][k]), wasm_v128_load(&out[r][j + 1][k]),
                                            wasm_v128_load(&out[r][j + 2][k]), wasm_v128_load(&out[r][j + 3][k]) };
                            transpose4_simd128(c);       /* c[q]: channel o0 + k + q, columns j .. j+3 */
                            for (int q = 0; q < 4; q++) {
                                float *yr = yr0 + (k + q) * ldy + j;
                                const v128_t add = accumulate ? wasm_v128_load(yr)
                                                              : wasm_f32x4_splat(b ? b[o0 + k + q] : 0.0f);
                                wasm_v128_store(yr, wasm_f32x4_add(c[q], add));
                            }
                        }
                        for (int q = k; q < k + 4; q++) {
                            float *yr = yr0 + q * ldy;
                            const float bo = b ? b[o0 + q] : 0.0f;
                            for (int jj = j; jj < nj; jj++)
                                yr[jj] = accumulate ? out[r][jj][q] + yr[jj] : out[r][jj][q] + bo;
                        }
                    }
                    for (int k = kv; k < no; k++) {
                        float *yr = yr0 + k * ldy;
                        const float bo = b ? b[o0 + k] : 0.0f;
                        for (int j = 0; j < nj; j++) yr[j] = accumulate ? out[r][j][k] + yr[j] : out[r][j][k] + bo;
                    }
                }
            }
        }
}
#endif

/* The convolution of d, y = x ⋆ U + b (or y += x ⋆ U), U the filters'
 * transform (made here, or taken from ctx's cache). */
static void winograd(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w, int flip, int cache,
                     const float *b, int accumulate, float *y, float *scratch)
{
    const int N = d->n, C = d->c, O = d->o, tiles = tiles_of(d), chunk = chunk_of(d);
    if (N <= 0 || tiles <= 0) return;
    const size_t chw = (size_t)C * d->h * d->w, ohw = (size_t)O * d->oh * d->ow;
    const size_t per_thread = (size_t)chunk * 16 * tiles * (C + O);
    int fresh = 0;
    float *U = cache ? sd_ctx_transformed(ctx, SD_XFORM_WINOGRAD, w, (size_t)O * C * 9, 16 * (size_t)O * C, &fresh)
                     : NULL;
    if (!U) U = scratch;
    if (!fresh) transform_weights(d, w, flip, U);
    float *work = scratch + 16 * (size_t)O * C;
    const int nchunks = (N + chunk - 1) / chunk, threads = sd_ctx_threads(ctx);
    const int t = nchunks < threads ? nchunks : threads;
    #pragma omp parallel for num_threads(t) if (t > 1) schedule(static)
    for (int k = 0; k < nchunks; k++) {
        const int n0 = k * chunk, n1 = n0 + chunk < N ? n0 + chunk : N, T = (n1 - n0) * tiles;
        float *V = work + (size_t)omp_get_thread_num() * per_thread;
        float *M = V + 16 * (size_t)C * T;
#if defined(__wasm_simd128__)
        for (int n = n0; n < n1; n++) transform_input_simd128(d, x + n * chw, V, T, (n - n0) * tiles);
#else
        for (int n = n0; n < n1; n++) transform_input(d, x + n * chw, V, T, (n - n0) * tiles);
#endif
        for (int xi = 0; xi < 16; xi++)   /* M[ξ] (T, O) = V[ξ]ᵀ (T, C) · U[ξ] (C, O) */
            sd_gemm_on(ctx, 1, 1, 0, T, O, C, 1.0f, V + (size_t)xi * C * T, T, U + (size_t)xi * C * O, O,
                       0.0f, M + (size_t)xi * T * O, O);
        for (int n = n0; n < n1; n++)
#if defined(__wasm_simd128__)
            transform_output_simd128(d, M, T, (n - n0) * tiles, b, accumulate, y + n * ohw);
#else
            transform_output(d, M, T, (n - n0) * tiles, b, accumulate, y + n * ohw);
#endif
    }
}

/* x (N,C,H,W), w (O,C,3,3), b (O) or NULL -> y (N,O,OH,OW).
 * scratch: sd_conv2d_winograd_scratch(d, sd_ctx_threads(ctx)) floats. The
 * weights' transform is kept in ctx while w holds the same values (inference). */
void sd_conv2d_winograd(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                        const float *b, float *y, float *scratch)
{
    winograd(ctx, d, x, w, 0, 1, b, 0, y, scratch);
}

/* The backward's dx of the convolution d is itself a 3x3 stride-1 convolution:
 * dx[c,i,j] = Σ_o Σ_p,q dy[o, i+pad-p, j+pad-q] w[o,c,p,q], i.e. dy (N,O,OH,OW)
 * correlated with w turned by 180 degrees and its channel axes swapped, with
 * padding 2 - pad. These are its dims (for _ok convolutions with pad <= 2). */
static sd_conv_dims dx_dims(const sd_conv_dims *d)
{
    return (sd_conv_dims){ .n = d->n, .c = d->o, .h = d->oh, .w = d->ow, .o = d->c, .kh = 3, .kw = 3,
                           .stride = 1, .pad = 2 - d->pad, .oh = d->h, .ow = d->w };
}

int sd_conv2d_winograd_dx_ok(const sd_conv_dims *d)
{
    if (!sd_conv2d_winograd_ok(d) || d->pad > 2) return 0;
    sd_conv_dims e = dx_dims(d);
    return sd_conv2d_winograd_ok(&e);
}

size_t sd_conv2d_winograd_dx_scratch(const sd_conv_dims *d, int threads)
{
    sd_conv_dims e = dx_dims(d);
    return sd_conv2d_winograd_scratch(&e, threads);
}

/* dx (N,C,H,W) += the data gradient of convolution d for dy (N,O,OH,OW). */
void sd_conv2d_winograd_dx(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy, float *dx,
                           float *scratch)
{
    sd_conv_dims e = dx_dims(d);
    winograd(ctx, &e, dy, w, 1, 0, NULL, 1, dx, scratch);
}

/* JPEG pictures through libjpeg(-turbo), and loading any picture by its first
 * bytes (shendu/folder.h).
 *
 * libjpeg reports a fatal error by calling error_exit, which must not
 * return. Ours formats the message and longjmps back into decode(), the one
 * function that called setjmp; everything decode() changes after setjmp and
 * reads after the jump is volatile, and the decompressor is destroyed on
 * both paths. Warnings (emit_message) are silent, except that data ending
 * early is an error: libjpeg would pad it with gray and carry on. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/folder.h"
#include "shendu/io.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>

#define MAX_FILE ((size_t)256 << 20)

typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    int truncated;
} jerr;

static void on_error(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c, int level)
{
    jerr *e = (jerr *)c->err;
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) e->truncated = 1;
}

/* The pixels go into out only on success. */
static int decode(const uint8_t *data, size_t size, const char *name, int header_only, sd_image *out)
{
    struct jpeg_decompress_struct d;
    jerr e;
    uint8_t *volatile px = NULL;
    memset(&e, 0, sizeof e);
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&d);
        free(px);
        return sd_error("%s: corrupt JPEG: %s", name, e.msg);
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, (const unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&d, TRUE);
    const int w = (int)d.image_width, h = (int)d.image_height;
    int c;
    if (d.jpeg_color_space == JCS_GRAYSCALE) {
        d.out_color_space = JCS_GRAYSCALE;
        c = 1;
    } else if (d.jpeg_color_space == JCS_YCbCr || d.jpeg_color_space == JCS_RGB) {
        d.out_color_space = JCS_RGB;
        c = 3;
    } else {
        jpeg_destroy_decompress(&d);
        return sd_error("%s: a CMYK or YCCK JPEG (only gray and colour pictures are read)", name);
    }
    if (w < 1 || h < 1 || w > SD_IMAGE_MAX_SIDE || h > SD_IMAGE_MAX_SIDE || (int64_t)w * h > SD_IMAGE_MAX_PIXELS) {
        jpeg_destroy_decompress(&d);
        return sd_error("%s: image too large (%d x %d)", name, w, h);
    }
    if (header_only) {
        jpeg_destroy_decompress(&d);
        out->w = w;
        out->h = h;
        out->c = c;
        out->px = NULL;
        return 0;
    }
    jpeg_start_decompress(&d);
    if ((int)d.output_components != c || (int)d.output_width != w || (int)d.output_height != h) {
        jpeg_destroy_decompress(&d);
        return sd_error("%s: unexpected decoder output (%d components)", name, (int)d.output_components);
    }
    px = malloc((size_t)w * h * c);
    if (!px) {
        jpeg_destroy_decompress(&d);
        return sd_error("%s: out of memory for %d x %d pixels", name, w, h);
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = px + (size_t)d.output_scanline * w * c;
        if (jpeg_read_scanlines(&d, &row, 1) != 1) break;
        if (e.truncated) break;
    }
    if (!e.truncated) jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    if (e.truncated) {
        free(px);
        return sd_error("%s: truncated JPEG data", name);
    }
    out->w = w;
    out->h = h;
    out->c = c;
    out->px = px;
    return 0;
}

int sd_image_decode_jpeg(const uint8_t *data, size_t size, const char *name, sd_image *out)
{
    if (!out) return sd_error("sd_image_decode_jpeg: NULL output");
    memset(out, 0, sizeof *out);
    if (!name) name = "JPEG data";
    if (!data || size < 4 || data[0] != 0xFF || data[1] != 0xD8) return sd_error("%s: not a JPEG file", name);
    return decode(data, size, name, 0, out);
}

/* The whole file, or its first `limit` bytes. */
static int read_file(const char *path, size_t limit, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f) return sd_error("%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return sd_error("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    if (limit && n > limit) n = limit;
    if (n > MAX_FILE) {
        fclose(f);
        return sd_error("%s: larger than 256 MiB", path);
    }
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return sd_error("%s: out of memory", path);
    }
    size_t k = fread(buf, 1, n, f);
    fclose(f);
    if (k != n) {
        free(buf);
        return sd_error("%s: read error", path);
    }
    *data = buf;
    *size = n;
    return 0;
}

int sd_image_load_jpeg(const char *path, sd_image *out)
{
    if (!out) return sd_error("sd_image_load_jpeg: NULL output");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return sd_error("sd_image_load_jpeg: empty path");
    uint8_t *data;
    size_t size;
    if (read_file(path, 0, &data, &size)) return -1;
    int rc = sd_image_decode_jpeg(data, size, path, out);
    free(data);
    return rc;
}

static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

int sd_image_load_any(const char *path, sd_image *out)
{
    if (!out) return sd_error("sd_image_load_any: NULL output");
    memset(out, 0, sizeof *out);
    uint8_t *head;
    size_t n;
    if (read_file(path, 8, &head, &n)) return -1;
    int png = n >= 8 && !memcmp(head, png_sig, 8), jpeg = n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
    free(head);
    if (png) return sd_image_load_png(path, out);
    if (jpeg) return sd_image_load_jpeg(path, out);
    return sd_error("%s: %s", path, n == 0 ? "empty file" : "neither a PNG nor a JPEG file");
}

int sd_image_probe(const char *path, int *w, int *h, int *c)
{
    uint8_t *head;
    size_t n;
    if (read_file(path, 33, &head, &n)) return -1;
    if (n >= 8 && !memcmp(head, png_sig, 8)) {
        /* IHDR: length, "IHDR", width, height (big-endian), bit depth, colour type */
        int rc = 0;
        if (n < 33 || memcmp(head + 12, "IHDR", 4)) rc = sd_error("%s: truncated PNG data", path);
        else {
            uint32_t pw = (uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 | (uint32_t)head[18] << 8 | head[19];
            uint32_t ph = (uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 | (uint32_t)head[22] << 8 | head[23];
            int type = head[25];
            if (pw < 1 || ph < 1 || pw > SD_IMAGE_MAX_SIDE || ph > SD_IMAGE_MAX_SIDE ||
                (int64_t)pw * ph > SD_IMAGE_MAX_PIXELS)
                rc = sd_error("%s: image too large (%u x %u)", path, pw, ph);
            *w = (int)pw;
            *h = (int)ph;
            /* 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA; a tRNS chunk (not read here)
             * can still make a gray or RGB file RGBA when loaded */
            *c = type == 0 ? 1 : (type == 4 || type == 6) ? 4 : 3;
        }
        free(head);
        return rc;
    }
    int jpeg = n >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF;
    free(head);
    if (!jpeg) return sd_error("%s: %s", path, n == 0 ? "empty file" : "neither a PNG nor a JPEG file");
    uint8_t *data;
    if (read_file(path, 0, &data, &n)) return -1;
    sd_image im;
    int rc = decode(data, n, path, 1, &im);
    free(data);
    if (rc) return rc;
    *w = im.w;
    *h = im.h;
    *c = im.c;
    return 0;
}

int sd_image_save_jpeg(const char *path, const sd_image *im, int quality)
{
    if (!path || !im || !im->px || (im->c != 1 && im->c != 3) || im->w < 1 || im->h < 1)
        return sd_error("sd_image_save_jpeg: %s: a gray or RGB image is needed", path ? path : "(null)");
    if (quality < 1 || quality > 100) return sd_error("sd_image_save_jpeg: quality %d outside 1..100", quality);
    struct jpeg_compress_struct cs;
    jerr e;
    unsigned char *volatile buf = NULL;
    unsigned long size = 0;
    memset(&e, 0, sizeof e);
    cs.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jump)) {
        jpeg_destroy_compress(&cs);
        free(buf);
        return sd_error("%s: JPEG encoding failed: %s", path, e.msg);
    }
    jpeg_create_compress(&cs);
    unsigned char *mem = NULL;
    jpeg_mem_dest(&cs, &mem, &size);
    cs.image_width = (JDIMENSION)im->w;
    cs.image_height = (JDIMENSION)im->h;
    cs.input_components = im->c;
    cs.in_color_space = im->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cs);
    jpeg_set_quality(&cs, quality, TRUE);
    jpeg_start_compress(&cs, TRUE);
    while (cs.next_scanline < cs.image_height) {
        JSAMPROW row = im->px + (size_t)cs.next_scanline * im->w * im->c;
        jpeg_write_scanlines(&cs, &row, 1);
    }
    jpeg_finish_compress(&cs);
    buf = mem;
    jpeg_destroy_compress(&cs);
    int rc = sd_write_atomic(path, &(sd_chunk){ buf, size }, 1);
    free(buf);
    return rc;
}

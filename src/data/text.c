#define _POSIX_C_SOURCE 200809L
/* Text corpora for character-level language models: a file, or a directory of
 * files read the way the PyTorch reference reads /usr/share/games/fortunes,
 * checked to be text; and the byte vocabulary built from it. */
#include "shendu/data.h"
#include "shendu/io.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEXT_MAX_BYTES ((size_t)1 << 31)    /* 2 GiB: indices stay in int32 */

/* Control bytes that plain text may contain: \b \t \n \v \f \r and ESC. */
static int text_control_ok(unsigned char c)
{
    return (c >= 8 && c <= 13) || c == 27;
}

/* 0, or -1 with a message naming the file when p[n] does not look like text. */
static int check_text(const char *path, const unsigned char *p, size_t n)
{
    if (n == 0) return sd_error("%s: empty file (a text corpus needs some text)", path);
    size_t ctrl = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == 0) return sd_error("%s: not a text file (NUL byte at offset %zu)", path, i);
        if ((p[i] < 32 && !text_control_ok(p[i])) || p[i] == 127) ctrl++;
    }
    if (ctrl * 100 > n)
        return sd_error("%s: not a text file (%.1f%% of its bytes are control characters)", path,
                        100.0 * (double)ctrl / (double)n);
    return 0;
}

#define TEXT_CHUNK ((size_t)1 << 24)   /* 16 MiB per read: a stop is seen within a few milliseconds */

/* Append the whole file at path to t (grows t->data). 1 if *stop is set
 * between two reads (stop may be NULL). */
static int append_file(const char *path, sd_text *t, volatile sig_atomic_t *stop)
{
    uint64_t size;
    int fd = sd_file_open_read(path, &size);   /* a FIFO or device is refused, not waited on */
    if (fd < 0) return -1;
    if (size >= TEXT_MAX_BYTES - t->n) {   /* refused from its size, before reading it */
        close(fd);
        return sd_error("%s: the text is larger than the limit of 2 GiB (%llu bytes%s)", path,
                        (unsigned long long)size + t->n, t->n ? " with the files before it" : "");
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return sd_error("%s: %s", path, strerror(errno));
    }
    size_t start = t->n, cap = t->n;
    for (int first = 1;; first = 0) {
        if (stop && *stop) { fclose(f); return 1; }
        if (t->n == cap) {
            if (cap >= TEXT_MAX_BYTES) { fclose(f); return sd_error("%s: the text is larger than 2 GiB", path); }
            /* the size known from the file at first (one allocation), doubling if it grows meanwhile */
            cap = first ? t->n + (size_t)size + 1 : cap ? 2 * cap : 65536;
            if (cap > TEXT_MAX_BYTES) cap = TEXT_MAX_BYTES;
            uint8_t *d = realloc(t->data, cap);
            if (!d) { fclose(f); return sd_error("%s: out of memory", path); }
            t->data = d;
        }
        size_t want = cap - t->n < TEXT_CHUNK ? cap - t->n : TEXT_CHUNK;
        size_t got = fread(t->data + t->n, 1, want, f);
        if (!got) {
            if (ferror(f)) { fclose(f); return sd_error("%s: read error", path); }
            break;
        }
        t->n += got;
    }
    fclose(f);
    t->nfiles++;
    return check_text(path, t->data + start, t->n - start);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int load_dir(const char *dir, sd_text *t, volatile sig_atomic_t *stop)
{
    DIR *d = opendir(dir);
    if (!d) return sd_error("%s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || ends_with(e->d_name, ".dat") ||
            ends_with(e->d_name, ".u8")) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) { rc = sd_error("%s: out of memory", dir); goto done; }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) { rc = sd_error("%s: out of memory", dir); goto done; }
        n++;
    }
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_names);   /* names is NULL when n == 0 */
    uint64_t total = 0;   /* the corpus is refused from its size, before any of it is read */
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    if (total >= TEXT_MAX_BYTES) {
        rc = sd_error("%s: the text files hold %llu bytes, more than the limit of 2 GiB", dir,
                      (unsigned long long)total);
        goto done;
    }
    for (int i = 0; i < n && !rc; i++) {
        size_t len = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(len);
        if (!path) { rc = sd_error("%s: out of memory", dir); break; }
        snprintf(path, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) rc = append_file(path, t, stop);
        free(path);
    }
    if (!rc && t->nfiles == 0) rc = sd_error("%s: no text files in this directory", dir);
done:
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int sd_text_load(const char *path, sd_text *out) { return sd_text_load_with(path, NULL, out); }

int sd_text_load_with(const char *path, volatile sig_atomic_t *stop, sd_text *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st)) {
        if (errno == ENOENT && !strncmp(path, "/usr/share/games/fortunes", 25))
            return sd_error("%s: no such directory (install the corpus: apt-get install fortunes)", path);
        return sd_error("%s: %s", path, strerror(errno));
    }
    int rc = S_ISDIR(st.st_mode) ? load_dir(path, out, stop) : append_file(path, out, stop);
    if (rc) sd_text_free(out);
    return rc;
}

void sd_text_free(sd_text *t)
{
    if (!t) return;
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* ---- Vocabulary */

void sd_vocab_build(sd_vocab *v, const uint8_t *data, size_t n)
{
    int seen[256] = { 0 };
    for (size_t i = 0; i < n; i++) seen[data[i]] = 1;
    v->n = 0;
    for (int c = 0; c < 256; c++) {
        v->index[c] = -1;
        if (seen[c]) { v->index[c] = (int16_t)v->n; v->sym[v->n++] = (uint8_t)c; }
    }
}

int sd_vocab_encode(const sd_vocab *v, const uint8_t *s, size_t n, int32_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (v->index[s[i]] < 0) {
            if (s[i] >= 32 && s[i] < 127) return sd_error("'%c' (byte %zu) is not in the vocabulary", s[i], i);
            return sd_error("byte 0x%02x (position %zu) is not in the vocabulary", s[i], i);
        }
        out[i] = v->index[s[i]];
    }
    return 0;
}

void sd_vocab_escape(const sd_vocab *v, char *buf, size_t size)
{
    size_t k = 0;
    for (int i = 0; i < v->n && k + 5 <= size; i++) {
        unsigned char c = v->sym[i];
        if (c == '\\') { buf[k++] = '\\'; buf[k++] = '\\'; }
        else if (c >= 32 && c < 127) buf[k++] = (char)c;
        else k += (size_t)snprintf(buf + k, size - k, "\\x%02x", c);
    }
    if (size) buf[k < size ? k : size - 1] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int sd_vocab_unescape(const char *s, sd_vocab *v)
{
    v->n = 0;
    for (int c = 0; c < 256; c++) v->index[c] = -1;
    for (size_t i = 0; s[i];) {
        int c = (unsigned char)s[i];
        if (c == '\\') {
            if (s[i + 1] == '\\') { c = '\\'; i += 2; }
            else if (s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
                c = hexval(s[i + 2]) * 16 + hexval(s[i + 3]);
                i += 4;
            } else {
                return sd_error("vocabulary: bad escape at position %zu", i);
            }
        } else {
            i++;
        }
        if (v->index[c] >= 0) return sd_error("vocabulary: byte 0x%02x appears twice", c);
        v->index[c] = (int16_t)v->n;
        v->sym[v->n++] = (uint8_t)c;
    }
    if (!v->n) return sd_error("vocabulary: no symbols");
    return 0;
}

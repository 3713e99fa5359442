/* libFuzzer harness: the text-corpus reader of `shendu lm train` (sd_text_load:
 * text checks), the byte vocabulary built from it and its escaped form as model
 * files store it (sd_vocab_escape / sd_vocab_unescape, which also reads the
 * hostile input directly), and the encoding of the text. */
#include "fuzz_common.h"
#include "shendu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_text t;
    if (sd_text_load(path, &t) == 0) {
        if (t.n != size || memcmp(t.data, data, size)) abort();   /* read exactly what is there */
        sd_vocab v, w;
        sd_vocab_build(&v, t.data, t.n);
        char esc[4 * 256 + 1];
        sd_vocab_escape(&v, esc, sizeof esc);
        if (sd_vocab_unescape(esc, &w) || w.n != v.n || memcmp(w.sym, v.sym, (size_t)v.n)) abort();   /* round trip */
        int32_t *idx = malloc(t.n * sizeof *idx);
        if (idx) {
            if (sd_vocab_encode(&v, t.data, t.n, idx)) abort();   /* every byte is in its own vocabulary */
            for (size_t i = 0; i < t.n; i++)
                if (idx[i] < 0 || idx[i] >= v.n || v.sym[idx[i]] != t.data[i]) abort();
            free(idx);
        }
        sd_text_free(&t);
    }
    close(fd);
    /* the input as a "vocab" metadata value: a hostile model file's */
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = 0;
        sd_vocab v;
        if (sd_vocab_unescape(s, &v) == 0 && (v.n < 1 || v.n > 256)) abort();
        free(s);
    }
    return 0;
}

/* Text that came from a file (class names, paths, metadata, messages that
 * quote them), written safely as human text with no control byte reaching a
 * terminal. (As a JSON string literal: sd_json_write_str, src/io/json.c.) */
#include "apps.h"
#include "io/json.h"

#include <string.h>

void sd_app_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int n = sd_utf8_len(p);
        if (*p < 0x20 || *p == 0x7f || n == 0 || (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
            if (*p == '\n') fputs("\\n", f);
            else if (*p == '\t') fputs("\\t", f);
            else if (n == 2) fprintf(f, "\\x%02x\\x%02x", p[0], p[1]);
            else fprintf(f, "\\x%02x", *p);
            p += n == 2 ? 2 : 1;
            continue;
        }
        fwrite(p, 1, (size_t)n, f);
        p += n;
    }
}

/* Text that came from a file (class names, paths, metadata, messages that
 * quote them), written safely: as a JSON string literal that is always valid
 * JSON, or as human text with no control byte reaching a terminal. */
#include "apps.h"

#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 if s does not
 * start one (a stray continuation byte, an overlong form, a surrogate, a cut). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (c >= 0xf5) n = 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0;   /* overlong, surrogate */
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;   /* overlong, > U+10FFFF */
    return n;
}

void sd_app_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int n = utf8_len(p);
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else if (n == 0) fputs("\\ufffd", f);   /* not UTF-8: the replacement character */
        else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) fprintf(f, "\\u%04x", p[1]);   /* C1 controls */
        else fwrite(p, 1, (size_t)n, f);
        p += n ? n : 1;
    }
    fputc('"', f);
}

void sd_app_text(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        int n = utf8_len(p);
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

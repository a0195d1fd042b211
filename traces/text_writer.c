/*
 * traces/text_writer.c - writer of the text trace format v1
 * (docs/trace-format.md). Times are written in ps, so every record reads
 * back exactly; addresses and lengths in 0x hex.
 */
#include <errno.h>
#include <string.h>

#include "traces/record.h"
#include "traces/text_writer.h"

int trace_write_header(FILE *f)
{
    static const char hdr[] = "iommu-sim-trace 1\ntimeunit ps\n";

    if (fwrite(hdr, 1, sizeof(hdr) - 1, f) != sizeof(hdr) - 1)
        return -EIO;
    return 0;
}

/* Append v in decimal; returns the new end. */
static char *put_dec(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Append v as 0x hex (lower case, no leading zeros). */
static char *put_hex(char *p, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    int n = 0;

    *p++ = '0';
    *p++ = 'x';
    do {
        tmp[n++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);

    memcpy(p, s, n);
    return p + n;
}

int trace_write_record(FILE *f, const trace_record_t *rec)
{
    /* time(20) op(5) dev(10) pasid(10) addr(18) len(18) perm(3) pop(7) page(3)
     * + separators: well under 128 */
    char buf[128], *p = buf;

    if ((unsigned)rec->op > TRACE_DETACH ||
        (rec->op != TRACE_DETACH && rec->len == 0) ||
        rec->pasid >= (1u << 20) || rec->len - 1 > UINT64_MAX - rec->addr ||
        (rec->perm & ~(TRACE_PERM_R | TRACE_PERM_W | TRACE_PERM_X)) ||
        (unsigned)rec->page > TRACE_PAGE_1G ||
        (rec->op == TRACE_MAP && rec->page != TRACE_PAGE_4K &&
         ((rec->addr | rec->len) &
          ((1ull << trace_page_shift(rec->page)) - 1))))
        return -EINVAL;

    p = put_dec(p, rec->time);
    *p++ = ' ';
    p = put_str(p, trace_op_name(rec->op));
    *p++ = ' ';
    p = put_dec(p, rec->dev);
    *p++ = ' ';
    p = put_dec(p, rec->pasid);
    if (rec->op == TRACE_DETACH) {
        *p++ = '\n';
        goto out;
    }
    *p++ = ' ';
    p = put_hex(p, rec->addr);
    *p++ = ' ';
    p = put_hex(p, rec->len);
    if (rec->op == TRACE_MAP) {
        *p++ = ' ';
        *p++ = (rec->perm & TRACE_PERM_R) ? 'r' : '-';
        *p++ = (rec->perm & TRACE_PERM_W) ? 'w' : '-';
        *p++ = (rec->perm & TRACE_PERM_X) ? 'x' : '-';
        p = put_str(p, rec->present ? " present" : " absent");
        if (rec->page != TRACE_PAGE_4K) {
            *p++ = ' ';
            p = put_str(p, trace_page_name(rec->page));
        }
    }
    *p++ = '\n';
out:
    if (fwrite(buf, 1, (size_t)(p - buf), f) != (size_t)(p - buf))
        return -EIO;
    return 0;
}

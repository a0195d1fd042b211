/*
 * traces/text_reader.c - streaming reader of the text trace format v1
 * (docs/trace-format.md).
 *
 * The reader owns one fixed read buffer (TRACE_READ_BUF bytes, allocated
 * with the reader) and never anything else, so memory does not grow with
 * trace length. Lines are found with memchr in that buffer and parsed in
 * place by hand-written scanners (no sscanf/strtok): a line never needs to
 * be copied unless it straddles two reads. A line longer than
 * TRACE_MAX_LINE is detected as soon as TRACE_MAX_LINE + 1 bytes without a
 * newline are in the buffer, so a multi-megabyte line is never read whole.
 *
 * Errors are logged once as "FILE:LINE:COL: what; expected what" and are
 * sticky: after the first error every call returns the same code without
 * logging again.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "traces/text_reader.h"

/* Read buffer: a multiple of the longest line, so most lines are parsed
 * where fread put them. */
#define TRACE_READ_BUF (16 * TRACE_MAX_LINE)

/* Bytes of the first line examined for binary content. */
#define TRACE_SNIFF_BYTES 64

#define TRACE_PASID_LIMIT (1u << 20)

/* The largest DMA (read/write <len>) and the largest present map (a map
 * that is populated when it is made): the work and memory of one record
 * stay bounded (a DMA of n bytes costs up to n / 4096 faults; a present
 * map populates every page). See docs/trace-format.md, "Size limits". */
#define TRACE_MAX_DMA (1ull << 30)
#define TRACE_MAX_PRESENT (64ull << 30)

/* Longest token quoted in a message (longer ones are cut with "..."). */
#define TRACE_QUOTE_MAX 40

struct trace_reader {
    FILE *f;
    bool own;  /* close f in trace_close */
    bool eof;  /* fread hit end of file */
    int err;   /* sticky error (negative errno), 0 if none */
    bool done; /* end of trace returned */
    sim_log_t *log;
    char *name;
    uint64_t line;        /* number of the last line read */
    sim_time_t unit_ps;   /* ps per time unit */
    unsigned unit_digits; /* decimal digits of unit_ps (0, 3, 6, 9) */
    const char *unit_name;
    bool have_prev;
    sim_time_t prev_time;       /* ps */
    trace_dev_lookup_fn lookup; /* device names (NULL: numbers only) */
    void *lookup_opaque;
    /* The trace's own device numbering: <dev> k is the device map[k]
     * (a name, or a number: that index), resolved once into idx[k]. */
    char **map;
    int *map_idx;
    unsigned map_n;
    bool map_set;          /* by trace_set_dev_map: a devices line is ignored */
    bool any_record;       /* a record was read (a devices line comes before) */
    trace_domain_t domain; /* from a "domain" line (ANY: none) */
    size_t pos, len;       /* unread bytes are buf[pos, len) */
    char buf[TRACE_READ_BUF + 1]; /* +1: room for a terminating NUL */
};

/* ------------------------------------------------------------ messages */

/* Log "NAME:LINE:COL: msg" once and make the error sticky. */
static int __attribute__((format(printf, 4, 5)))
fail_at(trace_reader_t *r, uint64_t line, size_t col, const char *fmt, ...)
{
    char msg[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sim_logf(r->log, SIM_LOG_ERROR, "%s:%" PRIu64 ":%zu: %s", r->name, line,
             col, msg);
    r->err = -EINVAL;
    return -EINVAL;
}

/* Quote a token for a message: printable bytes as is, others as \xNN,
 * at most TRACE_QUOTE_MAX bytes of it. */
static const char *quote(char *out, size_t outlen, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i;

    for (i = 0; i < n && i < TRACE_QUOTE_MAX && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\'') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (i < n && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

#define QBUF (TRACE_QUOTE_MAX * 4 + 8)

/* ------------------------------------------------------------ line input */

/* Fill the buffer after moving the unread bytes to its start. */
static int fill(trace_reader_t *r)
{
    size_t rest = r->len - r->pos, n;

    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, rest);
        r->pos = 0;
        r->len = rest;
    }
    n = fread(r->buf + r->len, 1, TRACE_READ_BUF - r->len, r->f);
    r->len += n;
    if (n == 0 || r->len < TRACE_READ_BUF) {
        if (ferror(r->f)) {
            int e = errno ? errno : EIO;
            sim_logf(r->log, SIM_LOG_ERROR, "%s:%" PRIu64 ": read error: %s",
                     r->name, r->line + 1, strerror(e));
            r->err = -EIO;
            return -EIO;
        }
        if (feof(r->f))
            r->eof = true;
    }
    return 0;
}

/*
 * Get the next line: *out points at its first byte, *outlen is its length
 * without the newline (and without a CR before it); the line is
 * NUL-terminated in place. Returns 1, 0 at end of input, or an error.
 */
static int next_line(trace_reader_t *r, char **out, size_t *outlen)
{
    for (;;) {
        char *start = r->buf + r->pos;
        size_t avail = r->len - r->pos;
        size_t scan = avail < TRACE_MAX_LINE + 1 ? avail : TRACE_MAX_LINE + 1;
        char *nl = memchr(start, '\n', scan);

        if (nl) {
            size_t n = (size_t)(nl - start);
            r->line++;
            r->pos += n + 1;
            if (n > 0 && start[n - 1] == '\r')
                n--;
            start[n] = '\0';
            if (memchr(start, '\0', n)) {
                size_t col = strlen(start) + 1;
                return fail_at(r, r->line, col,
                               "NUL byte in text trace (binary file?)");
            }
            *out = start;
            *outlen = n;
            return 1;
        }
        if (avail > TRACE_MAX_LINE) {
            r->line++;
            return fail_at(r, r->line, TRACE_MAX_LINE + 1,
                           "line longer than %d bytes; expected at most %d "
                           "bytes per line",
                           TRACE_MAX_LINE, TRACE_MAX_LINE);
        }
        if (r->eof) {
            if (avail == 0)
                return 0;
            r->line++;
            return fail_at(r, r->line, avail + 1,
                           "truncated trace: the last line has no newline; "
                           "expected every line to end with '\\n'");
        }
        int rc = fill(r);
        if (rc < 0)
            return rc;
    }
}

/* ------------------------------------------------------------ tokens */

static inline bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* End of a token: a blank, '#' (comment) or the terminating NUL. */
static inline bool is_tok_end(char c)
{
    return c == ' ' || c == '\t' || c == '#' || c == '\0';
}

/* Skip blanks; return the start of the next token or NULL if the line's
 * content ends here (end of line or comment). */
static inline const char *tok_start(const char *p)
{
    while (is_blank(*p))
        p++;
    return (*p == '\0' || *p == '#') ? NULL : p;
}

static inline const char *tok_end(const char *p)
{
    while (!is_tok_end(*p))
        p++;
    return p;
}

/* ------------------------------------------------------------ numbers */

typedef enum {
    NUM_OK = 0,
    NUM_BAD,      /* not a number of the accepted form */
    NUM_OVERFLOW, /* does not fit in 64 bits */
} num_rc_t;

/* Unsigned decimal, all of [s, e). */
static num_rc_t parse_dec(const char *s, const char *e, uint64_t *out)
{
    uint64_t v = 0;

    if (s == e)
        return NUM_BAD;
    for (; s < e; s++) {
        unsigned d = (unsigned)(unsigned char)*s - '0';
        if (d > 9)
            return NUM_BAD;
        if (v > (UINT64_MAX - d) / 10) {
            /* keep scanning so that "123x" with overflow says bad, not
             * overflow, only if a non-digit follows */
            for (s++; s < e; s++)
                if ((unsigned)(unsigned char)*s - '0' > 9)
                    return NUM_BAD;
            return NUM_OVERFLOW;
        }
        v = v * 10 + d;
    }
    *out = v;
    return NUM_OK;
}

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decimal or 0x hex, all of [s, e). */
static num_rc_t parse_num(const char *s, const char *e, uint64_t *out)
{
    if (e - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        uint64_t v = 0;
        bool over = false;
        for (s += 2; s < e; s++) {
            int d = hexval(*s);
            if (d < 0)
                return NUM_BAD;
            if (v >> 60)
                over = true;
            v = (v << 4) | (uint64_t)d;
        }
        if (over)
            return NUM_OVERFLOW;
        *out = v;
        return NUM_OK;
    }
    return parse_dec(s, e, out);
}

/* ------------------------------------------------------------ header */

static const char *const unit_names[] = {"ps", "ns", "us", "ms"};

/*
 * Next line with content: skips blank and comment lines. Returns 1 with
 * the line, 0 at end of input, or an error.
 */
static int next_content_line(trace_reader_t *r, char **line, const char **tok)
{
    for (;;) {
        size_t n;
        int rc = next_line(r, line, &n);
        if (rc <= 0)
            return rc;
        *tok = tok_start(*line);
        if (*tok)
            return 1;
    }
}

static size_t colof(const char *line, const char *p)
{
    return (size_t)(p - line) + 1;
}

#define HEADER_TEXT "'iommu-sim-trace 1'"

static int expect_eol(trace_reader_t *r, const char *line, const char *p,
                      const char *expected)
{
    const char *t = tok_start(p);
    char q[QBUF];

    if (!t)
        return 0;
    return fail_at(r, r->line, colof(line, t),
                   "unexpected field '%s'; expected %s",
                   quote(q, sizeof(q), t, (size_t)(tok_end(t) - t)), expected);
}

static int read_header(trace_reader_t *r)
{
    char *line;
    const char *t, *e;
    char q[QBUF];
    uint64_t v;
    int rc;

    rc = next_content_line(r, &line, &t);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail_at(r, 1, 1, "empty trace; expected header " HEADER_TEXT);

    e = tok_end(t);
    if ((size_t)(e - t) != 15 || memcmp(t, "iommu-sim-trace", 15) != 0)
        return fail_at(r, r->line, colof(line, t),
                       "bad header '%s'; expected " HEADER_TEXT
                       " as the first line",
                       quote(q, sizeof(q), t, (size_t)(e - t)));
    t = tok_start(e);
    if (!t)
        return fail_at(r, r->line, colof(line, e),
                       "missing field <version>; expected " HEADER_TEXT);
    e = tok_end(t);
    switch (parse_dec(t, e, &v)) {
    case NUM_OK:
        break;
    case NUM_OVERFLOW:
        return fail_at(r, r->line, colof(line, t),
                       "unsupported trace version %s; this reader supports %d",
                       quote(q, sizeof(q), t, (size_t)(e - t)),
                       TRACE_FORMAT_VERSION);
    default:
        return fail_at(r, r->line, colof(line, t),
                       "bad trace version '%s'; expected " HEADER_TEXT,
                       quote(q, sizeof(q), t, (size_t)(e - t)));
    }
    if (v != TRACE_FORMAT_VERSION)
        return fail_at(r, r->line, colof(line, t),
                       "unsupported trace version %" PRIu64
                       "; this reader supports %d",
                       v, TRACE_FORMAT_VERSION);
    rc = expect_eol(r, line, e, "end of line after " HEADER_TEXT);
    if (rc)
        return rc;

    rc = next_content_line(r, &line, &t);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail_at(r, r->line + 1, 1,
                       "missing timeunit line; expected 'timeunit ps|ns|us|ms' "
                       "after the header");
    e = tok_end(t);
    if ((size_t)(e - t) != 8 || memcmp(t, "timeunit", 8) != 0)
        return fail_at(r, r->line, colof(line, t),
                       "bad header line '%s'; expected 'timeunit ps|ns|us|ms' "
                       "as the second line",
                       quote(q, sizeof(q), t, (size_t)(e - t)));
    t = tok_start(e);
    if (!t)
        return fail_at(r, r->line, colof(line, e),
                       "missing field <unit>; expected 'timeunit ps|ns|us|ms'");
    e = tok_end(t);
    {
        static const sim_time_t mult[] = {SIM_PS, SIM_NS, SIM_US, SIM_MS};
        unsigned i;
        for (i = 0; i < 4; i++)
            if (e - t == 2 && memcmp(t, unit_names[i], 2) == 0)
                break;
        if (i == 4)
            return fail_at(r, r->line, colof(line, t),
                           "unknown time unit '%s'; expected ps, ns, us or ms",
                           quote(q, sizeof(q), t, (size_t)(e - t)));
        r->unit_ps = mult[i];
        r->unit_digits = 3 * i;
        r->unit_name = unit_names[i];
    }
    return expect_eol(r, line, e, "end of line after 'timeunit <unit>'");
}

/* Does the start of the buffer look like a compressed file? */
static const char *compressed_format(const unsigned char *b, size_t n)
{
    if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
        return "gzip";
    if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
        return "zstd";
    if (n >= 6 && memcmp(b,
                         "\xfd"
                         "7zXZ\0",
                         6) == 0)
        return "xz";
    if (n >= 4 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' &&
        b[3] <= '9')
        return "bzip2";
    return NULL;
}

/* Control bytes (other than tab, CR, LF) or NUL in the first bytes of the
 * first line mean a binary file. */
static bool looks_binary(const unsigned char *b, size_t n)
{
    size_t i;

    if (n > TRACE_SNIFF_BYTES)
        n = TRACE_SNIFF_BYTES;
    for (i = 0; i < n && b[i] != '\n'; i++) {
        unsigned char c = b[i];
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------ open/close */

trace_reader_t *trace_open_stream(FILE *f, const char *name, sim_log_t *log)
{
    trace_reader_t *r;
    const char *fmt;

    if (!name)
        name = "<stream>";
    r = calloc(1, sizeof(*r));
    if (!r || !(r->name = strdup(name))) {
        free(r);
        sim_logf(log, SIM_LOG_ERROR, "%s: out of memory", name);
        return NULL;
    }
    r->f = f;
    r->log = log;

    if (fill(r) < 0)
        goto fail;
    fmt = compressed_format((const unsigned char *)r->buf, r->len);
    if (fmt) {
        fail_at(r, 1, 1,
                "%s-compressed trace; expected an uncompressed text trace "
                "(compressed traces are not supported yet: decompress it "
                "first)",
                fmt);
        goto fail;
    }
    if (looks_binary((const unsigned char *)r->buf, r->len)) {
        fail_at(r, 1, 1,
                "binary data; expected a text trace starting with "
                "header " HEADER_TEXT);
        goto fail;
    }
    if (read_header(r) < 0)
        goto fail;
    return r;

fail:
    free(r->name);
    free(r);
    return NULL;
}

trace_reader_t *trace_open(const char *path, sim_log_t *log)
{
    trace_reader_t *r;
    struct stat st;
    FILE *f;

    if (strcmp(path, "-") == 0)
        return trace_open_stream(stdin, "<stdin>", log);
    f = fopen(path, "r");
    if (!f) {
        sim_logf(log, SIM_LOG_ERROR, "%s: cannot open: %s", path,
                 strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        sim_logf(log, SIM_LOG_ERROR,
                 "%s: cannot open: %s; expected a trace file", path,
                 strerror(EISDIR));
        fclose(f);
        return NULL;
    }
    r = trace_open_stream(f, path, log);
    if (!r) {
        fclose(f);
        return NULL;
    }
    r->own = true;
    return r;
}

void trace_close(trace_reader_t *r)
{
    if (!r)
        return;
    if (r->own)
        fclose(r->f);
    for (unsigned i = 0; i < r->map_n; i++)
        free(r->map[i]);
    free(r->map);
    free(r->map_idx);
    free(r->name);
    free(r);
}

/* Replace the device map by the names in list (commas or blanks between
 * them). Returns 0, -EINVAL (an empty list, a name too long or not a
 * name or number; err says which) or -ENOMEM. */
static int set_map(trace_reader_t *r, const char *list, char *err, size_t len)
{
    char **map = NULL;
    unsigned n = 0;
    int rc = 0;
    for (const char *p = list; *p;) {
        size_t k = strspn(p, ", \t");
        p += k;
        size_t w = strcspn(p, ", \t");
        if (!w)
            break;
        bool ok = w < 64;
        for (size_t i = 0; i < w && ok; i++)
            ok = isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == '-';
        if (!ok || n >= TRACE_MAX_DEVMAP) {
            snprintf(err, len,
                     n >= TRACE_MAX_DEVMAP
                         ? "more than %d devices in a device list"
                         : "bad device '%.*s' in a device list; expected "
                           "names or numbers separated by commas",
                     n >= TRACE_MAX_DEVMAP ? TRACE_MAX_DEVMAP : (int)w, p);
            rc = -EINVAL;
            break;
        }
        char **m = realloc(map, (n + 1) * sizeof(*map));
        char *name = m ? strndup(p, w) : NULL;
        if (m)
            map = m;
        if (!name) {
            rc = -ENOMEM;
            snprintf(err, len, "out of memory");
            break;
        }
        map[n++] = name;
        p += w;
    }
    if (!rc && !n) {
        snprintf(err, len, "empty device list");
        rc = -EINVAL;
    }
    int *idx = rc ? NULL : malloc(n * sizeof(*idx));
    if (!rc && !idx) {
        snprintf(err, len, "out of memory");
        rc = -ENOMEM;
    }
    if (rc) {
        for (unsigned i = 0; i < n; i++)
            free(map[i]);
        free(map);
        return rc;
    }
    for (unsigned i = 0; i < r->map_n; i++)
        free(r->map[i]);
    free(r->map);
    free(r->map_idx);
    for (unsigned i = 0; i < n; i++)
        idx[i] = -2; /* not resolved yet */
    r->map = map;
    r->map_idx = idx;
    r->map_n = n;
    return 0;
}

int trace_set_dev_map(trace_reader_t *r, const char *list)
{
    char err[256];
    int rc = set_map(r, list, err, sizeof(err));
    if (rc)
        sim_logf(r->log, SIM_LOG_ERROR, "%s: %s", r->name, err);
    else
        r->map_set = true;
    return rc;
}

/* Device `name` (a number: that index) through the lookup; -1 if unknown,
 * -2 if a name and no lookup. */
static int resolve_dev(trace_reader_t *r, const char *name)
{
    bool digits = *name != '\0';
    for (const char *c = name; *c; c++)
        digits &= isdigit((unsigned char)*c) != 0;
    if (digits)
        return strlen(name) < 10 ? atoi(name) : -1;
    return r->lookup ? r->lookup(r->lookup_opaque, name) : -2;
}

void trace_set_dev_lookup(trace_reader_t *r, trace_dev_lookup_fn lookup,
                          void *opaque)
{
    r->lookup = lookup;
    r->lookup_opaque = opaque;
}

const char *trace_name(const trace_reader_t *r)
{
    return r->name;
}

uint64_t trace_line(const trace_reader_t *r)
{
    return r->line;
}

/* ------------------------------------------------------------ records */

static const char *const usage[] = {
    [TRACE_MAP] = "<time> map <dev> <pasid> <addr> <len> <perm> present|absent "
                  "[4K|2M|1G]",
    [TRACE_UNMAP] = "<time> unmap <dev> <pasid> <addr> <len>",
    [TRACE_READ] = "<time> read <dev> <pasid> <addr> <len>",
    [TRACE_WRITE] = "<time> write <dev> <pasid> <addr> <len>",
    [TRACE_DETACH] = "<time> detach <dev> <pasid>",
};

/* Write a ps time in the reader's unit, e.g. "12.5 ns". */
static const char *fmt_time(const trace_reader_t *r, sim_time_t t, char *buf,
                            size_t len)
{
    uint64_t whole = t / r->unit_ps, frac = t % r->unit_ps;
    int n = snprintf(buf, len, "%" PRIu64, whole);

    if (frac && n > 0 && (size_t)n < len) {
        unsigned digits = r->unit_digits;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        n += snprintf(buf + n, len - (size_t)n, ".%0*" PRIu64, (int)digits,
                      frac);
    }
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " %s", r->unit_name);
    return buf;
}

/* time: decimal in the unit, optional fraction down to 1 ps. */
static int parse_time(trace_reader_t *r, const char *line, const char *s,
                      const char *e, sim_time_t *out)
{
    const char *dot = s, *p;
    uint64_t whole = 0, frac = 0, t;
    unsigned i;
    char q[QBUF];

    while (dot < e && *dot != '.')
        dot++;
    num_rc_t rc = parse_dec(s, dot, &whole);
    if (rc != NUM_BAD && dot < e) {
        /* fraction: at least one digit, all digits */
        if (dot + 1 == e)
            rc = NUM_BAD;
        for (p = dot + 1; p < e; p++)
            if ((unsigned)(unsigned char)*p - '0' > 9)
                rc = NUM_BAD;
    }
    if (rc == NUM_BAD)
        return fail_at(r, r->line, colof(line, s),
                       "bad time '%s'; expected an unsigned decimal number of "
                       "%s, e.g. 12 or 12.5",
                       quote(q, sizeof(q), s, (size_t)(e - s)), r->unit_name);
    if (rc == NUM_OVERFLOW)
        goto overflow;
    if (dot < e) {
        p = dot + 1;
        for (i = 0; i < r->unit_digits; i++)
            frac = frac * 10 + (p < e ? (uint64_t)(*p++ - '0') : 0);
        for (; p < e; p++)
            if (*p != '0')
                return fail_at(r, r->line, colof(line, s),
                               "time '%s' %s is finer than 1 ps; expected at "
                               "most %u decimal places with timeunit %s",
                               quote(q, sizeof(q), s, (size_t)(e - s)),
                               r->unit_name, r->unit_digits, r->unit_name);
    }
    if (whole > (UINT64_MAX - frac) / r->unit_ps)
        goto overflow;
    t = whole * r->unit_ps + frac;
    *out = t;
    return 0;

overflow:
    return fail_at(r, r->line, colof(line, s),
                   "time '%s' %s overflows 64 bits in ps; expected at most "
                   "%" PRIu64 " ps",
                   quote(q, sizeof(q), s, (size_t)(e - s)), r->unit_name,
                   UINT64_MAX);
}

/* A number field; on error logs with the field's name and what it takes. */
static int num_field(trace_reader_t *r, const char *line, const char *s,
                     const char *e, const char *what, const char *expected,
                     bool hex, uint64_t *out)
{
    char q[QBUF];
    num_rc_t rc = hex ? parse_num(s, e, out) : parse_dec(s, e, out);

    if (rc == NUM_OK)
        return 0;
    if (rc == NUM_OVERFLOW)
        return fail_at(r, r->line, colof(line, s),
                       "number '%s' overflows 64 bits; expected %s %s",
                       quote(q, sizeof(q), s, (size_t)(e - s)), what, expected);
    return fail_at(r, r->line, colof(line, s), "bad %s '%s'; expected %s", what,
                   quote(q, sizeof(q), s, (size_t)(e - s)), expected);
}

/* len: decimal or hex with an optional K/M/G suffix (x1024). */
static int parse_len(trace_reader_t *r, const char *line, const char *s,
                     const char *e, uint64_t *out)
{
    static const char expected[] =
        "a decimal or 0x hex number > 0, optionally with suffix K, M or G";
    unsigned shift = 0;
    const char *ne = e;
    char q[QBUF];
    uint64_t v;

    if (e > s) {
        switch (e[-1]) {
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        default:
            break;
        }
        if (shift)
            ne--;
    }
    switch (parse_num(s, ne, &v)) {
    case NUM_OK:
        break;
    case NUM_OVERFLOW:
        return fail_at(r, r->line, colof(line, s),
                       "number '%s' overflows 64 bits; expected <len> %s",
                       quote(q, sizeof(q), s, (size_t)(e - s)), expected);
    default:
        return fail_at(r, r->line, colof(line, s),
                       "bad <len> '%s'; expected %s",
                       quote(q, sizeof(q), s, (size_t)(e - s)), expected);
    }
    if (shift && v > (UINT64_MAX >> shift))
        return fail_at(r, r->line, colof(line, s),
                       "number '%s' overflows 64 bits; expected <len> %s",
                       quote(q, sizeof(q), s, (size_t)(e - s)), expected);
    v <<= shift;
    if (v == 0)
        return fail_at(r, r->line, colof(line, s),
                       "zero length '%s'; expected <len> > 0",
                       quote(q, sizeof(q), s, (size_t)(e - s)));
    *out = v;
    return 0;
}

/* perm: 1-3 characters of r, w, x, '-' (each letter at most once). */
static int parse_perm(trace_reader_t *r, const char *line, const char *s,
                      const char *e, unsigned *out)
{
    unsigned perm = 0, bit;
    const char *p;
    char q[QBUF];

    if (e - s > 3)
        goto bad;
    for (p = s; p < e; p++) {
        switch (*p) {
        case 'r':
            bit = TRACE_PERM_R;
            break;
        case 'w':
            bit = TRACE_PERM_W;
            break;
        case 'x':
            bit = TRACE_PERM_X;
            break;
        case '-':
            bit = 0;
            break;
        default:
            goto bad;
        }
        if (perm & bit)
            goto bad;
        perm |= bit;
    }
    *out = perm;
    return 0;
bad:
    return fail_at(r, r->line, colof(line, s),
                   "bad permission '%s'; expected 1 to 3 of r, w, x and '-', "
                   "each letter at most once (e.g. rw-, r-x, ---)",
                   quote(q, sizeof(q), s, (size_t)(e - s)));
}

/* page size: 4K, 2M or 1G (the <len> suffixes, one page of that size). */
static int parse_page(trace_reader_t *r, const char *line, const char *s,
                      const char *e, trace_page_t *out)
{
    static const trace_page_t pages[] = {TRACE_PAGE_4K, TRACE_PAGE_2M,
                                         TRACE_PAGE_1G};
    char q[QBUF];

    for (unsigned i = 0; i < 3; i++) {
        const char *name = trace_page_name(pages[i]);
        if (e - s == 2 && memcmp(s, name, 2) == 0) {
            *out = pages[i];
            return 0;
        }
    }
    return fail_at(r, r->line, colof(line, s),
                   "unexpected field '%s'; expected a page size 4K, 2M or "
                   "1G, or end of line (or a # comment)",
                   quote(q, sizeof(q), s, (size_t)(e - s)));
}

/* A map with a page size: <addr> and <len> are multiples of it (a page is
 * never split); the column is the field that is not. */
static int check_aligned(trace_reader_t *r, const char *line,
                         const char *addr_tok, const char *len_tok,
                         const trace_record_t *rec)
{
    uint64_t mask = (1ull << trace_page_shift(rec->page)) - 1;
    const char *name = trace_page_name(rec->page);

    if (rec->addr & mask)
        return fail_at(r, r->line, colof(line, addr_tok),
                       "address 0x%" PRIx64 " is not %s-aligned; expected "
                       "<addr> a multiple of the page size %s",
                       rec->addr, name, name);
    if (rec->len & mask)
        return fail_at(r, r->line, colof(line, len_tok),
                       "length 0x%" PRIx64 " is not a multiple of %s; "
                       "expected <len> a multiple of the page size %s",
                       rec->len, name, name);
    return 0;
}

static int missing(trace_reader_t *r, const char *line, const char *at,
                   const char *field, const char *use)
{
    return fail_at(r, r->line, colof(line, at), "missing field %s; expected %s",
                   field, use);
}

/* Parse one record line whose first token starts at t. */
static int parse_record(trace_reader_t *r, const char *line, const char *t,
                        trace_record_t *rec)
{
    const char *e, *op, *ope;
    const char *use;
    uint64_t v;
    char q[QBUF];
    trace_op_t kind;

    /* time */
    e = tok_end(t);
    if (parse_time(r, line, t, e, &rec->time))
        return r->err;
    const char *time_tok = t;

    /* op */
    op = tok_start(e);
    if (!op)
        return missing(r, line, e, "<op>",
                       "<time> map|unmap|read|write|detach <dev> <pasid> ...");
    ope = tok_end(op);
    switch (ope - op) {
    case 3:
        if (memcmp(op, "map", 3) == 0) {
            kind = TRACE_MAP;
            break;
        }
        goto badop;
    case 4:
        if (memcmp(op, "read", 4) == 0) {
            kind = TRACE_READ;
            break;
        }
        goto badop;
    case 5:
        if (memcmp(op, "write", 5) == 0) {
            kind = TRACE_WRITE;
            break;
        }
        if (memcmp(op, "unmap", 5) == 0) {
            kind = TRACE_UNMAP;
            break;
        }
        goto badop;
    case 6:
        if (memcmp(op, "detach", 6) == 0) {
            kind = TRACE_DETACH;
            break;
        }
        goto badop;
    default:
    badop:
        return fail_at(r, r->line, colof(line, op),
                       "unknown record '%s'; expected map, unmap, read, write "
                       "or detach",
                       quote(q, sizeof(q), op, (size_t)(ope - op)));
    }
    rec->op = kind;
    use = usage[kind];

    /* dev */
    t = tok_start(ope);
    if (!t)
        return missing(r, line, ope, "<dev>", use);
    e = tok_end(t);
    if (isalpha((unsigned char)*t)) {
        char name[QBUF], raw[64];
        size_t len = (size_t)(e - t);
        int idx = -1;
        quote(name, sizeof(name), t, len);
        if (!r->lookup)
            return fail_at(r, r->line, colof(line, t),
                           "device name '%s' where no device has a name; "
                           "expected <dev> as a number",
                           name);
        if (len < sizeof(raw)) {
            memcpy(raw, t, len);
            raw[len] = '\0';
            idx = r->lookup(r->lookup_opaque, raw);
        }
        if (idx < 0)
            return fail_at(r, r->line, colof(line, t),
                           "unknown device '%s' (not a device of the "
                           "configuration)",
                           name);
        v = (uint64_t)idx;
    } else if (num_field(r, line, t, e, "<dev>",
                         "an unsigned 32-bit decimal number or a device name",
                         false, &v))
        return r->err;
    else if (r->map_n) { /* the trace's own numbering */
        if (v >= r->map_n)
            return fail_at(r, r->line, colof(line, t),
                           "device %" PRIu64 " is not in the trace's device "
                           "list (%u devices, 0 to %u)",
                           v, r->map_n, r->map_n - 1);
        if (r->map_idx[v] == -2)
            r->map_idx[v] = resolve_dev(r, r->map[v]);
        if (r->map_idx[v] < 0)
            return fail_at(r, r->line, colof(line, t),
                           "device %" PRIu64 " is '%s' in the trace's device "
                           "list: %s",
                           v, r->map[v],
                           r->map_idx[v] == -1
                               ? "not a device of the configuration"
                               : "no device has a name here");
        v = (uint64_t)r->map_idx[v];
    }
    if (v > UINT32_MAX)
        return fail_at(r, r->line, colof(line, t),
                       "device %" PRIu64 " out of range; expected <dev> < 2^32",
                       v);
    rec->dev = (uint32_t)v;

    /* pasid */
    t = tok_start(e);
    if (!t)
        return missing(r, line, e, "<pasid>", use);
    e = tok_end(t);
    if (num_field(r, line, t, e, "<pasid>", "a decimal or 0x hex number < 2^20",
                  true, &v))
        return r->err;
    if (v >= TRACE_PASID_LIMIT)
        return fail_at(r, r->line, colof(line, t),
                       "PASID %s out of range; expected <pasid> < 2^20 "
                       "(at most 0xfffff)",
                       quote(q, sizeof(q), t, (size_t)(e - t)));
    rec->pasid = (uint32_t)v;
    rec->perm = 0;
    rec->present = false;
    rec->page = TRACE_PAGE_4K;
    if (kind == TRACE_DETACH) {
        rec->addr = 0;
        rec->len = 0;
        goto eol;
    }

    /* addr */
    t = tok_start(e);
    if (!t)
        return missing(r, line, e, "<addr>", use);
    e = tok_end(t);
    const char *addr_tok = t;
    if (num_field(r, line, t, e, "<addr>", "a 64-bit decimal or 0x hex number",
                  true, &rec->addr))
        return r->err;

    /* len */
    t = tok_start(e);
    if (!t)
        return missing(r, line, e, "<len>", use);
    e = tok_end(t);
    const char *len_tok = t;
    if (parse_len(r, line, t, e, &rec->len))
        return r->err;
    if (rec->len - 1 > UINT64_MAX - rec->addr)
        return fail_at(r, r->line, colof(line, t),
                       "range 0x%" PRIx64 " + 0x%" PRIx64
                       " wraps past the end of the 64-bit address space; "
                       "expected <addr> + <len> - 1 <= 0xffffffffffffffff",
                       rec->addr, rec->len);

    if ((kind == TRACE_READ || kind == TRACE_WRITE) && rec->len > TRACE_MAX_DMA)
        return fail_at(r, r->line, colof(line, len_tok),
                       "DMA length 0x%" PRIx64 " is too large; expected "
                       "<len> <= 1G (0x%llx) per read or write record",
                       rec->len, TRACE_MAX_DMA);

    if (kind == TRACE_MAP) {
        t = tok_start(e);
        if (!t)
            return missing(r, line, e, "<perm>", use);
        e = tok_end(t);
        if (parse_perm(r, line, t, e, &rec->perm))
            return r->err;
        t = tok_start(e);
        if (!t)
            return missing(r, line, e, "present|absent", use);
        e = tok_end(t);
        if (e - t == 7 && memcmp(t, "present", 7) == 0)
            rec->present = true;
        else if (e - t == 6 && memcmp(t, "absent", 6) == 0)
            rec->present = false;
        else
            return fail_at(r, r->line, colof(line, t),
                           "bad population '%s'; expected present or absent",
                           quote(q, sizeof(q), t, (size_t)(e - t)));
        if (rec->present && rec->len > TRACE_MAX_PRESENT)
            return fail_at(r, r->line, colof(line, len_tok),
                           "present map length 0x%" PRIx64 " is too large; "
                           "expected <len> <= 64G (0x%llx) for a present "
                           "map (absent maps have no limit)",
                           rec->len, TRACE_MAX_PRESENT);
        t = tok_start(e);
        if (t) {
            e = tok_end(t);
            if (parse_page(r, line, t, e, &rec->page) ||
                check_aligned(r, line, addr_tok, len_tok, rec))
                return r->err;
        }
    }
eol:
    if (expect_eol(r, line, e, "end of line (or a # comment)"))
        return r->err;

    if (r->have_prev && rec->time < r->prev_time) {
        char a[64], b[64];
        return fail_at(r, r->line, colof(line, time_tok),
                       "time goes backwards: %s after %s; expected records in "
                       "non-decreasing time order",
                       fmt_time(r, rec->time, a, sizeof(a)),
                       fmt_time(r, r->prev_time, b, sizeof(b)));
    }
    r->have_prev = true;
    r->prev_time = rec->time;
    rec->line = r->line;
    return 0;
}

int trace_next(trace_reader_t *r, trace_record_t *rec)
{
    char *line;
    const char *t;
    int rc;

    if (r->err)
        return r->err;
    if (r->done)
        return 0;
    for (;;) {
        rc = next_content_line(r, &line, &t);
        if (rc <= 0) {
            if (rc == 0)
                r->done = true;
            return rc;
        }
        const char *e = tok_end(t);
        bool domain = e - t == 6 && !memcmp(t, "domain", 6);
        bool devices = e - t == 7 && !memcmp(t, "devices", 7);
        if (!domain && !devices)
            break;
        /* Header lines of their own come before the records. */
        if (r->any_record)
            return fail_at(r, r->line, colof(line, t),
                           "%s line after the first record; expected it "
                           "before the records",
                           domain ? "domain" : "devices");
        if (domain) {
            /* "domain guest|native": whose accesses the records are. */
            const char *v = tok_start(e), *ve = v ? tok_end(v) : NULL;
            if (v && ve - v == 5 && !memcmp(v, "guest", 5))
                r->domain = TRACE_DOMAIN_GUEST;
            else if (v && ve - v == 6 && !memcmp(v, "native", 6))
                r->domain = TRACE_DOMAIN_NATIVE;
            else
                return fail_at(r, r->line, colof(line, v ? v : e),
                               "expected 'domain guest' or 'domain native'");
            if ((rc = expect_eol(r, line, ve, "end of line")))
                return rc;
            continue;
        }
        /* "devices nic0,nic1": the trace's own device numbering. */
        char err[256];
        char *hash = strchr(e, '#'); /* a comment ends the list */
        if (hash)
            *hash = '\0';
        if (!r->map_set && (rc = set_map(r, e, err, sizeof(err))) < 0)
            return fail_at(r, r->line, colof(line, t), "%s", err);
    }
    r->any_record = true;
    rc = parse_record(r, line, t, rec);
    rec->domain = r->domain;
    return rc < 0 ? rc : 1;
}

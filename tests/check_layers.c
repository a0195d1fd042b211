/*
 * tests/check_layers.c - the layering rules, checked from the #include
 * lines of the source tree.
 *
 * Usage: check_layers [--expect a|b|c] SOURCE_DIR
 *
 * Reads every .c and .h file under sim, traces, pcie, iommu, ioasid, tools
 * and tests of SOURCE_DIR (tests/layers, which holds the fixture trees of
 * this checker, is skipped) and every `#include "..."` line in them. An
 * include names a file relative to SOURCE_DIR (the project's include root)
 * or, failing that, to the including file's directory. Rules:
 *
 *   a. A file of a library folder includes no header of a folder above it
 *      in the order sim < traces < pcie < iommu < ioasid < tools. tools may
 *      include every library; tests may include anything.
 *   b. A *_int.h header is included only from files in its own folder.
 *   c. The units of one library folder do not depend on each other in a
 *      circle. A unit is a .c file with the header of the same base name,
 *      or a header with no .c (a header-only unit such as an umbrella).
 *      Unit A depends on unit B when A's .c or .h includes B's header.
 *
 * Each violation is printed as "FILE:LINE: rule X (...): what", a cycle
 * with its path. Exit status: 0 when the tree follows the rules, 1 when it
 * does not, 2 when the tree cannot be read.
 *
 * With --expect R the meaning is turned round, for the fixture trees that
 * prove the checker can fail: exit 0 only when the check fails (status 1)
 * and reports at least one violation of rule R.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The folders scanned, lowest first; library folders come before tools. */
static const char *const folders[] = {"sim",    "traces", "pcie", "iommu",
                                      "ioasid", "tools",  "tests"};
#define NFOLDERS (sizeof(folders) / sizeof(folders[0]))
#define FOLDER_TOOLS 5
#define FOLDER_TESTS 6
#define FOLDER_NONE (-1)

/* Skipped while scanning: the checker's own fixture trees. */
#define FIXTURE_DIR "tests/layers"

typedef struct src_file {
    char *path; /* relative to the source dir */
    int folder; /* index in folders[] */
    int unit;   /* index in units */
} src_file_t;

typedef struct include {
    int from; /* index in files */
    unsigned line;
    char *target; /* resolved path relative to the source dir */
} include_t;

typedef struct edge {
    int to;  /* unit */
    int inc; /* the include that makes it */
} edge_t;

typedef struct unit {
    char *key; /* path without the extension */
    int folder;
    edge_t *edges;
    size_t nedges, edges_cap;
    int color; /* DFS: 0 white, 1 on the stack, 2 done */
} unit_t;

typedef struct checker {
    const char *root;
    src_file_t *files;
    size_t nfiles, files_cap;
    include_t *incs;
    size_t nincs, incs_cap;
    unit_t *units;
    size_t nunits, units_cap;
    unsigned violations[3]; /* per rule a, b, c */
    int io_error;
} checker_t;

/* Free everything the checker holds (so a sanitizer build reports no
 * leak). */
static void checker_free(checker_t *ck)
{
    for (size_t i = 0; i < ck->nfiles; i++)
        free(ck->files[i].path);
    free(ck->files);
    for (size_t i = 0; i < ck->nincs; i++)
        free(ck->incs[i].target);
    free(ck->incs);
    for (size_t i = 0; i < ck->nunits; i++) {
        free(ck->units[i].key);
        free(ck->units[i].edges);
    }
    free(ck->units);
}

static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return arr;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(arr, n * elem);
    if (!p) {
        fprintf(stderr, "check_layers: out of memory\n");
        exit(2);
    }
    *cap = n;
    return p;
}

static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) {
        fprintf(stderr, "check_layers: out of memory\n");
        exit(2);
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* buf = a/b; a path too long for the buffer stops the check. */
static void join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "check_layers: path too long: %s/%s\n", a, b);
        exit(2);
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The folder a relative path lies in (its first component), or FOLDER_NONE. */
static int folder_of(const char *path)
{
    const char *slash = strchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : strlen(path);
    for (size_t i = 0; i < NFOLDERS; i++)
        if (strlen(folders[i]) == n && strncmp(path, folders[i], n) == 0)
            return (int)i;
    return FOLDER_NONE;
}

static bool is_library(int folder)
{
    return folder >= 0 && folder <= FOLDER_TOOLS;
}

/* The length of the directory part of a path ("a/b/c.h" -> 3). */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

static bool exists(const checker_t *ck, const char *rel)
{
    char full[8192];
    struct stat st;
    join(full, sizeof(full), ck->root, rel);
    return stat(full, &st) == 0 && S_ISREG(st.st_mode);
}

static int unit_get(checker_t *ck, const char *key, size_t keylen, int folder)
{
    for (size_t i = 0; i < ck->nunits; i++)
        if (strlen(ck->units[i].key) == keylen &&
            strncmp(ck->units[i].key, key, keylen) == 0)
            return (int)i;
    ck->units =
        grow(ck->units, &ck->units_cap, ck->nunits + 1, sizeof(*ck->units));
    unit_t *u = &ck->units[ck->nunits];
    memset(u, 0, sizeof(*u));
    u->key = dup_str(key, keylen);
    u->folder = folder;
    return (int)ck->nunits++;
}

static int file_find(const checker_t *ck, const char *path)
{
    for (size_t i = 0; i < ck->nfiles; i++)
        if (strcmp(ck->files[i].path, path) == 0)
            return (int)i;
    return -1;
}

/* Record the #include "..." lines of one file. */
static void read_includes(checker_t *ck, int fi)
{
    char full[8192], line[4096];
    join(full, sizeof(full), ck->root, ck->files[fi].path);
    FILE *f = fopen(full, "r");
    if (!f) {
        fprintf(stderr, "check_layers: %s: %s\n", full, strerror(errno));
        ck->io_error = 1;
        return;
    }
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '#')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "include", 7) != 0)
            continue;
        p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '"')
            continue;
        const char *end = strchr(p, '"');
        if (!end || end == p)
            continue;
        char *name = dup_str(p, (size_t)(end - p));
        char *target = name;
        if (!exists(ck, name)) {
            /* Relative to the including file's directory. */
            const char *from = ck->files[fi].path;
            size_t d = dir_len(from);
            char dir[4096], rel[8192];
            if (d >= sizeof(dir))
                d = 0;
            memcpy(dir, from, d);
            dir[d] = '\0';
            if (d)
                join(rel, sizeof(rel), dir, name);
            if (d && exists(ck, rel)) {
                target = dup_str(rel, strlen(rel));
                free(name);
            }
        }
        ck->incs =
            grow(ck->incs, &ck->incs_cap, ck->nincs + 1, sizeof(*ck->incs));
        ck->incs[ck->nincs++] = (include_t){fi, lineno, target};
    }
    fclose(f);
}

/* Collect the .c and .h files under root/rel, depth first, sorted. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_dir(checker_t *ck, const char *rel, int folder)
{
    char full[8192];
    if (strcmp(rel, FIXTURE_DIR) == 0)
        return;
    join(full, sizeof(full), ck->root, rel);
    DIR *d = opendir(full);
    if (!d)
        return; /* a folder the tree does not have */
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        names = grow(names, &cap, n + 1, sizeof(*names));
        names[n++] = dup_str(de->d_name, strlen(de->d_name));
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char child[8192];
        struct stat st;
        join(child, sizeof(child), rel, names[i]);
        join(full, sizeof(full), ck->root, child);
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            scan_dir(ck, child, folder);
        } else if (ends_with(names[i], ".c") || ends_with(names[i], ".h")) {
            ck->files = grow(ck->files, &ck->files_cap, ck->nfiles + 1,
                             sizeof(*ck->files));
            src_file_t *sf = &ck->files[ck->nfiles++];
            sf->path = dup_str(child, strlen(child));
            sf->folder = folder;
            sf->unit = unit_get(ck, child, strlen(child) - 2, folder);
        }
        free(names[i]);
    }
    free(names);
}

/* Rules a and b, include by include. */
static void check_includes(checker_t *ck)
{
    for (size_t i = 0; i < ck->nincs; i++) {
        const include_t *in = &ck->incs[i];
        const src_file_t *from = &ck->files[in->from];
        int to = folder_of(in->target);
        if (is_library(from->folder) && to != FOLDER_NONE &&
            to > from->folder) {
            printf("%s:%u: rule a (no include of a folder above): "
                   "%s/ may not include %s (order: sim < traces < pcie < "
                   "iommu < ioasid < tools)\n",
                   from->path, in->line, folders[from->folder], in->target);
            ck->violations[0]++;
        }
        if (ends_with(in->target, "_int.h")) {
            size_t dt = dir_len(in->target), df = dir_len(from->path);
            if (dt != df || strncmp(in->target, from->path, dt) != 0) {
                printf("%s:%u: rule b (a *_int.h stays in its folder): "
                       "%s is included from outside %.*s/\n",
                       from->path, in->line, in->target, (int)dt, in->target);
                ck->violations[1]++;
            }
        }
    }
}

/* Unit edges: A's .c or .h includes B's header, A and B in one library
 * folder. */
static void build_edges(checker_t *ck)
{
    for (size_t i = 0; i < ck->nincs; i++) {
        const include_t *in = &ck->incs[i];
        const src_file_t *from = &ck->files[in->from];
        if (!is_library(from->folder) || !ends_with(in->target, ".h"))
            continue;
        int tf = file_find(ck, in->target);
        if (tf < 0 || ck->files[tf].folder != from->folder)
            continue;
        int a = from->unit, b = ck->files[tf].unit;
        if (a == b)
            continue;
        unit_t *u = &ck->units[a];
        bool dup = false;
        for (size_t k = 0; k < u->nedges; k++)
            dup |= u->edges[k].to == b;
        if (dup)
            continue;
        u->edges =
            grow(u->edges, &u->edges_cap, u->nedges + 1, sizeof(*u->edges));
        u->edges[u->nedges++] = (edge_t){b, (int)i};
    }
}

/* Rule c: depth-first search; an edge back to a unit on the stack closes a
 * cycle, printed from that unit round to itself. */
static void dfs(checker_t *ck, int u, int *stack, int *via, size_t depth)
{
    unit_t *un = &ck->units[u];
    un->color = 1;
    stack[depth] = u;
    for (size_t k = 0; k < un->nedges; k++) {
        int v = un->edges[k].to;
        via[depth] = un->edges[k].inc;
        if (ck->units[v].color == 0) {
            dfs(ck, v, stack, via, depth + 1);
        } else if (ck->units[v].color == 1) {
            size_t s = 0;
            while (stack[s] != v)
                s++;
            const include_t *first = &ck->incs[via[s]];
            printf("%s:%u: rule c (no circle between the units of %s/): ",
                   ck->files[first->from].path, first->line,
                   folders[un->folder]);
            for (size_t j = s; j <= depth; j++) {
                const include_t *in = &ck->incs[via[j]];
                printf("%s -> [%s:%u includes %s] -> ", ck->units[stack[j]].key,
                       ck->files[in->from].path, in->line, in->target);
            }
            printf("%s\n", ck->units[v].key);
            ck->violations[2]++;
        }
    }
    un->color = 2;
}

static void check_cycles(checker_t *ck)
{
    int *stack = calloc(ck->nunits + 1, sizeof(int));
    int *via = calloc(ck->nunits + 1, sizeof(int));
    if (!stack || !via) {
        fprintf(stderr, "check_layers: out of memory\n");
        exit(2);
    }
    for (size_t u = 0; u < ck->nunits; u++)
        if (is_library(ck->units[u].folder) && ck->units[u].color == 0)
            dfs(ck, (int)u, stack, via, 0);
    free(stack);
    free(via);
}

static void usage(void)
{
    fprintf(stderr, "usage: check_layers [--expect a|b|c] SOURCE_DIR\n");
}

int main(int argc, char **argv)
{
    int expect = -1;
    int argi = 1;
    if (argi + 1 < argc && strcmp(argv[argi], "--expect") == 0) {
        const char *r = argv[argi + 1];
        if (strlen(r) != 1 || r[0] < 'a' || r[0] > 'c') {
            usage();
            return 2;
        }
        expect = r[0] - 'a';
        argi += 2;
    }
    if (argi + 1 != argc) {
        usage();
        return 2;
    }

    checker_t ck = {.root = argv[argi]};
    struct stat st;
    if (stat(ck.root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "check_layers: %s: not a directory\n", ck.root);
        return 2;
    }
    for (size_t i = 0; i < NFOLDERS; i++)
        scan_dir(&ck, folders[i], (int)i);
    if (ck.nfiles == 0) {
        fprintf(stderr, "check_layers: %s: no source files found\n", ck.root);
        return 2;
    }
    for (size_t i = 0; i < ck.nfiles; i++)
        read_includes(&ck, (int)i);
    if (ck.io_error) {
        checker_free(&ck);
        return 2;
    }

    check_includes(&ck);
    build_edges(&ck);
    check_cycles(&ck);

    unsigned total = ck.violations[0] + ck.violations[1] + ck.violations[2];
    printf("check_layers: %zu files, %zu includes, %zu units: %u violations "
           "(a: %u, b: %u, c: %u)\n",
           ck.nfiles, ck.nincs, ck.nunits, total, ck.violations[0],
           ck.violations[1], ck.violations[2]);
    int status = total ? 1 : 0;
    int rc = status;
    if (expect >= 0 && status == 1 && ck.violations[expect] > 0) {
        printf("check_layers: rule %c fails here, as expected\n", 'a' + expect);
        rc = 0;
    } else if (expect >= 0) {
        printf("check_layers: expected a violation of rule %c, found none\n",
               'a' + expect);
        rc = 1;
    }
    checker_free(&ck);
    return rc;
}

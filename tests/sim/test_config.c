/*
 * tests/sim/test_config.c - parameter tables, the INI reader, --set, the
 * dump round trip and the listing. Error messages are checked exactly,
 * with their line numbers and key names.
 */
#include <check.h>

#include "tests/check_run.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/sim.h"

typedef struct tcfg {
    uint64_t entries, ways, bytes;
    double ratio;
    bool ats;
    unsigned arch;
    sim_time_t latency;
    sim_dist_t walk;
    char name[SIM_PARAM_STR_MAX];
} tcfg_t;

static const char *const arch_values[] = {"vtd", "smmuv3", NULL};

static const sim_param_t params[] = {
    {"iommu", "iotlb_entries", SIM_PARAM_UINT, "512", 1, 1 << 20, "entries",
     "IOTLB entries", NULL, offsetof(tcfg_t, entries)},
    {"iommu", "iotlb_ways", SIM_PARAM_UINT, "8", 1, 64, "ways", "IOTLB ways",
     NULL, offsetof(tcfg_t, ways)},
    {"iommu", "arch", SIM_PARAM_ENUM, "vtd", 0, 0, "", "architecture",
     arch_values, offsetof(tcfg_t, arch)},
    {"iommu", "walk", SIM_PARAM_DIST, "lognormal(100, 0.2)", 0, 0, "ns",
     "page walk memory access", NULL, offsetof(tcfg_t, walk)},
    {"iommu", "ats", SIM_PARAM_BOOL, "true", 0, 0, "", "ATS enabled", NULL,
     offsetof(tcfg_t, ats)},
    {"link", "latency", SIM_PARAM_TIME, "250", 1, 100000, "ns", "link latency",
     NULL, offsetof(tcfg_t, latency)},
    {"link", "ratio", SIM_PARAM_DOUBLE, "0.5", 0, 1, "", "a ratio", NULL,
     offsetof(tcfg_t, ratio)},
    {"link", "name", SIM_PARAM_STRING, "pcie0", 0, 0, "", "link name", NULL,
     offsetof(tcfg_t, name)},
    {"link", "bytes", SIM_PARAM_UINT, "4K", 0, 0, "bytes", "no range", NULL,
     offsetof(tcfg_t, bytes)},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

typedef struct fixture {
    sim_log_t log;
    sim_config_t *cfg;
    tcfg_t v;
} fixture_t;

static void fx_init(fixture_t *fx)
{
    memset(fx, 0, sizeof(*fx));
    sim_log_init(&fx->log, SIM_LOG_ERROR, NULL, NULL);
    fx->cfg = sim_config_create(&fx->log);
    ck_assert_ptr_nonnull(fx->cfg);
    ck_assert_int_eq(sim_config_register(fx->cfg, params, NPARAMS, &fx->v), 0);
}

static void fx_fini(fixture_t *fx)
{
    sim_config_destroy(fx->cfg);
}

/* Loading `text` must fail with exactly `msg` as the last error. */
static void load_bad(const char *text, const char *msg)
{
    fixture_t fx;
    fx_init(&fx);
    tcfg_t before = fx.v;
    ck_assert_int_eq(sim_config_load_string(fx.cfg, "cfg.ini", text), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    /* A rejected file changes nothing. */
    ck_assert(memcmp(&before, &fx.v, sizeof(before)) == 0);
    fx_fini(&fx);
}

static void set_bad(const char *arg, const char *msg)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(sim_config_set(fx.cfg, arg), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    fx_fini(&fx);
}

START_TEST(test_defaults)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_uint_eq(fx.v.entries, 512);
    ck_assert_uint_eq(fx.v.ways, 8);
    ck_assert_uint_eq(fx.v.arch, 0);
    ck_assert_int_eq(fx.v.walk.kind, SIM_DIST_LOGNORMAL);
    ck_assert(fx.v.walk.part[0].a == 100000.0);
    ck_assert(fx.v.walk.part[0].b == 0.2);
    ck_assert(fx.v.ats);
    ck_assert_uint_eq(fx.v.latency, 250000);
    ck_assert(fx.v.ratio == 0.5);
    ck_assert_str_eq(fx.v.name, "pcie0");
    ck_assert_uint_eq(fx.v.bytes, 4096);
    ck_assert_uint_eq(fx.log.errors, 0);

    const sim_param_t *p = sim_config_find(fx.cfg, "iommu.arch");
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p->type, SIM_PARAM_ENUM);
    ck_assert_str_eq(p->key, "arch");
    ck_assert_ptr_null(sim_config_find(fx.cfg, "iommu.nope"));
    ck_assert_ptr_null(sim_config_find(fx.cfg, "arch"));
    fx_fini(&fx);
}
END_TEST

START_TEST(test_load_valid)
{
    fixture_t fx;
    fx_init(&fx);
    const char *text = "; a comment\n"
                       "# another\n"
                       "\n"
                       "  [iommu]   ; trailing comment\n"
                       "iotlb_entries = 0x100\n"
                       "iotlb_ways=16   # ways\n"
                       "\tarch = smmuv3\r\n"
                       "walk = mix(0.9: 100, 0.1: exp(1us))\n"
                       "ats = off\n"
                       "[link]\n"
                       "latency = 1.5us\n"
                       "ratio = 0.25\n"
                       "name = my link#1 ; the # inside stays\n"
                       "bytes = 2M";
    ck_assert_int_eq(sim_config_load_string(fx.cfg, "cfg.ini", text), 0);
    ck_assert_uint_eq(fx.log.errors, 0);
    ck_assert_uint_eq(fx.v.entries, 256);
    ck_assert_uint_eq(fx.v.ways, 16);
    ck_assert_uint_eq(fx.v.arch, 1);
    ck_assert_int_eq(fx.v.walk.kind, SIM_DIST_MIX);
    ck_assert(!fx.v.ats);
    ck_assert_uint_eq(fx.v.latency, 1500000);
    ck_assert(fx.v.ratio == 0.25);
    ck_assert_str_eq(fx.v.name, "my link#1");
    ck_assert_uint_eq(fx.v.bytes, 2u << 20);

    /* Quoted strings keep comment characters and spaces. */
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "q.ini",
                               "[link]\nname = \" a ; b # \\\"c\\\" \" ; x\n"),
        0);
    ck_assert_str_eq(fx.v.name, " a ; b # \"c\" ");
    fx_fini(&fx);
}
END_TEST

START_TEST(test_load_errors)
{
    load_bad("[iommu]\n"
             "iotlb_ways = 4\n"
             "\n"
             "; x\n"
             "\n"
             "\n"
             "walkers = 4\n",
             "cfg.ini:7: unknown key 'walkers' in section [iommu]");
    load_bad(
        "[iommu]\n\niotlb_entries = abc\n",
        "cfg.ini:3: iommu.iotlb_entries: 'abc' is not an unsigned integer");
    load_bad("[iommu]\n\n\niotlb_ways = 0\n",
             "cfg.ini:4: iommu.iotlb_ways: 0 is out of range [1, 64]");
    load_bad("[iommu]\niotlb_ways = 65 ; too many\n",
             "cfg.ini:2: iommu.iotlb_ways: 65 is out of range [1, 64]");
    load_bad("\n[foo]\nbar = 1\n", "cfg.ini:2: unknown section [foo]");
    load_bad("[iommu]\n\n\n\n\n\n\n\nthis is not valid\n",
             "cfg.ini:9: expected 'key = value' or '[section]'");
    load_bad("[iommu]\n = 5\n",
             "cfg.ini:2: expected 'key = value' or '[section]'");
    load_bad("[iommu]\niotlb_ways = 4\niotlb_ways = 8\n",
             "cfg.ini:3: duplicate key 'iotlb_ways' in section [iommu] (first "
             "set on "
             "line 2)");
    load_bad("iotlb_ways = 4\n",
             "cfg.ini:1: key 'iotlb_ways' is outside any [section]");
    load_bad("[iommu\n", "cfg.ini:1: expected ']' to close the section name");
    load_bad("[iommu] x\n", "cfg.ini:1: unexpected text 'x' after [section]");
    load_bad("[iommu]\narch = arm\n", "cfg.ini:2: iommu.arch: 'arm' is not a "
                                      "valid value (expected one of: vtd, "
                                      "smmuv3)");
    load_bad(
        "[iommu]\nats = maybe\n",
        "cfg.ini:2: iommu.ats: 'maybe' is not a boolean (expected true/false, "
        "yes/no, on/off or 1/0)");
    load_bad("[iommu]\niotlb_entries = 99999999999999999999\n",
             "cfg.ini:2: iommu.iotlb_entries: '99999999999999999999' is too "
             "large (at "
             "most 18446744073709551615)");
    load_bad("[link]\nbytes = 20000000000G\n",
             "cfg.ini:2: link.bytes: '20000000000G' is too large (at most "
             "18446744073709551615)");
    load_bad("[link]\nbytes = -1\n",
             "cfg.ini:2: link.bytes: '-1' is not an unsigned integer");
    load_bad("[link]\nbytes = 0x\n",
             "cfg.ini:2: link.bytes: '0x' is not an unsigned integer");
    load_bad("[link]\nbytes = 4KB\n",
             "cfg.ini:2: link.bytes: '4KB' is not an unsigned integer");
    load_bad("[link]\nratio = 1.5x\n",
             "cfg.ini:2: link.ratio: '1.5x' is not a number");
    load_bad("[link]\nratio = nan\n",
             "cfg.ini:2: link.ratio: 'nan' is not a finite number");
    load_bad("[link]\nratio = 1.01\n",
             "cfg.ini:2: link.ratio: 1.01 is out of range [0, 1]");
    load_bad("[link]\nlatency = 200us\n",
             "cfg.ini:2: link.latency: 200us is out of range [1, 100000] ns");
    load_bad("[link]\nlatency = 0.5\n",
             "cfg.ini:2: link.latency: 0.5 is out of range [1, 100000] ns");
    load_bad("[link]\nlatency = fast\n",
             "cfg.ini:2: link.latency: 'fast' is not a time (expected a number "
             "of ns, "
             "fractions allowed, or a number with a ps/ns/us/ms suffix)");
    load_bad("[link]\nlatency = 5s\n", "cfg.ini:2: link.latency: '5s' has an "
                                       "unknown unit (expected ps, ns, us or "
                                       "ms)");
    load_bad("[iommu]\nwalk = uniform(3, 1)\n",
             "cfg.ini:2: iommu.walk: bad distribution 'uniform(3, 1)': "
             "uniform(a, b): a "
             "(3 ns) is greater than b (1 ns); expected a <= b");
    load_bad("[link]\nname = \"abc\n",
             "cfg.ini:2: link.name: unterminated quoted value (expected a "
             "closing '\"')");
    load_bad(
        "[link]\nname = \"abc\" def\n",
        "cfg.ini:2: link.name: unexpected text ' def' after the quoted value");

    char big[300];
    memset(big, 'x', 200);
    big[200] = '\0';
    char text[400], msg[400];
    snprintf(text, sizeof(text), "[link]\nname = %s\n", big);
    load_bad(text,
             "cfg.ini:2: link.name: string too long (200 bytes, at most 127)");

    /* A line longer than the limit. */
    char *longl = malloc(6000);
    strcpy(longl, "[link]\nname = ");
    size_t n = strlen(longl);
    memset(longl + n, 'y', 5000 - (n - 7));
    longl[7 + 5000] = '\0';
    snprintf(msg, sizeof(msg),
             "cfg.ini:2: line too long (5000 bytes, at most 4096)");
    load_bad(longl, msg);
    free(longl);
}
END_TEST

/* Writes `len` bytes to a temporary file and loads it. */
static int load_bytes(fixture_t *fx, const char *bytes, size_t len, char *path,
                      size_t pathlen)
{
    snprintf(path, pathlen, "/tmp/test_config_%ld.ini", (long)getpid());
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    fclose(f);
    int rc = sim_config_load_file(fx->cfg, path);
    unlink(path);
    return rc;
}

START_TEST(test_hostile_files)
{
    fixture_t fx;
    char path[256], msg[512];

    fx_init(&fx);
    /* A NUL byte in the middle of a line. */
    static const char nul[] = "[link]\nname = a\0b\nratio = 0.1\n";
    ck_assert_int_eq(load_bytes(&fx, nul, sizeof(nul) - 1, path, sizeof(path)),
                     -EINVAL);
    snprintf(msg, sizeof(msg),
             "%s:2: NUL byte in line (a text file is expected)", path);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    ck_assert(fx.v.ratio == 0.5);

    /* A 2 MiB line. */
    size_t big = 2u << 20;
    char *buf = malloc(big + 64);
    strcpy(buf, "[link]\n");
    memset(buf + 7, 'z', big);
    memcpy(buf + 7 + big, "\nratio = 0.1\n", 13);
    ck_assert_int_eq(load_bytes(&fx, buf, 7 + big + 13, path, sizeof(path)),
                     -EINVAL);
    snprintf(msg, sizeof(msg), "%s:2: line too long (%zu bytes, at most 4096)",
             path, big);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);

    /* Binary garbage: rejected, no crash, a bounded number of messages. */
    sim_rng_t rng;
    sim_rng_seed(&rng, 1, "garbage");
    for (size_t i = 0; i < big; i++)
        buf[i] = (char)sim_rng_u64(&rng);
    unsigned before = fx.log.errors;
    ck_assert_int_eq(load_bytes(&fx, buf, big, path, sizeof(path)), -EINVAL);
    ck_assert_uint_le(fx.log.errors - before, 51);
    free(buf);

    /* Missing file. */
    ck_assert_int_eq(sim_config_load_file(fx.cfg, "/nonexistent/dir/x.ini"),
                     -ENOENT);
    ck_assert_str_eq(
        sim_log_last_error(&fx.log),
        "/nonexistent/dir/x.ini: cannot open: No such file or directory");

    /* A valid file, without a final newline. */
    static const char ok[] = "[link]\r\nratio = 0.125";
    ck_assert_int_eq(load_bytes(&fx, ok, sizeof(ok) - 1, path, sizeof(path)),
                     0);
    ck_assert(fx.v.ratio == 0.125);
    fx_fini(&fx);
}
END_TEST

START_TEST(test_set)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.iotlb_ways=32"), 0);
    ck_assert_uint_eq(fx.v.ways, 32);
    ck_assert_int_eq(sim_config_set(fx.cfg, " link.name = with spaces "), 0);
    ck_assert_str_eq(fx.v.name, "with spaces");
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.name=\" padded \""), 0);
    ck_assert_str_eq(fx.v.name, " padded ");
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.name="), 0);
    ck_assert_str_eq(fx.v.name, "");
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.walk=exp(2us)"), 0);
    ck_assert_int_eq(fx.v.walk.kind, SIM_DIST_EXP);
    ck_assert_uint_eq(fx.log.errors, 0);
    fx_fini(&fx);

    set_bad("iommu.foo=1", "--set iommu.foo=1: unknown key 'iommu.foo'");
    set_bad("x", "--set x: expected section.key=value");
    set_bad("x=1", "--set x=1: expected section.key=value");
    set_bad(".x=1", "--set .x=1: expected section.key=value");
    set_bad("iommu.=1", "--set iommu.=1: expected section.key=value");
    set_bad("iommu.iotlb_ways=0",
            "--set iommu.iotlb_ways=0: 0 is out of range [1, 64]");
    set_bad("iommu.arch=x86", "--set iommu.arch=x86: 'x86' is not a valid "
                              "value (expected one of: vtd, "
                              "smmuv3)");
}
END_TEST

START_TEST(test_override_order)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "a.ini",
                               "[iommu]\niotlb_ways = 16\nats = no\n"),
        0);
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.iotlb_ways=32"), 0);
    ck_assert_uint_eq(fx.v.ways, 32);
    ck_assert(!fx.v.ats);
    ck_assert_uint_eq(fx.v.entries, 512); /* untouched keys keep defaults */
    /* A second file may set the same key again (duplicates are per file). */
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "b.ini", "[iommu]\niotlb_ways = 4\n"),
        0);
    ck_assert_uint_eq(fx.v.ways, 4);
    fx_fini(&fx);
}
END_TEST

static void assert_same_cfg(const tcfg_t *a, const tcfg_t *b)
{
    ck_assert_uint_eq(a->entries, b->entries);
    ck_assert_uint_eq(a->ways, b->ways);
    ck_assert_uint_eq(a->bytes, b->bytes);
    ck_assert(a->ratio == b->ratio);
    ck_assert_int_eq(a->ats, b->ats);
    ck_assert_uint_eq(a->arch, b->arch);
    ck_assert_uint_eq(a->latency, b->latency);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->walk.kind, b->walk.kind);
    ck_assert_uint_eq(a->walk.nparts, b->walk.nparts);
    for (unsigned i = 0; i < a->walk.nparts; i++) {
        ck_assert_int_eq(a->walk.part[i].kind, b->walk.part[i].kind);
        ck_assert(a->walk.part[i].a == b->walk.part[i].a);
        ck_assert(a->walk.part[i].b == b->walk.part[i].b);
        ck_assert(a->walk.part[i].weight == b->walk.part[i].weight);
    }
}

static char *dump(sim_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_dump(cfg, f), 0);
    fclose(f);
    return buf;
}

static void round_trip(const char *const *sets, size_t nsets)
{
    fixture_t a, b;
    fx_init(&a);
    fx_init(&b);
    for (size_t i = 0; i < nsets; i++)
        ck_assert_msg(sim_config_set(a.cfg, sets[i]) == 0, "%s: %s", sets[i],
                      sim_log_last_error(&a.log));
    char *text = dump(a.cfg);
    /* b starts from other values, so every key must come from the dump. */
    ck_assert_int_eq(sim_config_set(b.cfg, "iommu.iotlb_entries=3"), 0);
    ck_assert_int_eq(sim_config_set(b.cfg, "link.name=other"), 0);
    ck_assert_msg(sim_config_load_string(b.cfg, "dump.ini", text) == 0,
                  "%s\n%s", sim_log_last_error(&b.log), text);
    assert_same_cfg(&a.v, &b.v);
    char *again = dump(b.cfg);
    ck_assert_str_eq(text, again);
    free(text);
    free(again);
    fx_fini(&a);
    fx_fini(&b);
}

START_TEST(test_dump_round_trip)
{
    static const char *const none[] = {NULL};
    round_trip(none, 0);

    static const char *const s1[] = {
        "iommu.iotlb_entries=0x12345",
        "iommu.iotlb_ways=3",
        "iommu.arch=smmuv3",
        "iommu.ats=false",
        "iommu.walk=mix(0.97: lognormal(2us, 0.4), 0.03: uniform(10us, 100us))",
        "link.latency=1.234",
        "link.ratio=0.1",
        "link.name=\" tricky ; # \\\"quoted\\\" \\\\ \"",
        "link.bytes=18446744073709551615",
    };
    round_trip(s1, sizeof(s1) / sizeof(s1[0]));

    static const char *const s2[] = {
        "link.latency=1001ps", "link.ratio=0.30000000000000004",
        "link.name=",          "iommu.walk=0.0001",
        "link.bytes=0",
    };
    round_trip(s2, sizeof(s2) / sizeof(s2[0]));

    /* The dump itself, for the defaults. */
    fixture_t fx;
    fx_init(&fx);
    char *text = dump(fx.cfg);
    ck_assert_str_eq(text, "[iommu]\n"
                           "iotlb_entries = 512\n"
                           "iotlb_ways = 8\n"
                           "arch = vtd\n"
                           "walk = lognormal(100, 0.2)\n"
                           "ats = true\n"
                           "\n"
                           "[link]\n"
                           "latency = 250\n"
                           "ratio = 0.5\n"
                           "name = pcie0\n"
                           "bytes = 4096\n");
    free(text);
    fx_fini(&fx);
}
END_TEST

START_TEST(test_list)
{
    fixture_t fx;
    char *buf = NULL;
    size_t len = 0;

    fx_init(&fx);
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_list(fx.cfg, f), 0);
    fclose(f);
    for (size_t i = 0; i < NPARAMS; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s.%s ", params[i].section,
                 params[i].key);
        ck_assert_msg(strstr(buf, name) != NULL, "%s missing from\n%s", name,
                      buf);
        ck_assert_ptr_nonnull(strstr(buf, params[i].desc));
    }
    ck_assert_ptr_nonnull(strstr(buf, "enum(vtd|smmuv3)"));
    ck_assert_ptr_nonnull(strstr(buf, "[1, 64]"));
    ck_assert_ptr_nonnull(strstr(buf, "[1, 100000]"));
    ck_assert_ptr_nonnull(strstr(buf, "lognormal(100, 0.2)"));
    /* One header line plus one line per key. */
    size_t lines = 0;
    for (char *p = buf; *p; p++)
        lines += *p == '\n';
    ck_assert_uint_eq(lines, NPARAMS + 1);
    /* The iotlb_ways row carries its columns in order. */
    char *row = strstr(buf, "iommu.iotlb_ways ");
    ck_assert_ptr_nonnull(row);
    row += strlen("iommu.iotlb_ways ");
    char *t = strstr(row, "uint"), *d = strstr(row, "8"),
         *r = strstr(row, "[1, 64]"), *u = strstr(row, "ways"),
         *ds = strstr(row, "IOTLB ways");
    ck_assert(t && d && r && u && ds && t < d && d < r && r < u && u < ds);
    free(buf);
    fx_fini(&fx);
}
END_TEST

START_TEST(test_register_errors)
{
    sim_log_t log;
    tcfg_t v;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);

    ck_assert_int_eq(sim_config_register(cfg, params, NPARAMS, &v), 0);
    ck_assert_int_eq(sim_config_register(cfg, params, 1, &v), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&log),
                     "config: duplicate key 'iommu.iotlb_entries'");
    sim_param_t bad = params[1];
    bad.key = "other";
    bad.def = "100";
    ck_assert_int_eq(sim_config_register(cfg, &bad, 1, &v), -EINVAL);
    ck_assert_str_eq(
        sim_log_last_error(&log),
        "config: default of iommu.other: 100 is out of range [1, 64]");
    bad.def = "8";
    bad.key = "bad key";
    ck_assert_int_eq(sim_config_register(cfg, &bad, 1, &v), -EINVAL);
    ck_assert_ptr_null(sim_config_find(cfg, "iommu.other"));
    sim_config_destroy(cfg);
}
END_TEST

START_TEST(test_parse_time)
{
    static const struct {
        const char *text;
        sim_time_t ps;
    } ok[] = {
        {"250", 250000},
        {"1.5", 1500},
        {"0.001", 1},
        {"1.2345", 1235},
        {"1.2344", 1234},
        {"0.0004", 0},
        {"2us", 2000000},
        {"2 us", 2000000},
        {"3ms", 3000000000ull},
        {"7ps", 7},
        {"0.5ps", 1},
        {".5", 500},
        {"10.", 10000},
        {" 42ns ", 42000},
        {"1.000001us", 1000001},
        {"18446744073709551615ps", UINT64_MAX},
    };
    char err[256];
    sim_time_t t;

    for (unsigned i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(sim_parse_time(ok[i].text, &t, err, sizeof(err)) == 0,
                      "%s: %s", ok[i].text, err);
        ck_assert_msg(t == ok[i].ps, "%s: %llu", ok[i].text,
                      (unsigned long long)t);
    }
    static const char *const bad[] = {"",
                                      "x",
                                      "-1",
                                      "1.5.2",
                                      "5 s",
                                      "5nss",
                                      "1e3",
                                      "18446744073709551616ps",
                                      "18446744073709552ns"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(sim_parse_time(bad[i], &t, err, sizeof(err)) == -EINVAL,
                      "%s", bad[i]);
    sim_parse_time("18446744073709552ns", &t, err, sizeof(err));
    ck_assert_str_eq(err, "'18446744073709552ns' is too large for a time");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_load_valid);
    tcase_add_test(tc, test_load_errors);
    tcase_add_test(tc, test_hostile_files);
    tcase_add_test(tc, test_set);
    tcase_add_test(tc, test_override_order);
    tcase_add_test(tc, test_dump_round_trip);
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_register_errors);
    tcase_add_test(tc, test_parse_time);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}

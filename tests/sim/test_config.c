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
#include "tests/test_util.h"

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

/* Value syntaxes not covered above: upper-case 0X, lower-case suffixes, a
 * time whose fraction overflows, a double that is empty or starts with a
 * blank (strtod would skip it: the value must be the number alone). */
START_TEST(test_value_syntax_edges)
{
    fixture_t fx;
    char err[256];
    sim_time_t t;

    fx_init(&fx);
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.iotlb_entries=0X1F"), 0);
    ck_assert_uint_eq(fx.v.entries, 31);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.bytes=3k"), 0);
    ck_assert_uint_eq(fx.v.bytes, 3u << 10);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.bytes=5m"), 0);
    ck_assert_uint_eq(fx.v.bytes, 5u << 20);
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.bytes=2g"), 0);
    ck_assert_uint_eq(fx.v.bytes, 2ull << 30);
    /* Escapes of a quoted --set value (config.h: \\ \" \n \t \r). */
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.name=\"a\\nb\\tc\\rd\\\\\""),
                     0);
    ck_assert_str_eq(fx.v.name, "a\nb\tc\rd\\");
    ck_assert_uint_eq(fx.log.errors, 0);
    fx_fini(&fx);

    set_bad("link.ratio=\" 0.5\"", "--set link.ratio=\" 0.5\": ' 0.5' is not "
                                   "a number");
    load_bad("[link]\nratio =\n", "cfg.ini:2: link.ratio: '' is not a number");
    set_bad("link.name=\"a\" b",
            "--set link.name=\"a\" b: unexpected text after the quoted value");

    /* 18446744073709551 ns is 18446744073709551000 ps; .616 more passes
     * 2^64 - 1 = 18446744073709551615 only in the fraction. */
    ck_assert_int_eq(
        sim_parse_time("18446744073709551.615", &t, err, sizeof(err)), 0);
    ck_assert_uint_eq(t, UINT64_MAX);
    ck_assert_int_eq(
        sim_parse_time("18446744073709551.616", &t, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "'18446744073709551.616' is too large for a time");
    /* No text and no error buffer: still an error, nothing written. */
    ck_assert_int_eq(sim_parse_time(NULL, &t, NULL, 0), -EINVAL);
    ck_assert_int_eq(sim_parse_time(NULL, &t, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "'' is not a time (expected a number of ns, "
                          "fractions allowed, or a number with a ps/ns/us/ms "
                          "suffix)");
}
END_TEST

/* An enum with more values than a message can list: the message and the
 * listing name whole values only, in order, as many as fit. */
START_TEST(test_enum_many_values)
{
    static char names[40][24];
    static const char *values[41];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "value_number_%02d", i);
        values[i] = names[i];
    }
    values[40] = NULL;
    const sim_param_t p[] = {{"e", "mode", SIM_PARAM_ENUM, "value_number_00", 0,
                              0, "", "a mode", values, 0}};
    unsigned v;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(sim_config_register(cfg, p, 1, &v), 0);
    ck_assert_int_eq(sim_config_set(cfg, "e.mode=value_number_39"), 0);
    ck_assert_uint_eq(v, 39);
    ck_assert_int_eq(sim_config_set(cfg, "e.mode=x"), -EINVAL);

    const char *m = sim_log_last_error(&log);
    const char *pre = "--set e.mode=x: 'x' is not a valid value (expected "
                      "one of: ";
    ck_assert_int_eq(strncmp(m, pre, strlen(pre)), 0);
    char full[2048] = "";
    for (int i = 0; i < 40; i++) {
        if (i)
            strcat(full, ", ");
        strcat(full, names[i]);
    }
    /* The list given is a prefix of the full list ending on a whole name,
     * and shorter than it. */
    const char *list = m + strlen(pre);
    size_t n = strlen(list);
    ck_assert_int_eq(list[n - 1], ')');
    n--;
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_lt(n, strlen(full));
    ck_assert_int_eq(strncmp(list, full, n), 0);
    ck_assert_int_eq(full[n], ',');

    /* The listing's type column: "enum(" then whole names joined by '|'
     * and ')' if it fits. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_list(cfg, f), 0);
    fclose(f);
    char *row = strstr(buf, "\ne.mode ");
    ck_assert_ptr_nonnull(row);
    char *type = strstr(row, "enum(value_number_00|value_number_01|");
    ck_assert_ptr_nonnull(type);
    char *end = strchr(type, ' ');
    ck_assert_ptr_nonnull(end);
    for (char *q = type + 5; q < end; q += 16) {
        ck_assert_int_eq(strncmp(q, "value_number_", 13), 0);
        ck_assert(q[15] == '|' || q[15] == ')' || q[15] == ' ');
    }
    free(buf);
    sim_config_destroy(cfg);
}
END_TEST

/* Tables that are programming errors (config.h, sim_config_register):
 * each is refused whole, with a message naming the key. */
START_TEST(test_register_table_errors)
{
    static const char *const none[] = {NULL};
    struct {
        sim_param_t p[2];
        size_t n;
        const char *msg;
    } cases[] = {
        {{{NULL, "k", SIM_PARAM_UINT, "1", 0, 0, "", "", NULL, 0}},
         1,
         "config: bad parameter name '(null).k' (letters, digits, _ and - "
         "expected)"},
        {{{"s", NULL, SIM_PARAM_UINT, "1", 0, 0, "", "", NULL, 0}},
         1,
         "config: bad parameter name 's.(null)' (letters, digits, _ and - "
         "expected)"},
        {{{"s", "k.x", SIM_PARAM_UINT, "1", 0, 0, "", "", NULL, 0}},
         1,
         "config: bad parameter name 's.k.x' (letters, digits, _ and - "
         "expected)"},
        {{{"s", "k", (sim_param_type_t)99, "1", 0, 0, "", "", NULL, 0}},
         1,
         "config: s.k: bad type 99"},
        {{{"s", "e", SIM_PARAM_ENUM, "a", 0, 0, "", "", NULL, 0}},
         1,
         "config: s.e: enum without values"},
        {{{"s", "e", SIM_PARAM_ENUM, "a", 0, 0, "", "", none, 0}},
         1,
         "config: s.e: enum without values"},
        {{{"s", "k", SIM_PARAM_UINT, "1", 0, 0, "", "", NULL, 0},
          {"s", "k", SIM_PARAM_UINT, "2", 0, 0, "", "", NULL, 8}},
         2,
         "config: duplicate key 's.k'"},
        {{{"s", "k", SIM_PARAM_UINT, NULL, 0, 0, "", "", NULL, 0}},
         1,
         "config: default of s.k: '' is not an unsigned integer"},
    };
    uint64_t base[4];

    for (size_t i = 0; i < N_OF(cases); i++) {
        sim_log_t log;
        sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
        sim_config_t *cfg = sim_config_create(&log);
        ck_assert_int_eq(sim_config_register(cfg, cases[i].p, cases[i].n, base),
                         -EINVAL);
        ck_assert_str_eq(sim_log_last_error(&log), cases[i].msg);
        ck_assert_ptr_null(sim_config_find(cfg, "s.k"));
        ck_assert_ptr_null(sim_config_find(cfg, NULL));
        sim_config_destroy(cfg);
    }
    sim_config_destroy(NULL);

    /* Same section and key names in one table: two keys of one section
     * are fine; a string without a default is the empty string. */
    static const sim_param_t ok[] = {
        {"s", "a", SIM_PARAM_UINT, "1", 0, 0, "", "", NULL, 0},
        {"s", "b", SIM_PARAM_STRING, NULL, 0, 0, "", "", NULL, 8},
    };
    char mem[8 + SIM_PARAM_STR_MAX];
    memset(mem, 'x', sizeof(mem));
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(sim_config_register(cfg, ok, 2, mem), 0);
    ck_assert_str_eq(mem + 8, "");
    sim_config_destroy(cfg);
}
END_TEST

static char *dump_text(sim_config_t *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_dump(cfg, f), 0);
    fclose(f);
    return buf;
}

/* The dump quotes a string that would not read back plainly (control
 * characters, edge blanks, a leading quote) and escapes \n \t \r; it reads
 * back to the same string. An enum field holding no valid index is written
 * as the number (it cannot read back). */
START_TEST(test_dump_quoting)
{
    static const struct {
        const char *value, *line;
    } cases[] = {
        {"a\nb", "name = \"a\\nb\"\n"},
        {"a\tb", "name = \"a\\tb\"\n"},
        {"a\rb", "name = \"a\\rb\"\n"},
        {"a\x01z", "name = \"a\x01z\"\n"},
        {" lead", "name = \" lead\"\n"},
        {"trail\t", "name = \"trail\\t\"\n"},
        {"\"q", "name = \"\\\"q\"\n"},
        {"a;b", "name = \"a;b\"\n"},
        {"plain text", "name = plain text\n"},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        fixture_t a, b;
        fx_init(&a);
        fx_init(&b);
        strcpy(a.v.name, cases[i].value);
        char *text = dump_text(a.cfg);
        ck_assert_msg(strstr(text, cases[i].line) != NULL, "%zu: %s", i, text);
        ck_assert_int_eq(sim_config_load_string(b.cfg, "d.ini", text), 0);
        ck_assert_str_eq(b.v.name, cases[i].value);
        free(text);
        fx_fini(&a);
        fx_fini(&b);
    }
    fixture_t fx;
    fx_init(&fx);
    fx.v.arch = 7;
    char *text = dump_text(fx.cfg);
    ck_assert_ptr_nonnull(strstr(text, "\narch = 7\n"));
    free(text);
    /* Output errors are reported. */
    FILE *ro = fopen("/dev/null", "r");
    ck_assert_ptr_nonnull(ro);
    ck_assert_int_eq(sim_config_dump(fx.cfg, ro), -EIO);
    ck_assert_int_eq(sim_config_list(fx.cfg, ro), -EIO);
    fclose(ro);
    fx_fini(&fx);
}
END_TEST

/* Listing columns are as wide as their longest cell (header included); an
 * empty default shows as "", a missing unit as -, a missing description as
 * nothing. */
START_TEST(test_list_empty_cells)
{
    typedef struct {
        char s[SIM_PARAM_STR_MAX];
        uint64_t n;
    } v_t;
    static const sim_param_t p[] = {
        {"s", "name", SIM_PARAM_STRING, "", 0, 0, NULL, NULL, NULL,
         offsetof(v_t, s)},
        {"s", "count", SIM_PARAM_UINT, "3", 1, 9, "items", "how many", NULL,
         offsetof(v_t, n)},
    };
    v_t v;
    sim_log_t log;
    sim_log_init(&log, SIM_LOG_ERROR, NULL, NULL);
    sim_config_t *cfg = sim_config_create(&log);
    ck_assert_int_eq(sim_config_register(cfg, p, 2, &v), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(sim_config_list(cfg, f), 0);
    fclose(f);
    /* Widths: name 7 ("s.count"), type 6 ("string"), default 7 (the
     * header), range 6 ("[1, 9]"), unit 5 ("items"). */
    const char *fmt = "%-7s  %-6s  %-7s  %-6s  %-5s  %s\n";
    char expect[512], row[128];
    snprintf(expect, sizeof(expect), fmt, "name", "type", "default", "range",
             "unit", "description");
    snprintf(row, sizeof(row), fmt, "s.name", "string", "\"\"", "-", "-", "");
    strcat(expect, row);
    snprintf(row, sizeof(row), fmt, "s.count", "uint", "3", "[1, 9]", "items",
             "how many");
    strcat(expect, row);
    ck_assert_str_eq(buf, expect);
    free(buf);
    sim_config_destroy(cfg);
}
END_TEST

/* The INI reader's remaining errors and forms (config.h): a section name
 * with a blank, a key name with one, the keys of an unknown section (one
 * message for the section only), a quoted value with a '#' comment, no
 * name and no text, more than 50 errors, a directory, a file too large. */
START_TEST(test_load_more)
{
    load_bad("[a b]\n", "cfg.ini:1: bad section name [a b]");
    load_bad("[link]\nmy name = x\n", "cfg.ini:2: bad key name 'my name' "
                                      "(letters, digits, _ and - expected)");
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "u.ini", "[nope]\na = 1\nb = 2\n"),
        -EINVAL);
    ck_assert_uint_eq(fx.log.errors, 1);
    ck_assert_str_eq(sim_log_last_error(&fx.log), "u.ini:1: unknown section "
                                                  "[nope]");
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "q.ini", "[link]\nname = \"x y\" # c\n"),
        0);
    ck_assert_str_eq(fx.v.name, "x y");
    ck_assert_int_eq(sim_config_load_string(fx.cfg, NULL, NULL), 0);
    ck_assert_int_eq(sim_config_load_string(fx.cfg, NULL, "[x]\n"), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log),
                     "<string>:1: unknown section [x]");

    /* 60 bad lines: 50 messages, then one that gives up. */
    char text[2048] = "";
    for (int i = 0; i < 60; i++)
        strcat(text, "junk\n");
    unsigned before = fx.log.errors;
    ck_assert_int_eq(sim_config_load_string(fx.cfg, "j.ini", text), -EINVAL);
    ck_assert_uint_eq(fx.log.errors - before, 51);
    ck_assert_str_eq(sim_log_last_error(&fx.log),
                     "j.ini: too many errors, giving up");

    /* A directory opens but cannot be read. */
    char dir[256];
    iommusim_mkdtemp(dir, sizeof(dir), "test_config");
    ck_assert_int_eq(sim_config_load_file(fx.cfg, dir), -EIO);
    char msg[512];
    snprintf(msg, sizeof(msg), "%s: read error", dir);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);

    /* A file of 64 MiB (sparse: quick to make) is more than the reader
     * takes (CFG_FILE_MAX). */
    char big[300];
    snprintf(big, sizeof(big), "%s/big.ini", dir);
    FILE *f = fopen(big, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), 64 << 20), 0);
    fclose(f);
    ck_assert_int_eq(sim_config_load_file(fx.cfg, big), -EFBIG);
    snprintf(msg, sizeof(msg), "%s: file too large (at most 67108864 bytes)",
             big);
    ck_assert_str_eq(sim_log_last_error(&fx.log), msg);
    iommusim_rm_tree(dir);
    fx_fini(&fx);
}
END_TEST

/* --set edge cases: no argument, one longer than a line. */
START_TEST(test_set_more)
{
    fixture_t fx;
    fx_init(&fx);
    ck_assert_int_eq(sim_config_set(fx.cfg, NULL), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log),
                     "--set : expected section.key=value");
    char *arg = malloc(5000);
    strcpy(arg, "link.name=");
    memset(arg + 10, 'n', 4990 - 1);
    arg[4999] = '\0';
    ck_assert_int_eq(sim_config_set(fx.cfg, arg), -EINVAL);
    ck_assert_str_eq(sim_log_last_error(&fx.log),
                     "--set link.name=nnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...: "
                     "argument too long");
    free(arg);
    fx_fini(&fx);
}
END_TEST

/* sim_config_where: the default, a file and line, a --set, an unknown key;
 * the order number grows with each setting. */
START_TEST(test_where)
{
    fixture_t fx;
    char w[128];
    fx_init(&fx);
    ck_assert_uint_eq(sim_config_where(fx.cfg, "iommu.arch", w, sizeof(w)), 0);
    ck_assert_str_eq(w, "the default");
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "a.ini", "[iommu]\n\narch = smmuv3\n"),
        0);
    uint64_t s1 = sim_config_where(fx.cfg, "iommu.arch", w, sizeof(w));
    ck_assert_uint_gt(s1, 0);
    ck_assert_str_eq(w, "a.ini:3");
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.ats=no"), 0);
    uint64_t s2 = sim_config_where(fx.cfg, "iommu.ats", w, sizeof(w));
    ck_assert_uint_gt(s2, s1);
    ck_assert_str_eq(w, "--set iommu.ats");
    ck_assert_uint_eq(sim_config_where(fx.cfg, "iommu.nope", w, sizeof(w)), 0);
    ck_assert_str_eq(w, "unknown key");
    ck_assert_uint_eq(sim_config_where(fx.cfg, NULL, w, sizeof(w)), 0);
    ck_assert_str_eq(w, "unknown key");
    fx_fini(&fx);
}
END_TEST

/* sim_config_report (config.h): the message is prefixed by where the key
 * set last was set, the other keys it names follow with their sources;
 * only whole key names count; no key named: the message alone. */
START_TEST(test_report)
{
    fixture_t fx;
    sim_log_t out;
    fx_init(&fx);
    sim_log_init(&out, SIM_LOG_ERROR, NULL, NULL);

    sim_config_report(fx.cfg, &out,
                      "iommu.iotlb_ways exceeds "
                      "iommu.iotlb_entries");
    ck_assert_str_eq(sim_log_last_error(&out),
                     "defaults: iommu.iotlb_ways exceeds iommu.iotlb_entries "
                     "(iommu.iotlb_entries is the default)");
    ck_assert_int_eq(
        sim_config_load_string(fx.cfg, "a.ini", "[iommu]\niotlb_ways = 9\n"),
        0);
    sim_config_report(fx.cfg, &out,
                      "iommu.iotlb_ways exceeds "
                      "iommu.iotlb_entries");
    ck_assert_str_eq(sim_log_last_error(&out),
                     "a.ini:2: iommu.iotlb_ways exceeds iommu.iotlb_entries "
                     "(iommu.iotlb_entries is the default)");
    ck_assert_int_eq(sim_config_set(fx.cfg, "iommu.iotlb_entries=4"), 0);
    sim_config_report(fx.cfg, &out,
                      "iommu.iotlb_ways = 9 exceeds iommu.iotlb_entries = 4 "
                      "(iommu.iotlb_ways must not, with iommu.arch either)");
    ck_assert_str_eq(
        sim_log_last_error(&out),
        "--set iommu.iotlb_entries: iommu.iotlb_ways = 9 exceeds "
        "iommu.iotlb_entries = 4 (iommu.iotlb_ways must not, with iommu.arch "
        "either) (iommu.iotlb_ways set at a.ini:2; iommu.arch is the "
        "default)");
    /* Part of a longer word: not a key. */
    sim_config_report(fx.cfg, &out,
                      "xiommu.arch and iommu.arch_2 and "
                      "iommu.arch.x");
    ck_assert_str_eq(sim_log_last_error(&out),
                     "xiommu.arch and iommu.arch_2 and iommu.arch.x");
    /* At most 8 keys are looked at: the ninth (link.bytes, set last) is
     * not. */
    ck_assert_int_eq(sim_config_set(fx.cfg, "link.bytes=1"), 0);
    sim_config_report(fx.cfg, &out,
                      "iommu.iotlb_entries iommu.iotlb_ways iommu.arch "
                      "iommu.walk iommu.ats link.latency link.ratio "
                      "link.name link.bytes");
    const char *m = sim_log_last_error(&out);
    ck_assert_int_eq(strncmp(m, "--set iommu.iotlb_entries: ", 27), 0);
    ck_assert_ptr_null(strstr(m, "link.bytes set at"));
    ck_assert_ptr_nonnull(strstr(m, "; link.name is the default)"));
    fx_fini(&fx);
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
    tcase_add_test(tc, test_value_syntax_edges);
    tcase_add_test(tc, test_enum_many_values);
    tcase_add_test(tc, test_register_table_errors);
    tcase_add_test(tc, test_dump_quoting);
    tcase_add_test(tc, test_list_empty_cells);
    tcase_add_test(tc, test_load_more);
    tcase_add_test(tc, test_set_more);
    tcase_add_test(tc, test_where);
    tcase_add_test(tc, test_report);
    suite_add_tcase(s, tc);
    return iommusim_run_suite(s);
}

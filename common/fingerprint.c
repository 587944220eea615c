/*
 * fingerprint.c: the numeric fingerprint line (fingerprint.h).
 */
#include "fingerprint.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "par.h"

/* OpenBLAS's own introspection (cblas.h declares them too, under other include paths). */
char *openblas_get_corename(void);
char *openblas_get_config(void);

const char *cd_blas_core(void)
{
    const char *c = openblas_get_corename();
    return c != NULL && *c != '\0' ? c : "unknown";
}

void cd_blas_version(char *buf, size_t size)
{
    /* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": the first two words */
    char name[64] = "", version[64] = "";
    const char *cfg = openblas_get_config();
    if (cfg == NULL || sscanf(cfg, "%63s %63s", name, version) != 2)
        snprintf(buf, size, "unknown");
    else
        snprintf(buf, size, "%s-%s", name, version);
}

static bool value_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           strchr("._:+-", c) != NULL;
}

void cd_fp_add(char *buf, size_t size, const char *key, const char *value)
{
    size_t len = strlen(buf);
    int n = snprintf(buf + len, size - len, "%s%s=", len ? " " : "", key);
    if (n < 0 || (size_t)n >= size - len)
        return;
    len += (size_t)n;
    for (const char *v = value; *v != '\0' && len + 1 < size; v++)
        buf[len++] = value_char(*v) ? *v : '_';
    buf[len] = '\0';
}

void cd_fp_cpu_backend(char *buf, size_t size)
{
    char blas[160];
    cd_blas_version(blas, sizeof blas);
    buf[0] = '\0';
    cd_fp_add(buf, size, "backend", "cpu");
    cd_fp_add(buf, size, "blas", blas);
    cd_fp_add(buf, size, "core", cd_blas_core());
}

void cd_fp_make(char *buf, size_t size, const char *backend_part, bool cpu, int threads)
{
    char t[16];
    buf[0] = '\0';
    cd_fp_add(buf, size, "version", CD_VERSION);
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, " %s", backend_part);
    if (cpu) {
        snprintf(t, sizeof t, "%d", cd_par_resolve(threads));
        cd_fp_add(buf, size, "threads", t);
    }
}

bool cd_fp_valid(const char *s)
{
    if (strlen(s) >= CD_FP_MAX)
        return false;
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '=' && !value_char(*s))
            return false;
    return true;
}

/* The instructions each OpenBLAS x86-64 kernel (by its corename) executes beyond the
 * x86-64 baseline. A kernel not listed is never forced onto a CPU: it might not run. */
static const struct {
    const char *core;
    const char *needs[6];
} core_needs[] = {
    {"Cooperlake", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512bf16", NULL}},
    {"SkylakeX", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", NULL}},
    {"Haswell", {"avx2", "fma", NULL}},
    {"Zen", {"avx2", "fma", NULL}},
    {"Excavator", {"avx2", "fma", NULL}},
    {"Steamroller", {"avx", "fma", NULL}},
    {"Piledriver", {"avx", "fma", NULL}},
    {"Bulldozer", {"avx", "fma4", NULL}},
    {"Sandybridge", {"avx", NULL}},
    {"Nehalem", {"sse4.2", NULL}},
    {"Dunnington", {"sse4.1", NULL}},
    {"Penryn", {"sse4.1", NULL}},
    {"Core2", {"ssse3", NULL}},
    {"Atom", {"ssse3", NULL}},
    {"Bobcat", {"ssse3", NULL}},
    {"Barcelona", {"sse3", NULL}},
    {"Opteron", {"sse3", NULL}},
    {"Prescott", {"sse3", NULL}},
};

#if defined(__x86_64__)
static bool cpu_has(const char *feature)
{
    /* __builtin_cpu_supports needs a literal: one branch per feature used above */
#define HAS(f)                                                                                     \
    if (strcmp(feature, f) == 0)                                                                   \
        return __builtin_cpu_supports(f);
    __builtin_cpu_init();
    HAS("avx512f")
    HAS("avx512bw")
    HAS("avx512vl")
    HAS("avx512dq")
    HAS("avx512cd")
    HAS("avx512bf16")
    HAS("avx2")
    HAS("avx")
    HAS("fma")
    HAS("fma4")
    HAS("sse4.2")
    HAS("sse4.1")
    HAS("ssse3")
    HAS("sse3")
#undef HAS
    return false;
}
#else
static bool cpu_has(const char *feature)
{
    (void)feature;
    return false;
}
#endif

static int core_index(const char *core)
{
    for (size_t i = 0; i < sizeof core_needs / sizeof core_needs[0]; i++)
        if (strcasecmp(core, core_needs[i].core) == 0)
            return (int)i;
    return -1;
}

bool cd_blas_core_known(const char *core)
{
    return strcasecmp(core, cd_blas_core()) == 0 || core_index(core) >= 0;
}

bool cd_blas_core_runs_here(const char *core)
{
    if (strcasecmp(core, cd_blas_core()) == 0)
        return true;
    int i = core_index(core);
    if (i < 0)
        return false;
    for (const char *const *f = core_needs[i].needs; *f != NULL; f++)
        if (!cpu_has(*f))
            return false;
    return true;
}

/*
 * main_cerebro_ds.c: the cerebro-ds admin tool: argument parsing and exit codes only.
 * The commands live in inspect.c, export.c and verify.c; refresh asks a running
 * cerebro-ds-fuse through its control socket (control.c).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdbool.h>

#include "admin.h"
#include "config.h"
#include "control.h"

#define PROG "cerebro-ds"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3, EXIT_INTERRUPTED = 130 };

static const char usage_text[] =
    "Usage: " PROG " [OPTIONS] COMMAND ARGS...\n"
    "\n"
    "Decode PostgreSQL tables straight from their heap files under one pinned snapshot.\n"
    "\n"
    "Commands:\n"
    "  inspect TABLE          shards, files, columns, dtypes, block size, snapshot, rows\n"
    "  export TABLE OUTDIR    write OUTDIR/<shard>/<column>.npy (mount layout) and meta\n"
    "  verify TABLE           compare every decoded value with PostgreSQL in the same\n"
    "                         snapshot; last line rows=N mismatches=M\n"
    "  pages TABLE            page headers, line pointers and tuple headers of every block,\n"
    "                         with each tuple's visibility in the snapshot\n"
    "  refresh [MOUNTPOINT [TABLE]]\n"
    "                         make the cerebro-ds-fuse mount take a new snapshot of every\n"
    "                         table it has pinned, or of TABLE ([db/]schema.table);\n"
    "                         MOUNTPOINT defaults to the configuration's [mount] mountpoint\n"
    "  doctor                 check that this host is ready to run cerebro-ds-fuse with the\n"
    "                         configuration: one line per check, exit 0 only if all pass\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      configuration file ([database] conninfo, datadir); doctor\n"
    "                         and refresh read " CD_CONFIG_DEFAULT_PATH " without it\n"
    "      --conninfo C       libpq connection string (overrides the file)\n"
    "      --datadir DIR      data directory (default: SHOW data_directory)\n"
    "      --shards N         split a plain table into N block ranges part0..part<N-1>\n"
    "      --columns a,b      only these columns (default: every supported column)\n"
    "      --no-unpack        a MADlib-packed table (bytea buffers with <col>_shape columns)\n"
    "                         as stored, not a row per training row\n"
    "  -j, --jobs J           export: decode J shards in parallel (default 1)\n"
    "      --verify MODE      count (default): check rows against count(*); none\n"
    "  -q, --quiet            no progress lines on stderr\n"
    "  -h, --help             this help\n"
    "  -V, --version          version\n"
    "\n"
    "Exit status: 0 success, 1 error (doctor: a check failed), 2 usage error, 3 verify found\n"
    "mismatches, 130 interrupted (SIGINT or SIGTERM: partial shard directories are removed).\n"
    "The role needs SELECT on the table, CHECKPOINT (superuser or pg_checkpoint), read access\n"
    "to pg_control_init()/pg_control_checkpoint(), and the OS user read access to the data\n"
    "directory.\n";

typedef struct cli {
    const char *config;
    const char *conninfo;
    const char *datadir;
    const char *columns;
    const char *verify;
    int shards;
    int jobs;
    bool quiet;
    bool no_unpack;
} cli;

static int usage_error(const char *fmt, const char *arg)
{
    return cd_usage_error(PROG, fmt, arg);
}

static int parse_int(const char *s, const char *opt, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 65536)
        return usage_error("invalid value for %s: expected a positive integer", opt);
    *out = (int)v;
    return EXIT_OK;
}

static int parse_cli(int argc, char **argv, cli *c)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"conninfo", required_argument, NULL, 'C'},
        {"datadir", required_argument, NULL, 'D'}, {"shards", required_argument, NULL, 's'},
        {"columns", required_argument, NULL, 'l'}, {"jobs", required_argument, NULL, 'j'},
        {"verify", required_argument, NULL, 'v'},  {"quiet", no_argument, NULL, 'q'},
        {"no-unpack", no_argument, NULL, 'U'},     {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0}};
    int ch, rc = EXIT_OK;
    while (rc == EXIT_OK && (ch = getopt_long(argc, argv, "+c:j:qhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            c->config = optarg;
            break;
        case 'C':
            c->conninfo = optarg;
            break;
        case 'D':
            c->datadir = optarg;
            break;
        case 'l':
            c->columns = optarg;
            break;
        case 'v':
            c->verify = optarg;
            break;
        case 'q':
            c->quiet = true;
            break;
        case 'U':
            c->no_unpack = true;
            break;
        case 's':
            rc = parse_int(optarg, "--shards", &c->shards);
            break;
        case 'j':
            rc = parse_int(optarg, "--jobs", &c->jobs);
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(EXIT_OK);
        case 'V':
            printf(PROG " %s\n", CD_VERSION);
            exit(EXIT_OK);
        default:
            return usage_error("%s", "invalid option");
        }
    }
    return rc;
}

/* Options after the command are accepted too: parse argv again from the command on. */
static int parse_all(int argc, char **argv, cli *c, char **pos, int *npos)
{
    *npos = 0;
    optind = 1;
    while (optind < argc) {
        int rc = parse_cli(argc, argv, c);
        if (rc != EXIT_OK)
            return rc;
        while (optind < argc && argv[optind][0] != '-') {
            if (*npos >= 4)
                return usage_error("too many arguments: %s", argv[optind]);
            pos[(*npos)++] = argv[optind++];
        }
    }
    return EXIT_OK;
}

static int settle(const cli *c, cd_config *cfg, cd_admin_opts *o, cd_err *err)
{
    if (cd_config_init(cfg, err) != CD_OK)
        return EXIT_ERROR;
    if (c->config != NULL && cd_config_load(cfg, c->config, err) != CD_OK)
        return EXIT_ERROR;
    const char *verify = c->verify ? c->verify : cfg->database_verify;
    if (strcmp(verify, "count") != 0 && strcmp(verify, "none") != 0)
        return usage_error("invalid value for --verify: %s (expected count or none)", verify);
    o->pin.conninfo = c->conninfo ? c->conninfo : cfg->database_conninfo;
    o->pin.datadir = c->datadir                 ? c->datadir
                     : cfg->database_datadir[0] ? cfg->database_datadir
                                                : NULL;
    o->pin.block_shards = c->shards;
    o->pin.columns = c->columns;
    o->pin.keep_packed = c->no_unpack;
    o->jobs = c->jobs > 0 ? c->jobs : 1;
    o->verify_count = strcmp(verify, "count") == 0;
    o->progress = !c->quiet;
    return EXIT_OK;
}

/* cerebro-ds refresh MOUNTPOINT [TABLE]: ask the daemon, print how many tables. */
static int refresh(const char *mountpoint, const char *table, cd_err *err)
{
    char command[1024], reply[256];
    snprintf(command, sizeof command, "refresh%s%s", table ? " " : "", table ? table : "");
    if (cd_control_request(mountpoint, command, reply, sizeof reply, err) != CD_OK)
        return EXIT_ERROR;
    printf("%s: %s table(s) refreshed\n", mountpoint, reply);
    return EXIT_OK;
}

static int run(const char *cmd, char **pos, int npos, const cd_config *cfg, const cd_admin_opts *o,
               cd_err *err)
{
    if (strcmp(cmd, "refresh") == 0 && npos == 1)
        return refresh(cfg->mount_mountpoint, NULL, err);
    if (strcmp(cmd, "refresh") == 0 && (npos == 2 || npos == 3))
        return refresh(pos[1], npos == 3 ? pos[2] : NULL, err);
    if (strcmp(cmd, "inspect") == 0 && npos == 2)
        return cd_cmd_inspect(o, pos[1], stdout, err) == CD_OK ? EXIT_OK : EXIT_ERROR;
    if (strcmp(cmd, "export") == 0 && npos == 3)
        return cd_cmd_export(o, pos[1], pos[2], err) == CD_OK ? EXIT_OK : EXIT_ERROR;
    if (strcmp(cmd, "pages") == 0 && npos == 2)
        return cd_cmd_pages(o, pos[1], stdout, err) == CD_OK ? EXIT_OK : EXIT_ERROR;
    if (strcmp(cmd, "verify") == 0 && npos == 2) {
        uint64_t mismatches = 0;
        if (cd_cmd_verify(o, pos[1], stdout, &mismatches, err) != CD_OK)
            return EXIT_ERROR;
        return mismatches > 0 ? EXIT_MISMATCH : EXIT_OK;
    }
    if (strcmp(cmd, "inspect") == 0 || strcmp(cmd, "export") == 0 || strcmp(cmd, "verify") == 0 ||
        strcmp(cmd, "pages") == 0 || strcmp(cmd, "refresh") == 0 || strcmp(cmd, "doctor") == 0)
        return usage_error("wrong number of arguments for %s", cmd);
    return usage_error("unknown command \"%s\"", cmd);
}

static void on_signal(int sig)
{
    cd_interrupted = 1;
}

/* SIGINT / SIGTERM stop the work between blocks; a second one kills at once. */
static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
    cli c = {0};
    char *pos[4];
    int npos;
    int rc = parse_all(argc, argv, &c, pos, &npos);
    if (rc != EXIT_OK)
        return rc;
    if (npos == 0)
        return usage_error("%s", "missing command");
    /* doctor and refresh (without a mount point) fall back to the default configuration */
    bool wants_default = (strcmp(pos[0], "doctor") == 0 && npos == 1) ||
                         (strcmp(pos[0], "refresh") == 0 && npos == 1);
    if (c.config == NULL && wants_default && access(CD_CONFIG_DEFAULT_PATH, F_OK) == 0)
        c.config = CD_CONFIG_DEFAULT_PATH;
    if (strcmp(pos[0], "doctor") == 0 && npos == 1)
        return cd_cmd_doctor(c.config, c.conninfo, stdout) == 0 ? EXIT_OK : EXIT_ERROR;
    cd_config cfg;
    cd_admin_opts o = {0};
    cd_err err = {0};
    catch_signals();
    rc = settle(&c, &cfg, &o, &err);
    if (rc == EXIT_OK)
        rc = run(pos[0], pos, npos, &cfg, &o, &err);
    if (rc == EXIT_ERROR)
        cd_err_print(stderr, PROG, &err);
    if (rc == EXIT_ERROR && err.code == CD_EINTERRUPTED)
        rc = EXIT_INTERRUPTED;
    cd_config_free(&cfg);
    return rc;
}

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
#include "cut.h"

#define PROG "cerebro-ds"

#define MAX_POS 34 /* command + 33 arguments */

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
    "  refresh [MOUNTPOINT [TABLE...]]\n"
    "                         make the cerebro-ds-fuse mount take a new snapshot of every\n"
    "                         table it has pinned, or of each TABLE ([db/]schema.table);\n"
    "                         MOUNTPOINT defaults to the configuration's [mount] mountpoint\n"
    "  refresh --cluster [TABLE...]\n"
    "                         one consistent cut of Citus distributed tables (default: the\n"
    "                         configuration's [mount] tables) on every worker host: lock\n"
    "                         them on the [cluster] coordinator, refresh each host's mount\n"
    "                         through [cluster] ssh_command, unlock\n"
    "  doctor                 check that this host is ready to run cerebro-ds-fuse with the\n"
    "                         configuration (-c, --conninfo, --datadir): one line per\n"
    "                         check, exit 0 only if all pass\n"
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
    "      --mode MODE        export: mode of the files written, octal (default 0640: not\n"
    "                         world-readable); directories get x where r is\n"
    "      --verify MODE      count (default): check rows against count(*); none\n"
    "      --cluster          refresh: across the Citus cluster (above)\n"
    "      --cut ID           refresh: the new snapshots belong to cluster cut ID (what\n"
    "                         refresh --cluster runs on each host; shown in meta files)\n"
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
    const char *cut;
    const char *mode;
    bool cluster;
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
        return usage_error("invalid value for %s: expected an integer from 1 to 65536", opt);
    *out = (int)v;
    return EXIT_OK;
}

static int parse_cli(int argc, char **argv, cli *c)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"conninfo", required_argument, NULL, 'C'},
                                         {"datadir", required_argument, NULL, 'D'},
                                         {"shards", required_argument, NULL, 's'},
                                         {"columns", required_argument, NULL, 'l'},
                                         {"jobs", required_argument, NULL, 'j'},
                                         {"verify", required_argument, NULL, 'v'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"no-unpack", no_argument, NULL, 'U'},
                                         {"cluster", no_argument, NULL, 'K'},
                                         {"cut", required_argument, NULL, 'u'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
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
        case 'l': /* "" or only commas: no column at all, an export of nothing */
            c->columns = optarg;
            if (optarg[strspn(optarg, ", ")] == '\0')
                return usage_error("invalid value for --columns: %s", "no column named");
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
        case 'K':
            c->cluster = true;
            break;
        case 'u':
            c->cut = optarg;
            break;
        case 'm':
            c->mode = optarg;
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
        /* getopt stops at a non-option: "-" is one, and so is everything after "--" (taken
         * as options again, or "-" left where it was, the loop never ended) */
        bool rest = optind > 1 && strcmp(argv[optind - 1], "--") == 0;
        while (optind < argc &&
               (rest || argv[optind][0] != '-' || strcmp(argv[optind], "-") == 0)) {
            if (*npos >= MAX_POS)
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
    if (c->mode != NULL) {
        char *end;
        long m = strtol(c->mode, &end, 8);
        if (*c->mode == '\0' || *end != '\0' || m <= 0 || m > 0777 || (m & 0400) == 0)
            return usage_error("invalid --mode %s: expected an octal mode from 0400 to 0777 that "
                               "lets the owner read",
                               c->mode);
        o->mode = (mode_t)m;
    }
    return EXIT_OK;
}

/* cerebro-ds refresh MOUNTPOINT [TABLE...]: ask the daemon (one request per table), print
 * how many tables. */
static int refresh(const char *mountpoint, char **tables, int ntables, const char *cut, cd_err *err)
{
    char command[1024], reply[256];
    long done = 0;
    for (int i = 0; i < (ntables > 0 ? ntables : 1); i++) {
        snprintf(command, sizeof command, "refresh%s%s%s%s", ntables ? " " : "",
                 ntables ? tables[i] : "", cut ? " cut=" : "", cut ? cut : "");
        if (cd_control_request(mountpoint, command, reply, sizeof reply, err) != CD_OK)
            return EXIT_ERROR;
        done += strtol(reply, NULL, 10);
    }
    printf("%s: %ld table(s) refreshed%s%s\n", mountpoint, done, cut ? " in cut " : "",
           cut ? cut : "");
    return EXIT_OK;
}

/* The path of this program, for the hosts of a cluster refresh (installed alike). */
static const char *self_path(void)
{
    static char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return PROG;
    buf[n] = '\0';
    return buf;
}

/* cerebro-ds refresh --cluster [TABLE...] */
static int refresh_cluster(char **tables, int ntables, const cd_config *cfg, cd_err *err)
{
    char *list[MAX_POS], copy[4096];
    if (ntables == 0) {
        snprintf(copy, sizeof copy, "%s", cfg->mount_tables);
        for (char *save = NULL, *t = strtok_r(copy, ", ", &save); t && ntables < MAX_POS;
             t = strtok_r(NULL, ", ", &save))
            list[ntables++] = t;
        tables = list;
    }
    if (ntables == 0)
        return usage_error("%s", "refresh --cluster needs tables (arguments or [mount] tables)");
    cd_cluster_opts o = {
        .coordinator =
            cfg->cluster_coordinator[0] ? cfg->cluster_coordinator : cfg->database_conninfo,
        .ssh_command = cfg->cluster_ssh_command,
        .remote_mountpoint = cfg->cluster_remote_mountpoint[0] ? cfg->cluster_remote_mountpoint
                                                               : cfg->mount_mountpoint,
        .remote_command =
            cfg->cluster_remote_command[0] ? cfg->cluster_remote_command : self_path(),
        .lock_timeout = atoi(cfg->cluster_lock_timeout),
    };
    return cd_cmd_refresh_cluster(&o, tables, ntables, stdout, err) == CD_OK ? EXIT_OK : EXIT_ERROR;
}

static int run(const char *cmd, char **pos, int npos, const cli *c, const cd_config *cfg,
               const cd_admin_opts *o, cd_err *err)
{
    bool is_refresh = strcmp(cmd, "refresh") == 0;
    if (!is_refresh && (c->cluster || c->cut))
        return usage_error("%s", "--cluster and --cut go with refresh");
    if (is_refresh && c->cluster && c->cut)
        return usage_error("%s", "--cluster and --cut: one or the other");
    if (c->cut && !cd_cut_valid(c->cut))
        return usage_error("invalid --cut \"%s\": 1-100 letters, digits, '-', ':' or '.'", c->cut);
    if (is_refresh && c->cluster)
        return refresh_cluster(pos + 1, npos - 1, cfg, err);
    if (is_refresh && npos == 1)
        return refresh(cfg->mount_mountpoint, NULL, 0, c->cut, err);
    if (is_refresh)
        return refresh(pos[1], pos + 2, npos - 2, c->cut, err);
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

/* doctor checks the configuration (-c, --conninfo, --datadir): an option of the other
 * commands would be ignored, so it is refused. */
static int doctor_options(const cli *c)
{
    const char *given = c->columns     ? "--columns"
                        : c->verify    ? "--verify"
                        : c->cut       ? "--cut"
                        : c->mode      ? "--mode"
                        : c->cluster   ? "--cluster"
                        : c->shards    ? "--shards"
                        : c->jobs      ? "--jobs"
                        : c->no_unpack ? "--no-unpack"
                                       : NULL;
    if (given == NULL)
        return EXIT_OK;
    return usage_error("doctor takes -c, --conninfo and --datadir, not %s", given);
}

int main(int argc, char **argv)
{
    cli c = {0};
    char *pos[MAX_POS];
    int npos;
    int rc = parse_all(argc, argv, &c, pos, &npos);
    if (rc != EXIT_OK)
        return rc;
    if (npos == 0)
        return usage_error("%s", "missing command");
    /* doctor and refresh (without a mount point) fall back to the default configuration */
    bool wants_default = (strcmp(pos[0], "doctor") == 0 && npos == 1) ||
                         (strcmp(pos[0], "refresh") == 0 && (npos == 1 || c.cluster));
    if (c.config == NULL && wants_default && access(CD_CONFIG_DEFAULT_PATH, F_OK) == 0)
        c.config = CD_CONFIG_DEFAULT_PATH;
    if (strcmp(pos[0], "doctor") == 0 && npos == 1 && (rc = doctor_options(&c)) != EXIT_OK)
        return rc;
    if (strcmp(pos[0], "doctor") == 0 && npos == 1)
        return cd_cmd_doctor(c.config, c.conninfo, c.datadir, stdout) == 0 ? EXIT_OK : EXIT_ERROR;
    cd_config cfg;
    cd_admin_opts o = {0};
    cd_err err = {0};
    catch_signals();
    rc = settle(&c, &cfg, &o, &err);
    if (rc == EXIT_OK)
        rc = run(pos[0], pos, npos, &c, &cfg, &o, &err);
    if (rc == EXIT_ERROR)
        cd_err_print(stderr, PROG, &err);
    if (rc == EXIT_ERROR && err.code == CD_EINTERRUPTED)
        rc = EXIT_INTERRUPTED;
    cd_config_free(&cfg);
    return rc;
}

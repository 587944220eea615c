/*
 * main_cerebro_ds_fuse.c: cerebro-ds-fuse, the read-only mount of pinned PostgreSQL tables:
 * command line and -o options, configuration, logging (its file opened before anything is
 * mounted), passwords scrubbed from the command line, stale mount recovery, mount,
 * daemonizing, signals, the multi-threaded loop and a clean unmount.
 * The file system itself is fs_*.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conninfo.h"
#include "fs.h"
#include "fs_log.h"
#include "fsutil.h"

#define PROG "cerebro-ds-fuse"
#define DEFAULT_CONFIG CD_CONFIG_DEFAULT_PATH
#define MAX_OPTS 64

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "Usage: " PROG " [OPTIONS] [MOUNTPOINT]\n"
    "       " PROG " [OPTIONS] SOURCE MOUNTPOINT     (as mount.fuse3 runs it from fstab)\n"
    "       mount.fuse.cerebro-ds SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS]  (as mount(8) runs it\n"
    "                                                 for fstab type fuse.cerebro-ds)\n"
    "\n"
    "Serve PostgreSQL tables as a read-only file system of NumPy column files, decoded\n"
    "straight from the heap files, each table under one pinned MVCC snapshot.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE      configuration file (default " DEFAULT_CONFIG " when it exists)\n"
    "      --conninfo C       libpq connection string ([database] conninfo); a password in\n"
    "                         it is overwritten with x in the command line ps shows\n"
    "  -o KEY=VALUE,...       set configuration keys: cache_mb=256, allow_other,\n"
    "                         tables=s.t1,s.t2, database.datadir=DIR,\n"
    "                         table.s.t1.shards=blocks:4 (see cerebro-ds.conf(5))\n"
    "  -f, --foreground       stay in the foreground and log to standard error, or to\n"
    "                         [mount] log_file when set (in the background: log_file, by\n"
    "                         default /var/log/cerebro-ds/cerebro-ds-fuse.log for root)\n"
    "  -d, --debug            foreground, log_level debug, and libfuse's request trace\n"
    "      --preload          pin and index every table at mount, not at first access\n"
    "      --print-config     print the effective configuration and exit\n"
    "  -h, --help             this help\n"
    "  -V, --version          version\n"
    "\n"
    "MOUNTPOINT defaults to [mount] mountpoint (/mnt/cerebro-ds). SOURCE (from fstab) is a\n"
    "configuration file, or \"cerebro-ds\" for the default one. fstab's own options (_netdev,\n"
    "nofail, auto, noauto, x-systemd.*, comment=...) are accepted and ignored. A mount point\n"
    "left behind by a killed daemon is unmounted (fusermount3 -u -z) before mounting again.\n"
    "Under systemd (Type=notify) the daemon reports READY=1 once the mount serves, and logs\n"
    "to the journal with priorities when its standard error is the journal.\n"
    "Signals: SIGHUP takes a new snapshot of every pinned table (as `cerebro-ds refresh\n"
    "MOUNTPOINT` does); SIGTERM and SIGINT unmount, release the snapshots and exit 0.\n"
    "Exit status: 0 unmounted cleanly, 1 error, 2 usage error.\n";

typedef struct cli {
    const char *config;
    char *conninfo;       /* in argv: scrubbed of its password once set */
    char *opts[MAX_OPTS]; /* -o arguments (in argv), in order */
    int nopts;
    const char *pos[2];
    int npos;
    bool foreground, debug, preload, print_config;
    bool fake; /* mount helper -f: check, print nothing, mount nothing */
} cli;

static int usage_error(const char *fmt, const char *arg)
{
    return cd_usage_error(PROG, fmt, arg);
}

static int print_error(const cd_err *err)
{
    cd_err_print(stderr, PROG, err);
    return EXIT_ERROR;
}

/* ---- command line ---- */

/* Keep one -o argument, in order. */
static int add_o(cli *c, char *arg)
{
    if (c->nopts == MAX_OPTS)
        return usage_error("too many -o options (at most %s)", "64");
    c->opts[c->nopts++] = arg;
    return EXIT_OK;
}

static int parse_cli(int argc, char **argv, cli *c)
{
    enum { OPT_CONNINFO = 256, OPT_PRELOAD, OPT_PRINT };
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"conninfo", required_argument, NULL, OPT_CONNINFO},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"debug", no_argument, NULL, 'd'},
                                         {"preload", no_argument, NULL, OPT_PRELOAD},
                                         {"print-config", no_argument, NULL, OPT_PRINT},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:o:fdhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            c->config = optarg;
            break;
        case OPT_CONNINFO:
            c->conninfo = optarg;
            break;
        case 'o':
            if (add_o(c, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'f':
            c->foreground = true;
            break;
        case 'd':
            c->debug = c->foreground = true;
            break;
        case OPT_PRELOAD:
            c->preload = true;
            break;
        case OPT_PRINT:
            c->print_config = true;
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
    while (optind < argc) {
        if (c->npos == 2)
            return usage_error("too many arguments: %s", argv[optind]);
        c->pos[c->npos++] = argv[optind++];
    }
    return EXIT_OK;
}

/*
 * As mount(8) runs a helper: "mount.fuse.cerebro-ds SOURCE MOUNTPOINT [-sfnv] [-N NS]
 * [-o OPTIONS] [-t TYPE]". -f (fake) checks the configuration and mounts nothing; -s, -n,
 * -v and -t change nothing here. The daemon goes to the background once mounted.
 */
static int parse_helper(int argc, char **argv, cli *c)
{
    int ch;
    opterr = 0;
    while ((ch = getopt(argc, argv, "-sfnvN:o:t:")) != -1) {
        switch (ch) {
        case 1: /* a positional argument, in order */
            if (c->npos == 2)
                return usage_error("too many arguments: %s", optarg);
            c->pos[c->npos++] = optarg;
            break;
        case 'f':
            c->print_config = c->fake = true;
            break;
        case 'o':
            if (add_o(c, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'N':
            return usage_error("-N %s: mounting in another namespace is not supported", optarg);
        case 's':
        case 'n':
        case 'v':
        case 't':
            break;
        default:
            return usage_error("%s", "invalid option (as a mount helper: SOURCE MOUNTPOINT "
                                     "[-sfnv] [-o OPTIONS])");
        }
    }
    if (c->npos != 2)
        return usage_error("%s", "as a mount helper: SOURCE MOUNTPOINT [-o OPTIONS]");
    return EXIT_OK;
}

/* Called as mount.<something> (a symlink), the daemon takes mount(8)'s helper arguments. */
static bool called_as_mount_helper(const char *argv0)
{
    const char *base = strrchr(argv0, '/');
    return strncmp(base ? base + 1 : argv0, "mount.", 6) == 0;
}

/* ---- -o options ---- */

/* Generic mount options that mount(8) and fstab pass; the mount is always ro,nosuid,nodev. */
static bool mount_flag(const char *item)
{
    static const char *const flags[] = {"ro",       "rw",      "nosuid",   "nodev",  "noexec",
                                        "noatime",  "atime",   "dev",      "suid",   "exec",
                                        "relatime", "_netdev", "auto",     "noauto", "user",
                                        "users",    "nouser",  "defaults", "nofail", NULL};
    for (int i = 0; flags[i] != NULL; i++)
        if (strcmp(item, flags[i]) == 0)
            return true;
    return false;
}

/* fstab's and systemd's own options, meant for mount(8) and systemd, not for the daemon. */
static bool fstab_option(const char *item)
{
    return strncmp(item, "x-", 2) == 0 || strncmp(item, "comment=", 8) == 0;
}

/* A key that may be given alone (-o allow_other): a bool key. */
static bool flag_key(const char *item)
{
#define CD_FLAG_KEY(sec, k, check, def, desc)                                                      \
    if (strcmp(#check, "bool") == 0 && strcmp(item, #k) == 0)                                      \
        return true;
    CD_CONFIG_KEYS(CD_FLAG_KEY)
#undef CD_FLAG_KEY
    return false;
}

/* Set one "key=value": key, section.key or table.<schema.table>.key. */
static int set_opt(cd_config *cfg, const char *key, const char *value)
{
    char section[400] = "", name[128];
    const char *first = strchr(key, '.'), *last = strrchr(key, '.');
    const char *k = last ? last + 1 : key;
    if (first != NULL && strncmp(key, "table.", 6) == 0 && last > key + 6)
        snprintf(section, sizeof section, "table %.*s", (int)(last - key - 6), key + 6);
    else if (first != NULL)
        snprintf(section, sizeof section, "%.*s", (int)(first - key), key);
    snprintf(name, sizeof name, "%s", k);
    cd_err err = {0};
    if (cd_config_set(cfg, first ? section : NULL, name, value, &err) == CD_OK)
        return EXIT_OK;
    fprintf(stderr, PROG ": -o %s: %s\n", key, err.msg);
    fprintf(stderr, "Try '" PROG " --help' and cerebro-ds.conf(5) for the keys.\n");
    return EXIT_USAGE;
}

/* Appends sep and text to value[size] (its strlen), the -o value of key; value holds 4095
 * characters (apply_o). A value that would be cut is a usage error. */
static int grow_value(char *value, size_t size, const char *key, const char *sep, const char *text)
{
    size_t n = strlen(value);
    if (snprintf(value + n, size - n, "%s%s", sep, text) < (int)(size - n))
        return EXIT_OK;
    return usage_error("-o %s: value longer than 4095 characters", key);
}

/*
 * One -o argument: comma-separated items. An item without '=' is a generic mount option
 * (ignored), a bool key (set to true), or, after a key=value item, more of that value: so
 * "-o tables=s.t1,s.t2" sets tables to "s.t1,s.t2".
 */
static int apply_o(cd_config *cfg, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    char *key = NULL, value[4096] = "";
    int rc = copy ? EXIT_OK : EXIT_ERROR;
    for (char *it = copy ? strtok_r(copy, ",", &save) : NULL; it && rc == EXIT_OK;
         it = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(it, '=');
        if (fstab_option(it))
            continue;
        if (eq == NULL && (mount_flag(it) || flag_key(it))) {
            if (key != NULL)
                rc = set_opt(cfg, key, value), key = NULL;
            if (rc == EXIT_OK && !mount_flag(it))
                rc = set_opt(cfg, it, "true");
        } else if (eq == NULL && key != NULL) {
            rc = grow_value(value, sizeof value, key, ",", it);
        } else if (eq == NULL) {
            rc = usage_error("unknown option -o %s (expected KEY=VALUE)", it);
        } else {
            if (key != NULL)
                rc = set_opt(cfg, key, value);
            *eq = '\0';
            key = it;
            value[0] = '\0';
            if (rc == EXIT_OK)
                rc = grow_value(value, sizeof value, key, "", eq + 1);
        }
    }
    if (rc == EXIT_OK && key != NULL)
        rc = set_opt(cfg, key, value);
    free(copy);
    return rc;
}

/* ---- configuration ---- */

static int settle(const cli *c, cd_config *cfg)
{
    cd_err err = {0};
    const char *config = c->config;
    if (config == NULL && c->npos == 2 && strcmp(c->pos[0], "cerebro-ds") != 0)
        config = c->pos[0]; /* fstab: SOURCE */
    if (config == NULL && access(DEFAULT_CONFIG, R_OK) == 0)
        config = DEFAULT_CONFIG;
    if (cd_config_init(cfg, &err) != CD_OK)
        return print_error(&err);
    if (config != NULL && cd_config_load(cfg, config, &err) != CD_OK)
        return print_error(&err);
    int rc = EXIT_OK;
    for (int i = 0; i < c->nopts && rc == EXIT_OK; i++)
        rc = apply_o(cfg, c->opts[i]);
    if (rc == EXIT_OK && c->conninfo != NULL)
        rc = set_opt(cfg, "database.conninfo", c->conninfo);
    if (rc == EXIT_OK && c->npos > 0)
        rc = set_opt(cfg, "mount.mountpoint", c->pos[c->npos - 1]);
    if (rc == EXIT_OK && c->preload)
        rc = set_opt(cfg, "mount.preload", "true");
    if (rc == EXIT_OK && c->debug)
        rc = set_opt(cfg, "mount.log_level", "debug");
    return rc;
}

/*
 * The command line as ps shows it, without the passwords it held (copied into the
 * configuration by now): the value of each password in --conninfo, and in a conninfo= or
 * coordinator= of -o, overwritten in place in argv's strings.
 */
static void scrub_argv(cli *c)
{
    static const char *const keys[] = {"conninfo=", "coordinator="};
    if (c->conninfo != NULL)
        cd_conninfo_scrub(c->conninfo);
    for (int i = 0; i < c->nopts; i++)
        for (int k = 0; k < 2; k++)
            for (char *p = strstr(c->opts[i], keys[k]); p != NULL; p = strstr(p + 1, keys[k]))
                cd_conninfo_scrub(p + strlen(keys[k]));
}

static int check_served(const cd_config *cfg)
{
    if (cfg->mount_tables[0] != '\0' || cfg->mount_schemas[0] != '\0' || cfg->ntables > 0)
        return EXIT_OK;
    cd_err err = {0};
    cd_fail(&err, CD_EINVAL, "nothing to serve: no tables and no schemas are configured");
    cd_hint(&err, "set [mount] tables = schema.table, ... or schemas = ... (or -o tables=...)");
    return print_error(&err);
}

/* The log: standard error, then where [mount] log_file says, its file opened (or refused)
 * before anything is mounted, so that a refusal stops the start with nothing mounted. */
static int open_log(const cd_config *cfg, bool foreground)
{
    cd_err err = {0};
    cd_log_open(cd_log_parse_level(cfg->mount_log_level));
    if (cd_log_route(cfg->mount_log_file, foreground, &err) != CD_OK)
        return print_error(&err);
    return EXIT_OK;
}

/* ---- the mount point ---- */

/* Is mp (absolute, canonical) a mount of type fuse.cerebro-ds? Its device number into dev. */
static bool mounted_here(const char *mp, char *dev, size_t size)
{
    char type[256];
    return cd_mount_lookup(mp, type, sizeof type, dev, size) &&
           strcmp(type, "fuse.cerebro-ds") == 0;
}

static bool run_fusermount(const char *mp)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", mp, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A mount point whose daemon died answers ENOTCONN: unmount it lazily, then go on. */
static int recover_stale(const char *mp)
{
    cd_log(CD_LOG_WARNING,
           "mount point %s: %s: a previous cerebro-ds-fuse died without unmounting; "
           "unmounting it with fusermount3 -u -z",
           mp, strerror(errno));
    if (!run_fusermount(mp) && umount2(mp, MNT_DETACH) != 0) {
        cd_err err = {0};
        cd_fail(&err, CD_EIO, "could not unmount the stale mount at %s", mp);
        cd_hint(&err, "run: fusermount3 -u -z %s (or, as root: umount -l %s)", mp, mp);
        return print_error(&err);
    }
    cd_log(CD_LOG_INFO, "stale mount at %s unmounted", mp);
    return EXIT_OK;
}

/* Make mp usable: recover a stale mount, refuse a live one; *real gets its canonical path. */
static int prepare_mountpoint(const char *mp, char *real)
{
    struct stat st;
    struct statfs sfs;
    cd_err err = {0};
    int rc = EXIT_OK;
    /* statfs always asks the file system (stat may be answered from the kernel's cache) */
    if (statfs(mp, &sfs) != 0 && (errno == ENOTCONN || errno == ECONNABORTED))
        rc = recover_stale(mp);
    if (rc != EXIT_OK)
        return rc;
    char dev[64];
    if (stat(mp, &st) != 0 || realpath(mp, real) == NULL) {
        cd_fail(&err, CD_EINVAL, "mount point %s: %s", mp, strerror(errno));
        cd_hint(&err, errno == ENOENT ? "create it: mkdir -p %s" : "check the path %s", mp);
        return print_error(&err);
    }
    if (!S_ISDIR(st.st_mode)) {
        cd_fail(&err, CD_EINVAL, "mount point %s is not a directory", mp);
        return print_error(&err);
    }
    if (mounted_here(real, dev, sizeof dev)) {
        cd_fail(&err, CD_EINVAL, "%s is already mounted by cerebro-ds-fuse", real);
        cd_hint(&err, "unmount it first (fusermount3 -u %s), or refresh it: cerebro-ds refresh %s",
                real, real);
        return print_error(&err);
    }
    return EXIT_OK;
}

/* Large sequential reads: raise the mount's readahead (the kernel offers 128 KiB). */
static void tune_readahead(const char *mp)
{
    char dev[64], path[128];
    if (!mounted_here(mp, dev, sizeof dev))
        return;
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *f = fopen(path, "w");
    if (f == NULL || fprintf(f, "%zu\n", FS_MAX_READ / 1024) < 0 || fclose(f) != 0)
        cd_log(CD_LOG_DEBUG, "could not raise the readahead in %s: %s", path, strerror(errno));
    else
        cd_log(CD_LOG_DEBUG, "readahead of %s: %zu KiB", mp, FS_MAX_READ / 1024);
}

/* ---- running ---- */

/*
 * Tell systemd how the daemon is ("READY=1", "STOPPING=1"): one datagram to the unix socket
 * named by $NOTIFY_SOCKET ('@' for an abstract name), as sd_notify(3) documents. Nothing
 * without the variable.
 */
static void notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = path ? strlen(path) : 0;
    if (n < 2 || n >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    char msg[256];
    int len = snprintf(msg, sizeof msg, "MAINPID=%d\n%s", (int)getpid(), state);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, msg, (size_t)len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
        cd_log(CD_LOG_WARNING, "could not notify systemd at %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void on_sighup(int sig)
{
    fs_ctl_request_refresh();
}

/*
 * libfuse installs its handlers only over default dispositions, and a shell starts
 * background jobs with SIGINT ignored: make them default first, so SIGTERM and SIGINT
 * always unmount. Then SIGHUP refreshes (libfuse's handler would end the loop).
 */
static int catch_signals(struct fuse_session *se)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (fuse_set_signal_handlers(se) != 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_sighup, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGHUP, &sa, NULL);
}

static struct fuse_session *new_session(cd_fs *fs, const cd_config *cfg, bool debug)
{
    char opts[256];
    snprintf(opts, sizeof opts, "ro,nosuid,nodev,fsname=cerebro-ds,subtype=cerebro-ds%s",
             cd_config_bool(cfg->mount_allow_other) ? ",allow_other" : "");
    char *argv[] = {PROG, "-o", opts, debug ? "-d" : NULL, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, argv);
    struct fuse_session *se = fuse_session_new(&args, &fs_ops, sizeof fs_ops, fs);
    fuse_opt_free_args(&args);
    return se;
}

/* The loop, until SIGTERM/SIGINT or an unmount. */
static int serve(cd_fs *fs, struct fuse_session *se, const cd_config *cfg)
{
    struct fuse_loop_config *lc = fuse_loop_cfg_create();
    if (lc == NULL)
        return EXIT_ERROR;
    fuse_loop_cfg_set_max_threads(lc, (unsigned)cd_config_uint(cfg->mount_threads));
    fuse_loop_cfg_set_clone_fd(lc, 0);
    if (cd_config_bool(cfg->mount_preload))
        fs_preload_start(fs);
    int ret = fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);
    cd_interrupted = 1; /* a pin in progress (preload, refresh) stops */
    fs_preload_join();
    if (ret < 0)
        cd_log(CD_LOG_ERROR, "the FUSE loop failed: %s", strerror(-ret));
    else if (ret > 0)
        cd_log(CD_LOG_INFO, "signal %d: unmounting", ret);
    return ret < 0 ? EXIT_ERROR : EXIT_OK;
}

/* Mount, daemonize, serve, unmount: resources released in reverse order. */
static int run(cd_fs *fs, const cd_config *cfg, const char *mp, bool foreground, bool debug)
{
    cd_err err = {0};
    int rc = EXIT_ERROR;
    struct fuse_session *se = new_session(fs, cfg, debug);
    if (se == NULL)
        goto fail_session;
    if (catch_signals(se) != 0)
        goto fail_signals;
    if (fuse_session_mount(se, mp) != 0)
        goto fail_mount;
    fs->se = se;
    tune_readahead(mp);
    if (fuse_daemonize(foreground) != 0)
        goto fail_daemon;
    if (!foreground)
        cd_log_daemonized();
    if (fs_ctl_start(fs, &err) != CD_OK) {
        cd_log_err(CD_LOG_ERROR, &err, "could not start the control server");
        goto fail_daemon;
    }
    if (fs_drop_caps(&err) != CD_OK) {
        cd_log_err(CD_LOG_ERROR, &err, "could not give up the capabilities it does not need");
        fs_ctl_stop(fs);
        goto fail_daemon;
    }
    cd_log(CD_LOG_INFO, "mounted at %s: %d database(s), cache %s MiB, control socket @%s", mp,
           fs->ndbs, cfg->mount_cache_mb, fs->control);
    notify_systemd("READY=1\nSTATUS=serving");
    rc = serve(fs, se, cfg);
    notify_systemd("STOPPING=1");
    fs_ctl_stop(fs);
fail_daemon:
    fs->se = NULL;
    fuse_session_unmount(se);
fail_mount:
    fuse_remove_signal_handlers(se);
fail_signals:
    fuse_session_destroy(se);
fail_session:
    if (rc != EXIT_OK && err.code == CD_OK)
        cd_log(CD_LOG_ERROR, "could not mount at %s (see the messages above)", mp);
    return rc;
}

int main(int argc, char **argv)
{
    /* The cache's chunks (~1 MiB) always come from mmap, so a freed one goes back to the
     * system: glibc's dynamic threshold would soon serve them from the heap, where freed
     * chunks stay resident and cache_mb stops bounding the daemon (reading 95 MB through
     * cache_mb = 4 peaked at 26.6 MB of RSS, 14.1 MB with this). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    cli c = {0};
    int rc =
        called_as_mount_helper(argv[0]) ? parse_helper(argc, argv, &c) : parse_cli(argc, argv, &c);
    if (rc != EXIT_OK)
        return rc;
    cd_config cfg;
    rc = settle(&c, &cfg);
    scrub_argv(&c);
    if (rc == EXIT_OK && c.print_config && !c.fake)
        cd_config_print(stdout, &cfg);
    if (rc != EXIT_OK || c.print_config || (rc = check_served(&cfg)) != EXIT_OK) {
        cd_config_free(&cfg);
        return rc;
    }
    char mp[PATH_MAX];
    cd_fs *fs = NULL;
    cd_err err = {0};
    rc = open_log(&cfg, c.foreground);
    if (rc == EXIT_OK)
        rc = prepare_mountpoint(cfg.mount_mountpoint, mp);
    if (rc == EXIT_OK && fs_new(&fs, &cfg, &err) != CD_OK)
        rc = print_error(&err);
    if (rc == EXIT_OK)
        rc = run(fs, &cfg, mp, c.foreground, c.debug);
    fs_free(&fs); /* releases every snapshot */
    if (rc == EXIT_OK)
        cd_log(CD_LOG_INFO, "unmounted %s; every snapshot released", mp);
    if (cd_log_write_failures() > 0)
        cd_log(CD_LOG_WARNING, "%lu log line(s) could not be written to the log file",
               cd_log_write_failures());
    cd_log_close();
    cd_config_free(&cfg);
    return rc;
}

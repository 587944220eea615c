/*
 * main_cerebro_train.c: cerebro-train: argument parsing, the JSON result line and exit
 * codes. The work is in unit.c (trainer.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "fingerprint.h"
#include "fsutil.h"
#include "npy.h"
#include "par.h"
#include "trainer.h"
#include "xfer.h"

#define PROG "cerebro-train"
#define MAX_DATA 1024
/* set in the environment of the re-executed trainer that follows --blas-core */
#define FOLLOWED_ENV "CEREBRO_TRAIN_BLAS_CORE_FOLLOWED"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_DIVERGED = 3 };

static const char usage_text[] =
    "Usage: " PROG " COMMAND [OPTIONS]\n"
    "\n"
    "Train one model configuration over shards, checkpoint to checkpoint.\n"
    "\n"
    "Commands:\n"
    "  init    --model M.ini --seed S --out C.ckpt\n"
    "  train   --model M.ini --ckpt C.ckpt --data DIR [--data DIR ...] --epoch E --out C2.ckpt\n"
    "  train   --stdio --data DIR [--data DIR ...] --epoch E\n"
    "  eval    --model M.ini --ckpt C.ckpt --data DIR [--data DIR ...]\n"
    "  eval    --stdio --data DIR [--data DIR ...]\n"
    "  predict --model M.ini --ckpt C.ckpt --data DIR --out preds.npy\n"
    "  export  --ckpt C.ckpt --out DIR        every tensor as DIR/<name>.npy\n"
    "  import  --model M.ini --from DIR --out C.ckpt\n"
    "\n"
    "Data (each --data names one shard; DIR above stands for either form):\n"
    "  DIR                                a shard directory of a cerebro-ds mount or export\n"
    "  pg:CONNINFO#SCHEMA.TABLE[#SHARD]   the same shard read through libpq (COPY BINARY in\n"
    "                                     a REPEATABLE READ transaction): the same batches;\n"
    "                                     SHARD: part0 of a plain table (the default) or a\n"
    "                                     partition's name; CONNINFO ends at the first '#'\n"
    "\n"
    "Options:\n"
    "      --device D     train, eval, predict on cpu (default), cuda (= cuda:0) or cuda:N\n"
    "      --threads T    compute threads (at most 64), default one per CPU, up to 64\n"
    "                     (results are deterministic for a fixed T)\n"
    "      --loss-log F   train: append the loss of every step to file F\n"
    "      --stdio        train, eval: read the model file and the input checkpoint from\n"
    "                     stdin and write the result line (and train's output\n"
    "                     checkpoint) to stdout, as framed streams each checked by\n"
    "                     CRC-32C (cerebro-sched's model_store = copy); writes no file;\n"
    "                     logs stay on stderr\n"
    "      --blas-core K  run OpenBLAS kernel K (as OPENBLAS_CORETYPE=K) unless the host\n"
    "                     sets OPENBLAS_CORETYPE itself or this CPU cannot run K\n"
    "  -h, --help         this help\n"
    "  -V, --version      version\n"
    "\n"
    "train, eval and predict print one JSON line on stdout: rows, loss, accuracy, seconds,\n"
    "samples_per_s, data_wait_s, epoch, step, numerics (this run's numeric fingerprint:\n"
    "version, backend, BLAS, kernel, threads) and input_numerics (the checkpoint's); and\n"
    "cut, content, snapshot when the first --data's meta file names them.\n"
    "Exit status: 0 success, 1 error, 2 usage,\n"
    "3 the model diverged (train: the loss became NaN or infinite).\n";

typedef struct cli {
    const char *cmd, *model, *ckpt, *out, *from, *device, *loss_log, *blas_core;
    char *data[MAX_DATA];
    int ndata;
    long long seed, epoch, threads;
    bool have_seed, have_epoch, stdio;
} cli;

static int usage_error(const char *fmt, const char *arg)
{
    return cd_usage_error(PROG, fmt, arg);
}

_Static_assert(CD_PAR_MAX == 64, "--help and the --threads error say at most 64");

static int number(const char *s, const char *opt, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || *out < 0 || errno == ERANGE)
        return usage_error("invalid value for %s: expected a non-negative integer below 2^63", opt);
    return EXIT_OK;
}

static int parse(int argc, char **argv, cli *c)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"ckpt", required_argument, NULL, 'k'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"data", required_argument, NULL, 'D'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"epoch", required_argument, NULL, 'e'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"device", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"loss-log", required_argument, NULL, 'L'},
                                         {"blas-core", required_argument, NULL, 'B'},
                                         {"stdio", no_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    int ch, rc = EXIT_OK;
    while (rc == EXIT_OK && (ch = getopt_long(argc, argv, "hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'm':
            c->model = optarg;
            break;
        case 'k':
            c->ckpt = optarg;
            break;
        case 'o':
            c->out = optarg;
            break;
        case 'f':
            c->from = optarg;
            break;
        case 'd':
            c->device = optarg;
            break;
        case 'L':
            c->loss_log = optarg;
            break;
        case 'B':
            c->blas_core = optarg;
            break;
        case 'S':
            c->stdio = true;
            break;
        case 'D':
            if (c->ndata == MAX_DATA)
                return usage_error("more than %s --data directories", "1024");
            c->data[c->ndata++] = optarg;
            break;
        case 's':
            rc = number(optarg, "--seed", &c->seed), c->have_seed = true;
            break;
        case 'e':
            rc = number(optarg, "--epoch", &c->epoch), c->have_epoch = true;
            break;
        case 't':
            rc = number(optarg, "--threads", &c->threads);
            if (rc == EXIT_OK && c->threads > CD_PAR_MAX)
                rc = usage_error("invalid value for --threads: at most %s", "64");
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(EXIT_OK);
        case 'V':
            printf(PROG " %s (cpu%s%s)\n", CD_VERSION, *cd_backend_cuda_built() ? ", " : "",
                   cd_backend_cuda_built());
            exit(EXIT_OK);
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (rc == EXIT_OK && optind < argc)
        c->cmd = argv[optind++];
    if (rc == EXIT_OK && optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    return rc;
}

static int need(const char *value, const char *what)
{
    return value != NULL ? EXIT_OK : usage_error("missing %s", what);
}

/* The JSON result line, with its newline; cut, content and snapshot when the shard's meta
 * file names them. */
static void format_result(const cd_train_result *r, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "{\"rows\":%llu,\"loss\":%.9g,\"accuracy\":%.9g,\"seconds\":%.6f,"
                     "\"samples_per_s\":%.3f,\"data_wait_s\":%.6f,\"epoch\":%llu,\"step\":%llu,"
                     "\"numerics\":\"%s\",\"input_numerics\":\"%s\"",
                     (unsigned long long)r->rows, r->loss, r->accuracy, r->seconds,
                     r->seconds > 0 ? (double)r->rows / r->seconds : 0, r->data_wait_s,
                     (unsigned long long)r->epoch, (unsigned long long)r->step, r->numerics,
                     r->input_numerics);
    const char *keys[] = {"cut", "content", "snapshot"};
    const char *values[] = {r->cut, r->content, r->snapshot};
    for (int i = 0; i < 3 && n > 0 && (size_t)n < size; i++)
        if (values[i][0] != '\0')
            n += snprintf(buf + n, size - (size_t)n, ",\"%s\":\"%s\"", keys[i], values[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "}\n");
}

static cd_train_args train_args(const cli *c, cd_train_mode mode)
{
    cd_train_args a = {.mode = mode,
                       .ckpt = c->ckpt,
                       .data = (char **)c->data,
                       .ndata = c->ndata,
                       .epoch = (uint64_t)c->epoch,
                       .out = c->out,
                       .threads = (int)c->threads,
                       .device = c->device,
                       .loss_log = c->loss_log};
    return a;
}

/* --out's directory must exist and be writable before the pass, not found missing after it. */
static bool out_dir_missing(const char *out, cd_err *err)
{
    char dir[4096];
    cd_dir_of(out, dir, sizeof dir);
    struct stat st;
    const char *why = NULL;
    if (stat(dir, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why == NULL)
        return false;
    cd_fail(err, CD_EIO, "cannot write --out \"%s\": directory \"%s\": %s", out, dir, why);
    cd_hint(err, "create the directory first, or give another --out");
    return true;
}

static int run_unit(const cli *c, const cd_model_spec *m, cd_train_mode mode, cd_err *err)
{
    cd_train_args a = train_args(c, mode);
    int rc = need(c->ckpt, "--ckpt");
    if (rc == EXIT_OK && c->ndata == 0)
        rc = usage_error("%s", "missing --data");
    if (rc == EXIT_OK && mode == CD_MODE_TRAIN && !c->have_epoch)
        rc = usage_error("%s", "missing --epoch");
    if (rc == EXIT_OK && mode != CD_MODE_EVAL)
        rc = need(c->out, "--out");
    if (rc != EXIT_OK)
        return rc;
    if (mode != CD_MODE_EVAL && out_dir_missing(c->out, err))
        return EXIT_ERROR;
    cd_train_result r;
    if (cd_train_run(m, &a, &r, err) != CD_OK)
        return r.diverged ? EXIT_DIVERGED : EXIT_ERROR;
    char line[2048];
    format_result(&r, line, sizeof line);
    fputs(line, stdout);
    fflush(stdout);
    return EXIT_OK;
}

/* The unit of a request (model file, input checkpoint), answered into out. */
static int answer_request(const cli *c, cd_xfer_part *req, FILE *out, cd_err *err)
{
    cd_model_spec m;
    if (cd_model_parse("stdin (model file)", (const char *)req[0].data, req[0].len, &m, err))
        return EXIT_ERROR;
    uint8_t *image = NULL;
    size_t len = 0;
    bool eval = strcmp(c->cmd, "eval") == 0;
    cd_train_args a = train_args(c, eval ? CD_MODE_EVAL : CD_MODE_TRAIN);
    a.ckpt = "stdin (input checkpoint)";
    a.ckpt_image = req[1].data;
    a.ckpt_len = req[1].len;
    a.out_image = eval ? NULL : &image;
    a.out_len = eval ? NULL : &len;
    cd_train_result r;
    if (cd_train_run(&m, &a, &r, err) != CD_OK)
        return r.diverged ? EXIT_DIVERGED : EXIT_ERROR;
    char line[2048];
    format_result(&r, line, sizeof line);
    cd_xfer_part ans[2] = {{"RSLT", (uint8_t *)line, strlen(line)}, {"CKPT", image, len}};
    cd_code rc =
        cd_xfer_write(out, CD_XFER_ANSWER, ans, eval ? 1 : 2, "the answer on stdout", NULL, err);
    free(image);
    return rc == CD_OK ? EXIT_OK : EXIT_ERROR;
}

/* train and eval --stdio (model_store = copy; common/xfer.h): the model file and the input
 * checkpoint arrive framed on stdin, the result line (and train's output checkpoint) leave
 * framed on stdout; no file is written on this host. The answer keeps stdout to itself:
 * anything else that writes to file descriptor 1 (a library's message) goes to stderr, the
 * log. */
static int run_stdio(const cli *c, cd_err *err)
{
    bool eval = strcmp(c->cmd, "eval") == 0;
    if (strcmp(c->cmd, "train") != 0 && !eval)
        return usage_error("--stdio is for train and eval, not %s", c->cmd);
    if (c->model != NULL || c->ckpt != NULL || c->out != NULL || c->loss_log != NULL)
        return usage_error("%s", "--stdio takes no --model, --ckpt, --out or --loss-log");
    if (c->ndata == 0 || (!eval && !c->have_epoch))
        return usage_error("%s", eval ? "eval --stdio needs --data"
                                      : "train --stdio needs --data and --epoch");
    int fd = dup(1);
    FILE *out = fd >= 0 && dup2(2, 1) >= 0 ? fdopen(fd, "wb") : NULL;
    if (out == NULL) {
        cd_fail(err, CD_EIO, "could not set up stdout for the answer: %s", strerror(errno));
        return EXIT_ERROR;
    }
    cd_xfer_part req[2] = {{.tag = "MODL"}, {.tag = "CKPT"}};
    int rc = EXIT_ERROR;
    if (cd_xfer_read(stdin, CD_XFER_REQUEST, req, 2, "the request on stdin", NULL, err) == CD_OK)
        rc = answer_request(c, req, out, err);
    cd_xfer_free(req, 2);
    if (fclose(out) != 0 && rc == EXIT_OK) {
        cd_fail(err, CD_EIO, "could not write the answer on stdout: %s", strerror(errno));
        rc = EXIT_ERROR;
    }
    return rc;
}

static int run(const cli *c, cd_err *err)
{
    const char *cmd = c->cmd;
    if (cmd == NULL)
        return usage_error("%s", "missing command");
    if (c->stdio)
        return run_stdio(c, err);
    if (strcmp(cmd, "export") == 0) {
        int rc = need(c->ckpt, "--ckpt") || need(c->out, "--out");
        return rc ? EXIT_USAGE : cd_train_export(c->ckpt, c->out, err) ? EXIT_ERROR : EXIT_OK;
    }
    static const char *const known[] = {"init", "train", "eval", "predict", "import"};
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok = ok || strcmp(cmd, known[i]) == 0;
    if (!ok)
        return usage_error("unknown command \"%s\"", cmd);
    if (need(c->model, "--model") != EXIT_OK)
        return EXIT_USAGE;
    cd_model_spec m;
    if (cd_model_load(c->model, &m, err) != CD_OK)
        return EXIT_ERROR;
    if (strcmp(cmd, "init") == 0) {
        if (!c->have_seed || c->out == NULL)
            return usage_error("%s", "init needs --seed and --out");
        return cd_train_init(&m, (uint64_t)c->seed, c->out, err) ? EXIT_ERROR : EXIT_OK;
    }
    if (strcmp(cmd, "import") == 0) {
        if (c->from == NULL || c->out == NULL)
            return usage_error("%s", "import needs --from and --out");
        return cd_train_import(&m, c->from, c->out, err) ? EXIT_ERROR : EXIT_OK;
    }
    cd_train_mode mode = strcmp(cmd, "train") == 0  ? CD_MODE_TRAIN
                         : strcmp(cmd, "eval") == 0 ? CD_MODE_EVAL
                                                    : CD_MODE_PREDICT;
    return run_unit(c, &m, mode, err);
}

/* --blas-core: run the OpenBLAS kernel the scheduler chose, so that every unit of a model
 * computes the same bits (fingerprint.h). OpenBLAS picks its kernel when it is loaded, from
 * OPENBLAS_CORETYPE or else the CPU: to change it, set the variable and execute this program
 * again. Not followed, with a warning: a host that sets OPENBLAS_CORETYPE itself (ops do, to
 * avoid OpenBLAS bugs), a kernel this CPU cannot run, or one OpenBLAS did not take. Either
 * way the result line's numerics say which kernel ran. */
static void follow_blas_core(const char *core, char **argv)
{
    if (core == NULL || strcasecmp(core, cd_blas_core()) == 0)
        return;
    const char *host = getenv("OPENBLAS_CORETYPE");
    char why[160];
    if (getenv(FOLLOWED_ENV) != NULL)
        snprintf(why, sizeof why, "OpenBLAS did not select it");
    else if (host != NULL)
        snprintf(why, sizeof why, "this host sets OPENBLAS_CORETYPE=%.64s", host);
    else if (!cd_blas_core_known(core))
        snprintf(why, sizeof why, "no OpenBLAS kernel known here has that name");
    else if (!cd_blas_core_runs_here(core))
        snprintf(why, sizeof why, "this CPU cannot run it");
    else {
        setenv("OPENBLAS_CORETYPE", core, 1);
        setenv(FOLLOWED_ENV, "1", 1);
        execv("/proc/self/exe", argv);
        snprintf(why, sizeof why, "could not execute /proc/self/exe again");
    }
    fprintf(stderr, PROG ": warning: OpenBLAS kernel %s, not the requested %.64s: %s\n",
            cd_blas_core(), core, why);
    fprintf(stderr, "HINT:  results may differ in the last bits from units run with %.64s\n", core);
}

int main(int argc, char **argv)
{
    cli c = {0};
    int rc = parse(argc, argv, &c);
    if (rc != EXIT_OK)
        return rc;
    follow_blas_core(c.blas_core, argv);
    cd_npy_catch_shrink(PROG, EXIT_ERROR); /* a shard file truncated under its mapping */
    cd_err err = {0};
    rc = run(&c, &err);
    if (rc == EXIT_ERROR || rc == EXIT_DIVERGED)
        cd_err_print(stderr, PROG, &err);
    return rc;
}

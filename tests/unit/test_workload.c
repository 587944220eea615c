/*
 * test_workload.c: workload files (scheduler/workload.h): every key and its default,
 * relative paths, shards found and sorted, [search] values, workers, overrides, the shipped
 * workloads (every sampled hyperband configuration written and re-parsed), every error
 * with the file:line and key it names, and the model files of configurations (re-parsed by
 * trainer/model.h, written atomically).
 * Works in a mkdtemp directory under /tmp (removed at the end); run from the repository root.
 */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "search.h"
#include "unit.h"
#include "workload.h"

static char dir[] = "/tmp/cd-test-workload-XXXXXX";
static char real_dir[PATH_MAX];

static const char model_text[] = "# a small model\n"
                                 "[model]\n"
                                 "input = 4\n"
                                 "layers = dense:8, relu, dense:3\n"
                                 "classes = 3\n"
                                 "\n"
                                 "[train]\n"
                                 "optimizer = adam\n"
                                 "lr = 0.01   ; inline comment\n"
                                 "batch_size = 16\n"
                                 "# the end of [train]\n";

/* dir/rel with text; returns the path in a static buffer (one at a time). */
static const char *put(const char *rel, const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void mk(const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    CHECK(mkdir(path, 0755) == 0);
}

static void make_tree(void)
{
    CHECK(mkdtemp(dir) != NULL);
    CHECK(realpath(dir, real_dir) != NULL);
    const char *dirs[] = {"data",
                          "data/train",
                          "data/train/part0",
                          "data/train/part10",
                          "data/train/part2",
                          "data/train/part1",
                          "data/train/.hidden",
                          "data/valid",
                          "data/table",
                          "data/table/part0",
                          "data/empty",
                          "models",
                          "out"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        mk(dirs[i]);
    put("data/train/meta", "rows = 4\n");
    put("data/valid/x.npy", "");
    put("data/table/part0/x.npy", "");
    put("models/m.ini", model_text);
    put("models/m2.ini", "[model]\ninput = 4\nlayers = dense:3\nclasses = 3\n");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(void)
{
    CHECK(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static cd_code load_text(const char *text, cd_workload *w, cd_err *err)
{
    return cd_workload_load(w, put("w.ini", text), err);
}

#define BASE "[data]\ntrain = data/train\n[model]\nfile = models/m.ini\n"

static void test_defaults(void)
{
    cd_workload w;
    cd_err err = {0};
    char want[PATH_MAX + 64];
    CHECK_CODE(load_text(BASE, &w, &err), CD_OK, &err);
    snprintf(want, sizeof want, "%s/data/train", real_dir);
    CHECK(strcmp(w.train_dir, want) == 0);
    snprintf(want, sizeof want, "%s/models/m.ini", real_dir);
    CHECK(strcmp(w.model_file, want) == 0);
    snprintf(want, sizeof want, "%s/w.ini", real_dir);
    CHECK(strcmp(w.path, want) == 0);
    CHECK(w.valid_dir == NULL && w.feature == NULL && w.label == NULL && w.model_dir == NULL);
    CHECK_EQ_INT(w.procedure, CD_PROC_GRID);
    CHECK_EQ_INT(w.epochs, 10);
    CHECK_EQ_INT(w.policy, CD_POLICY_ASYNC);
    CHECK(w.unit_timeout == 0);
    CHECK_EQ_INT(w.retries, 2);
    CHECK_EQ_INT(w.sched_seed, 1);
    CHECK_EQ_INT(w.search_seed, 1);
    CHECK_EQ_INT(w.launcher, CD_LAUNCH_LOCAL);
    CHECK_EQ_INT(w.model_store, CD_STORE_SHARED);
    CHECK(!w.snapshot_continue);
    CHECK(strcmp(w.mountpoint, "/mnt/cerebro-ds") == 0);
    CHECK(w.citus == NULL && w.nvalid_parts == 0);
    CHECK_EQ_INT(w.threads, 1);
    CHECK(strcmp(w.ssh_command, "ssh -o BatchMode=yes {host} {command}") == 0);
    CHECK_EQ_INT(w.nkeys, 0);
    /* shards: sub-directories in version order, hidden ones and files skipped */
    static const char *const shards[] = {"part0", "part1", "part2", "part10"};
    CHECK_EQ_INT(w.nshards, 4);
    CHECK_EQ_INT(w.nworkers, 4);
    for (int i = 0; i < w.nshards && i < 4; i++) {
        CHECK(strcmp(w.shards[i], shards[i]) == 0);
        snprintf(want, sizeof want, "%s/data/train/%s", real_dir, shards[i]);
        CHECK(strcmp(w.workers[i].shard, want) == 0);
        CHECK(strcmp(w.workers[i].host, "localhost") == 0);
        CHECK(strcmp(w.workers[i].device, "cpu") == 0);
        CHECK_EQ_INT(w.workers[i].shard_id, i);
    }
    cd_workload_free(&w);
    CHECK(w.path == NULL && w.shards == NULL);
}

static void test_every_key(void)
{
    cd_workload w;
    cd_err err = {0};
    char want[PATH_MAX + 64];
    CHECK_CODE(load_text("[data]\ntrain = data/train\nvalid = data/valid\nfeature = img\n"
                         "label = cls\n[model]\nfile = models/m.ini\n"
                         "[procedure]\nkind = random\nepochs = 4\nn = 7\nseed = 99\n"
                         "[scheduler]\npolicy = sync\nunit_timeout = 2.5\nretries = 0\n"
                         "seed = 18446744073709551615\nmodel_store = copy\n"
                         "[workers]\nlauncher = ssh\nssh_command = rsh {host} -- {command}\n"
                         "threads = 8\nmodel_dir = jobs/models\n",
                         &w, &err),
               CD_OK, &err);
    snprintf(want, sizeof want, "%s/data/valid", real_dir);
    CHECK(w.valid_dir != NULL && strcmp(w.valid_dir, want) == 0);
    CHECK(strcmp(w.feature, "img") == 0 && strcmp(w.label, "cls") == 0);
    CHECK_EQ_INT(w.procedure, CD_PROC_RANDOM);
    CHECK_EQ_INT(w.epochs, 4);
    CHECK_EQ_INT(w.n, 7);
    CHECK(w.search_seed == 99);
    CHECK_EQ_INT(w.policy, CD_POLICY_SYNC);
    CHECK(w.unit_timeout == 2.5);
    CHECK_EQ_INT(w.retries, 0);
    CHECK(w.sched_seed == UINT64_MAX);
    CHECK_EQ_INT(w.model_store, CD_STORE_COPY);
    CHECK_EQ_INT(w.launcher, CD_LAUNCH_SSH);
    CHECK(strcmp(w.ssh_command, "rsh {host} -- {command}") == 0);
    CHECK_EQ_INT(w.threads, 8);
    snprintf(want, sizeof want, "%s/jobs/models", real_dir);
    CHECK(w.model_dir != NULL && strcmp(w.model_dir, want) == 0);
    cd_workload_free(&w);

    CHECK_CODE(load_text(BASE "[procedure]\nkind = hyperband\nR = 27\neta = 4\nseed = 5\n"
                              "[scheduler]\npolicy = random\n",
                         &w, &err),
               CD_OK, &err);
    CHECK_EQ_INT(w.procedure, CD_PROC_HYPERBAND);
    CHECK_EQ_INT(w.R, 27);
    CHECK_EQ_INT(w.eta, 4);
    CHECK(w.search_seed == 5);
    CHECK_EQ_INT(w.policy, CD_POLICY_RANDOM);
    cd_workload_free(&w);
}

static void test_search_values(void)
{
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(load_text(BASE "[search]\n"
                              "model.file = models/m.ini, models/m2.ini\n"
                              "train.lr = choice(0.1, 0.01 ,0.001)\n"
                              "model.layers = \"dense:8, relu, dense:3\",\n"
                              "    \"dense:3\" ; two architectures\n"
                              "train.weight_decay = loguniform(1e-6, 1e-2)\n"
                              "train.momentum = uniform(0.5, 0.99)\n"
                              "[procedure]\nkind = random\n",
                         &w, &err),
               CD_OK, &err);
    CHECK_EQ_INT(w.nkeys, 5);
    if (w.nkeys == 5) {
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "%s/models/m2.ini", real_dir);
        CHECK(strcmp(w.keys[0].key, "model.file") == 0 && w.keys[0].nvalues == 2);
        CHECK(strcmp(w.keys[0].values[1], want) == 0);
        CHECK(strcmp(w.model_file + strlen(w.model_file) - 12, "models/m.ini") == 0);
        CHECK(w.keys[1].dist == CD_DIST_LIST && w.keys[1].nvalues == 3);
        CHECK(strcmp(w.keys[1].values[1], "0.01") == 0);
        CHECK(strcmp(w.keys[1].values[2], "0.001") == 0);
        CHECK_EQ_INT(w.keys[2].nvalues, 2);
        CHECK(strcmp(w.keys[2].values[0], "dense:8, relu, dense:3") == 0);
        CHECK(strcmp(w.keys[2].values[1], "dense:3") == 0);
        CHECK_EQ_INT(w.keys[2].line, 8);
        CHECK(w.keys[3].dist == CD_DIST_LOGUNIFORM && w.keys[3].lo == 1e-6 && w.keys[3].hi == 1e-2);
        CHECK(w.keys[4].dist == CD_DIST_UNIFORM && w.keys[4].lo == 0.5 && w.keys[4].hi == 0.99);
        CHECK_EQ_INT(w.keys[4].line, 11);
    }
    cd_workload_free(&w);
    /* no [model] file: the first model.file is the base */
    CHECK_CODE(
        load_text("[data]\ntrain = data/train\n[search]\nmodel.file = models/m2.ini\n", &w, &err),
        CD_OK, &err);
    CHECK(w.model_file != NULL && strstr(w.model_file, "models/m2.ini") != NULL);
    cd_workload_free(&w);
}

static void test_workers(void)
{
    cd_workload w;
    cd_err err = {0};
    char text[4096];
    snprintf(text, sizeof text,
             BASE "[workers]\n"
                  "worker = localhost:data/train/part1:cuda:1\n"
                  "worker = 127.0.0.1:%s/data/train/part0\n"
                  "worker = localhost:data/train/part2:cpu\n"
                  "worker = localhost:data/train/part10:cuda\n"
                  "worker = localhost:data/train/part10:cuda:0\n",
             dir);
    CHECK_CODE(load_text(text, &w, &err), CD_OK, &err);
    CHECK_EQ_INT(w.nworkers, 5);
    if (w.nworkers == 5) {
        static const int ids[] = {1, 0, 2, 3, 3};
        static const char *const devices[] = {"cuda:1", "cpu", "cpu", "cuda", "cuda:0"};
        for (int i = 0; i < 5; i++) {
            CHECK_EQ_INT(w.workers[i].shard_id, ids[i]);
            CHECK(strcmp(w.workers[i].device, devices[i]) == 0);
            CHECK(strncmp(w.workers[i].shard, real_dir, strlen(real_dir)) == 0);
        }
        CHECK(strcmp(w.workers[1].host, "127.0.0.1") == 0);
    }
    cd_workload_free(&w);
    /* other hosts: ssh launcher, absolute paths matched to shards by name */
    CHECK_CODE(load_text(BASE "[workers]\nlauncher = ssh\n"
                              "worker = seg1:/mnt/cerebro-ds/db/public.t/part10:cuda:3\n"
                              "worker = seg1:/mnt/cerebro-ds/db/public.t/part2\n"
                              "worker = seg2:/data/part1\nworker = seg2:/data/part0\n",
                         &w, &err),
               CD_OK, &err);
    CHECK_EQ_INT(w.nworkers, 4);
    if (w.nworkers == 4) {
        CHECK(strcmp(w.workers[0].host, "seg1") == 0);
        CHECK(strcmp(w.workers[0].shard, "/mnt/cerebro-ds/db/public.t/part10") == 0);
        CHECK(strcmp(w.workers[0].device, "cuda:3") == 0);
        CHECK_EQ_INT(w.workers[0].shard_id, 3);
        CHECK_EQ_INT(w.workers[3].shard_id, 0);
    }
    cd_workload_free(&w);
}

/* text fails to load with a message naming line and containing want (and want2). */
static void expect_error(const char *text, int line, const char *want, const char *want2)
{
    cd_workload w;
    cd_err err = {0};
    char at[64];
    cd_code rc = load_text(text, &w, &err);
    CHECK(rc != CD_OK);
    snprintf(at, sizeof at, "w.ini:%d:", line);
    bool ok = rc != CD_OK && (line == 0 || strstr(err.msg, at) != NULL) &&
              strstr(err.msg, want) != NULL && (want2 == NULL || strstr(err.msg, want2) != NULL);
    if (!ok)
        fprintf(stderr, "  want \"%s\" \"%s\" \"%s\", got: %s | %s | %s\n", at, want,
                want2 ? want2 : "", err.msg, err.detail, err.hint);
    CHECK(ok);
    CHECK(w.path == NULL && w.keys == NULL); /* freed on failure */
}

static void test_errors_keys(void)
{
    expect_error(BASE "[bogus]\n", 5, "unknown section [bogus]", NULL);
    expect_error(BASE "[procedure]\nkind = grid\nepoch = 3\n", 7, "unknown key \"epoch\"",
                 "[procedure]");
    expect_error(BASE "[procedure]\nepochs = 3\nepochs = 4\n", 7, "[procedure] epochs", "twice");
    expect_error(BASE "[procedure]\nepochs = ten\n", 6, "\"ten\"", "[procedure] epochs");
    expect_error(BASE "[procedure]\nepochs = 0\n", 6, "\"0\"", "[procedure] epochs");
    expect_error(BASE "[procedure]\nkind = hyperband\neta = 1\n", 7, "[procedure] eta", NULL);
    expect_error(BASE "[procedure]\nkind = hyperband\nR = 0\n", 7, "[procedure] R", NULL);
    expect_error(BASE "[procedure]\nkind = random\nn = 0\n", 7, "[procedure] n", NULL);
    expect_error(BASE "[procedure]\nkind = bayes\n", 6, "[procedure] kind", NULL);
    expect_error(BASE "[procedure]\nR = 9\n", 6, "[procedure] R is not used by kind = grid", NULL);
    expect_error(BASE "[procedure]\nkind = hyperband\nepochs = 9\n", 7, "[procedure] epochs",
                 "hyperband");
    expect_error(BASE "[scheduler]\npolicy = fifo\n", 6, "\"fifo\"", "[scheduler] policy");
    expect_error(BASE "[scheduler]\nunit_timeout = -1\n", 6, "[scheduler] unit_timeout", NULL);
    expect_error(BASE "[scheduler]\nretries = x\n", 6, "[scheduler] retries", NULL);
    expect_error(BASE "[scheduler]\nseed = -3\n", 6, "[scheduler] seed", NULL);
    expect_error(BASE "[scheduler]\nmodel_store = nfs\n", 6, "\"nfs\"", "[scheduler] model_store");
    expect_error(BASE "[scheduler]\non_snapshot_change = ignore\n", 6, "\"ignore\"",
                 "[scheduler] on_snapshot_change");
    expect_error(BASE "[workers]\nmountpoint = mnt\n", 6, "[workers] mountpoint", NULL);
    /* a coordinator that does not answer: the error names the key and the spec, no password */
    expect_error("[data]\ntrain = citus:host=/nonexistent password=s3cret#public.t\n"
                 "[model]\nfile = models/m.ini\n",
                 2, "[data] train", "could not connect to the coordinator");
    expect_error(BASE "[workers]\nlauncher = rsh\n", 6, "\"rsh\"", "[workers] launcher");
    expect_error(BASE "[workers]\nthreads = 0\n", 6, "[workers] threads", NULL);
    expect_error(BASE "[workers]\nssh_command = ssh {host}\n", 6, "[workers] ssh_command", NULL);
    /* {host} inside a word: the host reached was named "root@{host}" */
    expect_error(BASE "[workers]\nssh_command = ssh root@{host} {command}\n", 6,
                 "[workers] ssh_command", "root@{host}");
    expect_error(BASE "[data]\nfeature = a/b\n", 6, "[data] feature", NULL);
    expect_error("lonely = 1\n" BASE, 1, "\"lonely\" outside a section", NULL);
    expect_error(BASE "[procedure]\nkind = grid\n  epochs = 3\n", 7, "[procedure] kind",
                 "indented");
    /* an indented [name] after a key continues the key's value, as inih reads it: not a
     * section (it was taken for one, and the key seemed given twice) */
    expect_error(BASE "[scheduler]\npolicy = async\n  [workers]\nthreads = 1\n", 7,
                 "indented line continues [scheduler] policy", NULL);
    expect_error(BASE "[workers]\nworker = h:data/train/part0\n\t[model]\n", 7,
                 "indented line continues [workers] worker", NULL);
    expect_error(BASE "[procedure]\nepochs = 2\n  [bogus]\n", 7,
                 "indented line continues [procedure] epochs", NULL);
    expect_error(BASE "[procedure]\n  [bogus]\n", 6, "unknown section [bogus]", NULL); /* no key */
    expect_error(BASE "[procedure]\nkind grid\n", 6, "syntax error", NULL);
    char long_line[400];
    snprintf(long_line, sizeof long_line, BASE "[scheduler]\nseed = %0250d\n", 1);
    expect_error(long_line, 6, "line longer than 198 characters", NULL);
    /* the rest of a line after a NUL byte was dropped: epochs 1 read, not 12 */
    static const char nul[] = BASE "[procedure]\nepochs = 1\0"
                                   "2\n";
    const char *path = put("w.ini", "");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fwrite(nul, 1, sizeof nul - 1, f) == sizeof nul - 1);
    if (f != NULL)
        fclose(f);
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(cd_workload_load(&w, path, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "w.ini:6: line holds a NUL byte") != NULL);
}

static void test_errors_search(void)
{
    expect_error(BASE "[search]\ntrain.lr =\n", 6, "train.lr", "no values");
    expect_error(BASE "[search]\ntrain.lr = choice()\n", 6, "train.lr", "no values");
    expect_error(BASE "[search]\ntrain.lr = 0.1, , 0.2\n", 6, "[search] train.lr", NULL);
    expect_error(BASE "[search]\nmodel.layers = \"dense:3\n", 6, "[search] model.layers", NULL);
    expect_error(BASE "[search]\ntrain.lr = 0.1\ntrain.lr = 0.2\n", 7, "[search] train.lr",
                 "twice");
    expect_error(BASE "[procedure]\nkind = random\n[search]\ntrain.lr = uniform(0.1, 0.1)\n", 8,
                 "train.lr", "empty search space");
    expect_error(BASE "[procedure]\nkind = random\n[search]\ntrain.lr = uniform(1, x)\n", 8,
                 "[search] train.lr", NULL);
    expect_error(BASE "[procedure]\nkind = random\n[search]\ntrain.lr = loguniform(0, 1)\n", 8,
                 "train.lr", "loguniform needs lo > 0");
    expect_error(BASE "[procedure]\nkind = random\n[search]\ntrain.lr = normal(0, 1)\n", 8,
                 "[search] train.lr", NULL);
    expect_error(BASE "[search]\ntrain.lr = loguniform(0.001, 0.1)\n", 6, "train.lr",
                 "grid takes a list");
    expect_error(BASE "[search]\ntrain.foo = 1, 2\n", 6, "train.foo", "not a key of model files");
    expect_error(BASE "[search]\noptim.lr = 1, 2\n", 6, "optim.lr", "not a key of model files");
    expect_error(BASE "[search]\nmodel.file = models/m.ini, models/nope.ini\n", 6,
                 "models/nope.ini", "does not exist");
    expect_error(BASE "[procedure]\nkind = random\n[search]\nmodel.file = uniform(1, 2)\n", 8,
                 "[search] model.file", NULL);
}

static void test_errors_data(void)
{
    expect_error("[model]\nfile = models/m.ini\n", 0, "[data] train is missing", "w.ini");
    expect_error("[data]\ntrain = data/train\n", 0, "[model] file is missing", "w.ini");
    expect_error("[data]\ntrain = data/nope\n", 2, "data/nope", "does not exist");
    expect_error("[data]\ntrain = data/train/meta\n", 2, "[data] train", "not a directory");
    expect_error("[data]\ntrain = data/empty\n[model]\nfile = models/m.ini\n", 2, "data/empty",
                 "no shard sub-directories");
    expect_error(BASE "[data]\nvalid = data/nope\n", 6, "[data] valid", "does not exist");
    expect_error(BASE "[data]\nvalid = data/table\n", 6, "[data] valid", "not a shard directory");
    expect_error("[data]\ntrain = data/train\n[model]\nfile = models/none.ini\n", 4,
                 "models/none.ini", "does not exist");
    expect_error("[data]\ntrain = data/train\n[model]\nfile = models\n", 4, "[model] file",
                 "not a file");
}

static void test_errors_workers(void)
{
    expect_error(BASE "[workers]\nworker = nocolon\n", 6, "[workers] worker", "nocolon");
    expect_error(BASE "[workers]\nworker = localhost:\n", 6, "[workers] worker", NULL);
    expect_error(BASE "[workers]\nworker = localhost:data/valid\n", 6, "data/valid",
                 "not a shard of [data] train");
    expect_error(BASE "[workers]\nworker = localhost:data/nope:cuda:0\n", 6, "data/nope",
                 "does not exist");
    expect_error(BASE "[workers]\nworker = seg1:/data/part0\n", 6, "\"seg1\"", "not this host");
    expect_error(BASE "[workers]\nlauncher = ssh\nworker = seg1:data/part0\n", 7,
                 "[workers] worker", NULL);
    expect_error(BASE "[workers]\nlauncher = ssh\nworker = seg1:/data/part7\n", 7, "/data/part7",
                 "not a shard");
    expect_error(BASE "[workers]\nworker = localhost:data/train/part0\n"
                      "worker = localhost:data/train/part1\nworker = localhost:data/train/part2\n",
                 6, "shard \"part10\"", "no worker");
}

static void test_overrides(void)
{
    cd_workload w;
    cd_err err = {0};
    char train[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(train, sizeof train, "%s/data/train", dir);
    cd_workload_override ov[] = {{"data", "train", train}, {"procedure", "epochs", "3"}};
    snprintf(path, sizeof path, "%s",
             put("w.ini", "[data]\ntrain = /nonexistent/mount\n"
                          "[model]\nfile = models/m.ini\n"
                          "[procedure]\nepochs = 5\n"));
    CHECK_CODE(cd_workload_load_with(&w, path, ov, 2, &err), CD_OK, &err);
    CHECK_EQ_INT(w.epochs, 3);
    CHECK_EQ_INT(w.nshards, 4);
    cd_workload_free(&w);
    cd_workload_override bad[] = {{"procedure", "eta", "1"}};
    CHECK(cd_workload_load_with(&w, path, bad, 1, &err) != CD_OK);
    CHECK(strstr(err.msg, "override") != NULL && strstr(err.msg, "[procedure] eta") != NULL);
    cd_workload_override search[] = {{"search", "train.lr", "1"}};
    CHECK(cd_workload_load_with(&w, path, search, 1, &err) != CD_OK);
    CHECK(strstr(err.msg, "cannot be overridden") != NULL);
}

/* A shipped workload over the temporary shard tree. */
static cd_code load_shipped(const char *file, cd_workload *w, cd_err *err)
{
    static char train[PATH_MAX + 32], valid[PATH_MAX + 32];
    snprintf(train, sizeof train, "%s/data/train", dir);
    snprintf(valid, sizeof valid, "%s/data/valid", dir);
    cd_workload_override ov[] = {{"data", "train", train}, {"data", "valid", valid}};
    return cd_workload_load_with(w, file, ov, 2, err);
}

static void test_shipped_grid(void)
{
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(load_shipped("conf/workloads/fashion-grid.ini", &w, &err), CD_OK, &err);
    CHECK_EQ_INT(w.procedure, CD_PROC_GRID);
    CHECK_EQ_INT(w.epochs, 10);
    CHECK_EQ_INT(w.nkeys, 4);
    int configs = 1;
    for (int i = 0; i < w.nkeys; i++)
        configs *= w.keys[i].nvalues;
    CHECK_EQ_INT(configs, 16);
    CHECK(w.nkeys > 0 && strstr(w.keys[0].values[1], "conf/models/fashion-cnn.ini") != NULL);
    CHECK(w.valid_dir != NULL && strstr(w.valid_dir, "data/valid") != NULL);
    /* the second value of every key: the cnn, lr 1e-4, batch 256, weight decay 1e-5 */
    char *values[4];
    for (int i = 0; i < 4 && i < w.nkeys; i++)
        values[i] = w.keys[i].values[1];
    cd_config_values c = {values};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/out/cnn.ini", dir);
    CHECK_CODE(cd_workload_write_model(&w, &c, path, &err), CD_OK, &err);
    cd_model_spec m;
    CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
    CHECK(m.lr == 0.0001 && m.batch_size == 256 && m.weight_decay == 0.00001);
    CHECK_EQ_INT(m.nlayers, 13);
    cd_workload_free(&w);
}

static void test_shipped_hyperband(void)
{
    cd_workload w;
    cd_err err = {0};
    cd_model_spec m;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/out/hb.ini", dir);
    CHECK_CODE(load_shipped("conf/workloads/fashion-hyperband.ini", &w, &err), CD_OK, &err);
    CHECK_EQ_INT(w.procedure, CD_PROC_HYPERBAND);
    CHECK_EQ_INT(w.R, 9);
    CHECK_EQ_INT(w.eta, 3);
    CHECK_EQ_INT(w.nkeys, 4);
    CHECK(w.nkeys == 4 && w.keys[1].dist == CD_DIST_LOGUNIFORM && w.keys[2].nvalues == 3);
    /* every sampled configuration makes a model file the trainer's parser takes */
    cd_search *s = NULL;
    CHECK_CODE(cd_search_new(&s, &w, &err), CD_OK, &err);
    for (int t = 0; s != NULL && t < cd_search_ntrials(s); t++) {
        const cd_trial *tr = cd_search_trial(s, t);
        CHECK_CODE(cd_workload_write_model(&w, &tr->config, path, &err), CD_OK, &err);
        CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
        CHECK(m.lr == atof(tr->config.values[1]));
        CHECK(m.batch_size == atoi(tr->config.values[2]));
        CHECK(m.weight_decay == atof(tr->config.values[3]));
    }
    cd_search_free(&s);
    cd_workload_free(&w);
}

/* No file named "<name>.*" (a temporary of the atomic write) left in dir/out. */
static bool no_temp_left(const char *name)
{
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/out", dir);
    DIR *d = opendir(out);
    bool clean = d != NULL;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, name, strlen(name)) == 0 && e->d_name[strlen(name)] == '.')
            clean = false;
    if (d != NULL)
        closedir(d);
    return clean;
}

static void test_write_model(void)
{
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(load_text(BASE "[data]\nfeature = img\nlabel = cls\n[search]\n"
                              "train.lr = 0.5\ntrain.weight_decay = 0.001\n"
                              "model.layers = \"dense:5, relu, dense:3\"\ntrain.momentum = 0.8\n",
                         &w, &err),
               CD_OK, &err);
    char *values[] = {"0.5", "0.001", "dense:5, relu, dense:3", "0.8"};
    cd_config_values c = {values};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/out/t000.ini", dir);
    CHECK_CODE(cd_workload_write_model(&w, &c, path, &err), CD_OK, &err);
    cd_model_spec m;
    CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
    CHECK(m.lr == 0.5 && m.weight_decay == 0.001 && m.momentum == 0.8);
    CHECK_EQ_INT(m.nlayers, 3);
    CHECK_EQ_INT(m.layers[0].units, 5);
    CHECK(strcmp(m.feature, "img") == 0 && strcmp(m.label, "cls") == 0);
    CHECK_EQ_INT(m.batch_size, 16); /* untouched keys stay */
    size_t len;
    char *text = (char *)unit_read_file(path, &len);
    CHECK(text != NULL && strstr(text, "# a small model\n") != NULL); /* comments kept */
    CHECK(text != NULL && strstr(text, "lr = 0.5\nbatch_size = 16\nweight_decay = 0.001\n"
                                       "momentum = 0.8\n# the end of [train]\n") != NULL);
    free(text);
    CHECK(no_temp_left("t000.ini"));
    cd_workload_free(&w);
}

static void test_write_model_sections(void)
{
    cd_workload w;
    cd_err err = {0};
    put("models/odd.ini", "[model]\ninput = 4\nlayers = dense:9,\n  relu\nlayers = dense:3\n"
                          "classes = 3\n");
    CHECK_CODE(load_text("[data]\ntrain = data/train\n[search]\n"
                         "model.file = models/odd.ini, models/m.ini\n"
                         "model.layers = dense:3\ntrain.batch_size = 7\n",
                         &w, &err),
               CD_OK, &err);
    char *values[] = {w.keys[0].values[0], "dense:3", "7"};
    cd_config_values c = {values};
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/out/t001.ini", dir);
    CHECK_CODE(cd_workload_write_model(&w, &c, path, &err), CD_OK, &err);
    size_t len;
    char *text = (char *)unit_read_file(path, &len);
    /* repeats and continuation lines dropped; [train] added at the end */
    CHECK(text != NULL && strcmp(text, "[model]\ninput = 4\nlayers = dense:3\nclasses = 3\n\n"
                                       "[train]\nbatch_size = 7\n") == 0);
    free(text);
    cd_model_spec m;
    CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
    CHECK_EQ_INT(m.batch_size, 7);
    /* the second model file, replaced in place (atomically: no temp file left) */
    values[0] = w.keys[0].values[1];
    CHECK_CODE(cd_workload_write_model(&w, &c, path, &err), CD_OK, &err);
    CHECK_CODE(cd_model_load(path, &m, &err), CD_OK, &err);
    CHECK(m.batch_size == 7 && m.optimizer == CD_OPT_ADAM && m.nlayers == 1);
    CHECK(no_temp_left("t001.ini"));
    /* a directory that does not exist: an error, nothing written */
    snprintf(path, sizeof path, "%s/nope/t.ini", dir);
    CHECK(cd_workload_write_model(&w, &c, path, &err) == CD_EIO);
    CHECK(strstr(err.msg, "nope") != NULL);
    cd_workload_free(&w);
}

int main(void)
{
    make_tree();
    RUN(test_defaults);
    RUN(test_every_key);
    RUN(test_search_values);
    RUN(test_workers);
    RUN(test_errors_keys);
    RUN(test_errors_search);
    RUN(test_errors_data);
    RUN(test_errors_workers);
    RUN(test_overrides);
    RUN(test_shipped_grid);
    RUN(test_shipped_hyperband);
    RUN(test_write_model);
    RUN(test_write_model_sections);
    remove_tree();
    return UNIT_DONE();
}

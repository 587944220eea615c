/*
 * test_journal.c: the scheduler's journal (scheduler/journal.h): every record kind round-
 * trips (with the bytes a unit moved under model_store = copy, and the cut and content of
 * what it read), a torn last line is ignored, a malformed line or a foreign file is an error
 * naming it; the launcher's shell quoting (scheduler/launch.h); and the snapshot baselines and
 * the workers file DIR/workers of a citus: job (scheduler/cluster.h).
 */
#include <unistd.h>

#include "unit.h"

#include "cluster.h"
#include "fsutil.h"
#include "journal.h"
#include "launch.h"

static char dir[] = "/tmp/cd-journal-XXXXXX";

static void path_of(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
}

static void test_round_trip(void)
{
    char path[256];
    path_of(path, sizeof path, "journal");
    cd_journal *j = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_journal_open(&j, path, &err), CD_OK, &err);
    cd_jrec recs[] = {
        {.kind = CD_J_UNIT,
         .model = 3,
         .epoch = 2,
         .shard = 1,
         .worker = 0,
         .start = 1.5,
         .end = 2.25,
         .attempt = 1,
         .rows = 512,
         .loss = 0.5,
         .accuracy = 0.875,
         .check = CD_NUM_DIFFERS,
         .numerics = "version=0.1.0 backend=cpu blas=OpenBLAS-0.3.21 core=Zen threads=1",
         .bytes_in = 304000,
         .bytes_out = 5000000000ull,
         .cut = "7716087680425658409-730",
         .content = "9f86d081884c7d65"},
        {.kind = CD_J_FAIL,
         .model = 1,
         .epoch = 1,
         .shard = 2,
         .worker = 2,
         .start = 3,
         .end = 4,
         .attempt = 2,
         .reason = "exit status 1; the\nloss\twas",
         .bytes_in = 7},
        {.kind = CD_J_VALID, .model = 3, .epoch = 2, .loss = 0.25, .accuracy = 0.9},
        {.kind = CD_J_OUT, .worker = 2, .reason = "2 failures"},
        {.kind = CD_J_CUT, .cut = "7716087680425658409-731"},
        {.kind = CD_J_CHANGED, .shard = 3, .worker = 1, .reason = "cut a -> b, content\tx -> y"},
        {.kind = CD_J_UNIT, .model = 1, .epoch = 1, .numerics = "version=0.1.0 threads=1"},
        {.kind = CD_J_TRIAL_OUT, .model = 4, .reason = "2 failures; the last:\texit status 1"},
        {.kind = CD_J_DONE},
    };
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++)
        CHECK_CODE(cd_journal_append(j, &recs[i], &err), CD_OK, &err);
    cd_journal_close(&j);
    CHECK_CODE(cd_journal_open(&j, path, &err), CD_OK, &err); /* reopen: no second header */
    cd_journal_close(&j);
    cd_jrec *got = NULL;
    int n = 0;
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 9);
    if (n == 9) {
        CHECK(got[0].kind == CD_J_UNIT && got[0].model == 3 && got[0].rows == 512);
        CHECK(got[0].start == 1.5 && got[0].end == 2.25 && got[0].accuracy == 0.875);
        CHECK(got[0].check == CD_NUM_DIFFERS && strcmp(got[0].numerics, recs[0].numerics) == 0);
        CHECK(got[0].bytes_in == 304000 && got[0].bytes_out == 5000000000ull);
        CHECK(strcmp(got[0].cut, recs[0].cut) == 0 && strcmp(got[0].content, recs[0].content) == 0);
        CHECK(got[1].kind == CD_J_FAIL &&
              strcmp(got[1].reason, "exit status 1; the loss was") == 0);
        CHECK(got[1].bytes_in == 7 && got[1].bytes_out == 0);
        CHECK(got[2].kind == CD_J_VALID && got[2].loss == 0.25);
        CHECK(got[3].kind == CD_J_OUT && got[3].worker == 2);
        CHECK(got[4].kind == CD_J_CUT && strcmp(got[4].cut, recs[4].cut) == 0);
        CHECK(got[5].kind == CD_J_CHANGED && got[5].shard == 3 && got[5].worker == 1);
        CHECK(strcmp(got[5].reason, "cut a -> b, content x -> y") == 0);
        CHECK(got[6].kind == CD_J_UNIT && got[6].cut[0] == '\0' && got[6].content[0] == '\0');
        CHECK(got[7].kind == CD_J_TRIAL_OUT && got[7].model == 4);
        CHECK(strcmp(got[7].reason, "2 failures; the last: exit status 1") == 0);
        CHECK(got[8].kind == CD_J_DONE);
    }
    free(got);
}

static void write_bytes(const char *name, const char *data, size_t len)
{
    char path[256];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, "w");
    fwrite(data, 1, len, f);
    fclose(f);
}

static void write_file(const char *name, const char *text)
{
    write_bytes(name, text, strlen(text));
}

static void test_damage(void)
{
    char path[256];
    cd_jrec *got = NULL;
    int n = 0;
    cd_err err = {0};
    write_file("torn", "cerebro-sched journal 1\nvalid\t1\t1\t0.5\t0.5\nunit\t1\t2\t0");
    path_of(path, sizeof path, "torn");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 1);
    free(got);
    /* appending after the torn line: it is cut first, or the next record was glued to it
     * and the journal was malformed for good */
    cd_journal *j = NULL;
    CHECK_CODE(cd_journal_open(&j, path, &err), CD_OK, &err);
    cd_jrec done = {.kind = CD_J_DONE};
    CHECK_CODE(cd_journal_append(j, &done, &err), CD_OK, &err);
    cd_journal_close(&j);
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK(n == 2 && got[0].kind == CD_J_VALID && got[1].kind == CD_J_DONE);
    free(got);
    /* a journal of one torn line (not even its first line whole) starts again */
    write_file("torn0", "cerebro-sched jour");
    path_of(path, sizeof path, "torn0");
    CHECK_CODE(cd_journal_open(&j, path, &err), CD_OK, &err);
    CHECK_CODE(cd_journal_append(j, &done, &err), CD_OK, &err);
    cd_journal_close(&j);
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK(n == 1 && got[0].kind == CD_J_DONE);
    free(got);
    write_file("bad", "cerebro-sched journal 1\nvalid\t1\t1\t0.5\t0.5\nunit\t1\tx\t0\n");
    path_of(path, sizeof path, "bad");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "line 3") != NULL);
    write_file("badout", "cerebro-sched journal 1\ntrialout\t1\ttoo\tmany\n");
    path_of(path, sizeof path, "badout"); /* a trialout's reason is one field */
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "line 2") != NULL);
    write_file("badout2", "cerebro-sched journal 1\ntrialout\tx\twhy\n");
    path_of(path, sizeof path, "badout2");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    /* a unit line of an earlier version (no numerics) reads as "none" */
    write_file("old", "cerebro-sched journal 1\nunit\t1\t2\t0\t0\t1\t2\t1\t10\t0.5\t0.5\n");
    path_of(path, sizeof path, "old");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK(n == 1 && got[0].check == CD_NUM_NONE && got[0].numerics[0] == '\0');
    free(got);
    /* and lines without the bytes moved (before model_store) as 0 */
    write_file("nobytes", "cerebro-sched journal 1\n"
                          "unit\t1\t2\t0\t0\t1\t2\t1\t10\t0.5\t0.5\tnone\t\n"
                          "fail\t1\t2\t0\t0\t1\t2\t1\texit status 1\n");
    path_of(path, sizeof path, "nobytes");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK(n == 2 && got[0].bytes_in == 0 && got[1].bytes_out == 0);
    free(got);
    write_file("badbytes", "cerebro-sched journal 1\n"
                           "fail\t1\t2\t0\t0\t1\t2\t1\texit status 1\t-3\t0\n");
    path_of(path, sizeof path, "badbytes");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    write_file("badcheck", "cerebro-sched journal 1\n"
                           "unit\t1\t2\t0\t0\t1\t2\t1\t10\t0.5\t0.5\tmaybe\tversion=1\n");
    path_of(path, sizeof path, "badcheck");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    /* numbers out of their type's range are errors (converting them was undefined) */
    static const char *const range[] = {
        "valid\t1733500000000\t1\t0.5\t0.5\n",
        "unit\t1\t2\t0\t0\t1\t2\t1\t-5\t0.5\t0.5\n",
        "unit\t1\t2\t0\t0\t1\t2\t1\t1e30\t0.5\t0.5\n",
        "fail\t1\t2\t0\t0\t1\t2\t1\texit status 1\t1e30\t0\n",
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "cerebro-sched journal 1\n%s", range[i]);
        write_file("range", text);
        path_of(path, sizeof path, "range");
        CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    }
    /* a NUL byte before the last line is an error, not the end of the journal; in the torn
     * last line it is part of the torn append */
    static const char nul[] = "cerebro-sched journal 1\nvalid\t1\t1\t0.5\t0.5\n"
                              "valid\t1\0\t1\t0.5\t0.5\nvalid\t2\t2\t0.5\t0.5\n";
    write_bytes("nul", nul, sizeof nul - 1);
    path_of(path, sizeof path, "nul");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "line 3") != NULL && got == NULL && n == 0);
    write_bytes("nultorn", nul, 55); /* up to the NUL and 5 bytes after it */
    path_of(path, sizeof path, "nultorn");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 1);
    free(got);
    write_file("foreign", "hello\n");
    path_of(path, sizeof path, "foreign");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ECORRUPT, &err);
    path_of(path, sizeof path, "missing");
    CHECK_CODE(cd_journal_read(path, &got, &n, &err), CD_ENOTFOUND, &err);
}

static void test_quote(void)
{
    char buf[128];
    char *argv[] = {"cerebro-train", "--data", "/a b/it's", NULL};
    CHECK(cd_launch_quote(argv, buf, sizeof buf));
    CHECK(strcmp(buf, "'cerebro-train' '--data' '/a b/it'\\''s'") == 0);
    CHECK(!cd_launch_quote(argv, buf, 20));
}

/* cluster.h: a placement's baseline, and what counts as a change. */
static void test_seen(void)
{
    cd_seen s = {0};
    cd_err err = {0};
    char why[200];
    CHECK(cd_seen_check(&s, 0, "h1", "c1", "", why, sizeof why) == CD_SNAP_FIRST);
    CHECK_CODE(cd_seen_update(&s, 0, "h1", "c1", "", &err), CD_OK, &err);
    CHECK(cd_seen_check(&s, 0, "h1", "c1", "", why, sizeof why) == CD_SNAP_SAME);
    CHECK(cd_seen_check(&s, 0, "h1", "c2", "", why, sizeof why) == CD_SNAP_CHANGED);
    CHECK(strcmp(why, "cut c1 -> c2, content unknown -> unknown") == 0);
    CHECK(cd_seen_check(&s, 0, "h1", "", "", why, sizeof why) == CD_SNAP_UNKNOWN);
    CHECK(cd_seen_check(&s, 0, "h2", "c9", "", why, sizeof why) == CD_SNAP_FIRST); /* moved */
    CHECK(cd_seen_check(&s, 1, "h1", "c9", "", why, sizeof why) == CD_SNAP_FIRST);
    /* an unknown cut does not replace the known one */
    CHECK_CODE(cd_seen_update(&s, 0, "h1", "", "", &err), CD_OK, &err);
    CHECK(cd_seen_check(&s, 0, "h1", "c2", "", why, sizeof why) == CD_SNAP_CHANGED);
    /* contents, when both are known, decide: another cut of the same rows is no change */
    CHECK_CODE(cd_seen_update(&s, 0, "h1", "c1", "aa", &err), CD_OK, &err);
    CHECK(cd_seen_check(&s, 0, "h1", "c2", "aa", why, sizeof why) == CD_SNAP_SAME);
    CHECK(cd_seen_check(&s, 0, "h1", "c1", "bb", why, sizeof why) == CD_SNAP_CHANGED);
    CHECK(strcmp(why, "cut c1 -> c1, content aa -> bb") == 0);
    CHECK(cd_seen_check(&s, 0, "h1", "c2", "", why, sizeof why) == CD_SNAP_CHANGED);
    CHECK(cd_seen_check(&s, 0, "h1", "", "", why, sizeof why) == CD_SNAP_UNKNOWN);
    cd_seen_free(&s);
}

/* cluster.h: DIR/workers, written when absent and merged with the placements found. */
#define WTABLE "/mnt/cerebro-ds/db/public.t/"
#define WHEAD "cerebro-sched workers 1\nshards\ts1\ts2\n"

static void workers_of(cd_workload *w, char **shards)
{
    static const char *host[] = {"h1", "h2"}, *dirs[] = {WTABLE "s1", WTABLE "s2"};
    *w = (cd_workload){.train_dir = WTABLE, .shards = shards, .nshards = 2};
    w->workers = calloc(2, sizeof *w->workers);
    for (int i = 0; i < 2; i++)
        w->workers[i] = (cd_worker_spec){strdup(host[i]), strdup(dirs[i]), strdup("cpu"), i, false};
    w->nworkers = 2;
}

/* text (n bytes) as DIR/workers, merged read-only with h1:s1 and h2:s2: the code returned. */
static cd_code workers_read(const char *text, size_t n, cd_workload *w, cd_err *err)
{
    static char *shards[] = {"s1", "s2"};
    char path[256];
    path_of(path, sizeof path, "workers");
    FILE *f = fopen(path, "w");
    fwrite(text, 1, n, f);
    fclose(f);
    workers_of(w, shards);
    FILE *log = fopen("/dev/null", "w");
    cd_code rc = cd_cluster_workers(dir, w, true, log, err);
    fclose(log);
    return rc;
}

static void check_bad_workers(const char *text, size_t n, const char *what)
{
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(workers_read(text, n, &w, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, what) != NULL || strstr(err.detail, what) != NULL);
    CHECK(strstr(err.hint, "restore it") != NULL);
    CHECK_EQ_INT(w.nworkers, 2); /* left as found */
    cd_workers_free(w.workers, w.nworkers);
}

static void test_workers(void)
{
    char path[256], *text = NULL;
    cd_workload w;
    cd_err err = {0};
    path_of(path, sizeof path, "workers");
    unlink(path);
    static char *shards[] = {"s1", "s2"};
    workers_of(&w, shards);
    CHECK_CODE(cd_cluster_workers(dir, &w, false, stderr, &err), CD_OK, &err);
    cd_workers_free(w.workers, w.nworkers);
    CHECK_CODE(cd_read_file(path, &text, NULL, &err), CD_OK, &err);
    const char *want = WHEAD "worker\th1\t0\t" WTABLE "s1\nworker\th2\t1\t" WTABLE "s2\n";
    CHECK(text != NULL && strcmp(text, want) == 0);
    free(text);
    /* moved: s2 was on h3 (gone now), and the placement on h2 is a new worker */
    const char *moved = WHEAD "worker\th1\t0\t" WTABLE "s1\nworker\th3\t1\t" WTABLE "s2\n\n";
    CHECK_CODE(workers_read(moved, strlen(moved), &w, &err), CD_OK, &err);
    CHECK(w.nworkers == 3 && !w.workers[0].gone && w.workers[1].gone && !w.workers[2].gone);
    CHECK(w.nworkers == 3 && strcmp(w.workers[2].host, "h2") == 0 && w.workers[2].shard_id == 1);
    cd_workers_free(w.workers, w.nworkers);
    const char *split = "cerebro-sched workers 1\nshards\ts1\ts2\ts3\n";
    CHECK_CODE(workers_read(split, strlen(split), &w, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "the shards of [data] train changed since job") != NULL);
    CHECK(strstr(err.detail, "shard 2 was \"s3\", now none") != NULL);
    CHECK(strstr(err.hint, "restore the table as it was, or start a new job") != NULL);
    cd_workers_free(w.workers, w.nworkers);
    /* each of these was read as a list of workers before */
    const char *no_shards = "cerebro-sched workers 1\nworker\th1\t0\t" WTABLE "s1\n";
    check_bad_workers(no_shards, strlen(no_shards), "malformed line 2");
    const char *other = WHEAD "worker\th1\t1\t" WTABLE "s1\n"; /* s1's directory as shard 2 */
    check_bad_workers(other, strlen(other), "malformed line 3");
    const char *extra = WHEAD "worker\th1\t0\t" WTABLE "s1\tx\n";
    check_bad_workers(extra, strlen(extra), "malformed line 3");
    const char *sign = WHEAD "worker\th1\t+0\t" WTABLE "s1\n";
    check_bad_workers(sign, strlen(sign), "malformed line 3");
    const char *blank = WHEAD "\nworker\th1\n"; /* the blank line counts */
    check_bad_workers(blank, strlen(blank), "malformed line 4");
    const char nul[] = WHEAD "worker\th1\t0\t" WTABLE "s1\0\nworker\th2\t1\t" WTABLE "s2\n";
    check_bad_workers(nul, sizeof nul - 1, "line 3 holds a NUL byte");
    check_bad_workers("", 0, "malformed line 1");
    check_bad_workers("cerebro-sched workers 1", 23, "malformed line 2");
}

/* text as DIR/workers read by cd_cluster_saved into an empty workload: the code returned. */
static cd_code saved_read(const char *text, size_t n, cd_workload *w, cd_err *err)
{
    char path[256];
    path_of(path, sizeof path, "workers");
    FILE *f = fopen(path, "w");
    fwrite(text, 1, n, f);
    fclose(f);
    *w = (cd_workload){0};
    return cd_cluster_saved(dir, w, err);
}

static void check_bad_saved(const char *text, size_t n, const char *what)
{
    cd_workload w;
    cd_err err = {0};
    CHECK_CODE(saved_read(text, n, &w, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, what) != NULL || strstr(err.detail, what) != NULL);
    CHECK(strstr(err.hint, "restore it") != NULL);
    cd_workload_free(&w);
}

/* A look at a job: the shards and workers as DIR/workers keeps them, none gone. */
static void test_workers_saved(void)
{
    cd_workload w;
    cd_err err = {0};
    const char *moved = WHEAD "worker\th1\t0\t" WTABLE "s1\nworker\th3\t1\t" WTABLE "s2\n\n"
                              "worker\th2\t1\t" WTABLE "s2\n";
    CHECK_CODE(saved_read(moved, strlen(moved), &w, &err), CD_OK, &err);
    CHECK(w.nshards == 2 && strcmp(w.shards[0], "s1") == 0 && strcmp(w.shards[1], "s2") == 0);
    CHECK_EQ_INT(w.nworkers, 3);
    static const char *host[] = {"h1", "h3", "h2"};
    for (int i = 0; i < w.nworkers && i < 3; i++) {
        CHECK(strcmp(w.workers[i].host, host[i]) == 0 && !w.workers[i].gone);
        CHECK(w.workers[i].shard_id == (i > 0) && strcmp(w.workers[i].device, "cpu") == 0);
        CHECK(strcmp(w.workers[i].shard, i ? WTABLE "s2" : WTABLE "s1") == 0);
    }
    cd_workload_free(&w);
    check_bad_saved("", 0, "malformed line 1");
    check_bad_saved("cerebro-sched workers 1", 23, "malformed line 1");
    check_bad_saved("cerebro-sched workers 1\n", 24, "malformed line 2");
    const char *none = "cerebro-sched workers 1\nshards\n";
    check_bad_saved(none, strlen(none), "malformed line 2");
    const char *empty = "cerebro-sched workers 1\nshards\ts1\t\ts2\n";
    check_bad_saved(empty, strlen(empty), "malformed line 2");
    const char *trailing = "cerebro-sched workers 1\nshards\ts1\t\n";
    check_bad_saved(trailing, strlen(trailing), "malformed line 2");
    check_bad_saved(WHEAD, strlen(WHEAD), "lists no worker");
    const char *other = WHEAD "worker\th1\t2\t" WTABLE "s1\n"; /* no shard 2 */
    check_bad_saved(other, strlen(other), "malformed line 3");
    const char nul[] = WHEAD "worker\th1\t0\t" WTABLE "s1\0\n";
    check_bad_saved(nul, sizeof nul - 1, "line 3 holds a NUL byte");
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    RUN(test_round_trip);
    RUN(test_damage);
    RUN(test_quote);
    RUN(test_seen);
    RUN(test_workers);
    RUN(test_workers_saved);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return UNIT_DONE();
}

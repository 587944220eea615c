/*
 * main_cerebro_sched.c: cerebro-sched: picks the command and hands it the rest of argv.
 * The commands are in run.c, status.c and simulate.c (commands.h).
 */
#include <stdio.h>
#include <string.h>

#include "cd_err.h"
#include "commands.h"

static const char usage_text[] =
    "Usage: " CD_SCHED_PROG " COMMAND [OPTIONS]\n"
    "\n"
    "Run a model-selection workload with Model Hopper Parallelism: every model visits every\n"
    "shard once per epoch, hopping between workers with no barrier.\n"
    "\n"
    "Commands:\n"
    "  run WORKLOAD.ini [--job DIR]    run a workload (DIR: job directory, default ./job)\n"
    "  resume DIR [--on-snapshot-change stop|continue]\n"
    "                                  continue a job after a crash or kill\n"
    "  status DIR                      progress of a running or finished job\n"
    "  simulate [OPTIONS]              schedule synthetic units, no training\n"
    "                                  (" CD_SCHED_PROG " simulate --help)\n"
    "\n"
    "Options:\n"
    "  -h, --help         this help\n"
    "  -V, --version      version\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage.\n";

int main(int argc, char **argv)
{
    if (argc < 2)
        return cd_usage_error(CD_SCHED_PROG, "missing command%s", "");
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("%s %s\n", CD_SCHED_PROG, CD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cd_cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "resume") == 0)
        return cd_cmd_resume(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return cd_cmd_status(argc - 1, argv + 1);
    if (strcmp(cmd, "simulate") == 0)
        return cd_cmd_simulate(argc - 1, argv + 1);
    return cd_usage_error(CD_SCHED_PROG, "unknown command \"%s\"", cmd);
}

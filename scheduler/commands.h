/*
 * commands.h: the commands of cerebro-sched (DESIGN.md section 5) as library calls; main()
 * only dispatches. Each parses its own options from argv (argv[0] is the command name),
 * prints its errors on stderr and returns the exit status: 0 success, 1 error, 2 usage.
 */
#ifndef CD_COMMANDS_H
#define CD_COMMANDS_H

#define CD_SCHED_PROG "cerebro-sched"

int cd_cmd_run(int argc, char **argv);      /* run.c */
int cd_cmd_resume(int argc, char **argv);   /* run.c */
int cd_cmd_status(int argc, char **argv);   /* status.c */
int cd_cmd_simulate(int argc, char **argv); /* simulate.c */

#endif

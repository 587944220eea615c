/*
 * control.h: the client side of cerebro-ds-fuse's control socket, for the admin tool.
 *
 * A mount's file .cerebro-ds/control names the daemon's abstract unix socket; a request is
 * one command line ("refresh", "refresh db/schema.table"), the answer one line, "ok ..." or
 * "error <message>". Only the daemon's user and root are served.
 * Does not: include FUSE headers (it is part of the library).
 */
#ifndef CD_CONTROL_H
#define CD_CONTROL_H

#include <stddef.h>

#include "cd_err.h"

/* Send command to the daemon serving mountpoint; on "ok X" reply gets "X". An "error"
 * answer is returned as CD_EIO with the daemon's message. Waits as long as the command
 * runs (a refresh pins every table again). */
cd_code cd_control_request(const char *mountpoint, const char *command, char *reply, size_t size,
                           cd_err *err);

#endif

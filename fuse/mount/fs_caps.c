/*
 * fs_caps.c: a daemon started as root keeps only the capabilities it uses once mounted:
 * CAP_DAC_READ_SEARCH (read the database's files, owned by its OS user, mode 0700) and
 * CAP_SYS_ADMIN (unmount at exit). Everything else goes from the effective, permitted,
 * inheritable and bounding sets, and no_new_privs is set, so neither the daemon nor anything
 * it runs can get them back. The raw capset(2) interface: two 32-bit words per set.
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"
#include "fs_log.h"

static const int kept[] = {CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN};

static int last_cap(void)
{
    int n = CAP_LAST_CAP;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "r");
    if (f != NULL) {
        if (fscanf(f, "%d", &n) != 1)
            n = CAP_LAST_CAP;
        fclose(f);
    }
    return n;
}

static bool is_kept(int cap)
{
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (kept[i] == cap)
            return true;
    return false;
}

cd_code fs_drop_caps(cd_err *err)
{
    if (geteuid() != 0)
        return CD_OK; /* an ordinary user has none to drop */
    int undropped = 0;
    for (int cap = 0; cap <= last_cap(); cap++)
        if (!is_kept(cap) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
            prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            undropped++; /* no CAP_SETPCAP (a unit's CapabilityBoundingSet): the sets below */
    if (undropped > 0)
        cd_log(CD_LOG_WARNING,
               "%d capabilities stay in the bounding set (no CAP_SETPCAP); they leave the "
               "effective and permitted sets, and no_new_privs keeps them out",
               undropped);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        data[kept[i] / 32].effective |= 1u << (kept[i] % 32);
        data[kept[i] / 32].permitted |= 1u << (kept[i] % 32);
    }
    if (syscall(SYS_capset, &hdr, data) != 0)
        return cd_fail(err, CD_EIO, "could not drop capabilities: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return cd_fail(err, CD_EIO, "could not set no_new_privs: %s", strerror(errno));
    return CD_OK;
}

/* proc.h -- the process identity of `crm serve` and what every child process of the master does first */
#ifndef CRM_PROC_H
#define CRM_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "crm/config.h"
#include "crm/err.h"

/* Who serve becomes, resolved from the configuration before anything is opened. */
struct crm_proc_ids {
	bool drop;        /* started as root: become uid/gid (with the user's supplementary groups) */
	uid_t uid;        /* when drop */
	gid_t gid;        /* when drop */
	uid_t socket_uid; /* owner for a unix socket serve creates; (uid_t)-1: unchanged */
	gid_t socket_gid; /* its group; (gid_t)-1: unchanged */
	char user[64];
};

/* Fills ids from CRM_USER, CRM_GROUP and CRM_SOCKET_GROUP. Started as root, CRM_USER is required
 * and must not be root (nor CRM_GROUP group root); not started as root, CRM_USER and CRM_GROUP
 * are ignored (with a warning when they name someone else). Fails on an unknown name. */
bool crm_proc_ids_resolve(const struct crm_config *cfg, struct crm_proc_ids *ids, struct crm_err *err) CRM_MUSTCHECK;

/* When ids->drop: sets the supplementary groups (initgroups), the group and the user, then
 * checks that real and effective ids are the new ones and that setuid(0) fails. Without drop,
 * does nothing. Fails if any step did not hold: the caller must then exit, not serve. */
bool crm_proc_drop(const struct crm_proc_ids *ids, struct crm_err *err) CRM_MUSTCHECK;

/* Names the process (ps, /proc/PID/comm), asks for SIGTERM when the master dies, calls on_stop
 * for SIGTERM and SIGINT (without SA_RESTART, so a blocking wait returns EINTR) and ignores
 * SIGPIPE and SIGHUP. */
void crm_proc_child_init(const char *name, void (*on_stop)(int sig));

#endif

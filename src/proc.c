/* proc.c -- the identity `crm serve` runs as, and the common set-up of the master's children
 *
 * Like php-fpm's user/group: a master started as root opens its socket and writes its pid file
 * as root, then becomes CRM_USER for good (supplementary groups, group, user, in that order,
 * and checked), before it touches the database or forks a worker or the drainer. Everything
 * after that -- migrations, SIGHUP's new workers, restarts -- runs unprivileged. A master that
 * is not root (systemd's User=) keeps its identity.
 */
#include "crm/proc.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "crm/log.h"

static bool group_id(const char *name, const char *var, gid_t *out, struct crm_err *err)
{
	struct group *gr = getgrnam(name);

	if (gr == NULL)
		return crm_err_set(err, CRM_E_INVALID, "%s: no group \"%s\"", var, name);
	*out = gr->gr_gid;
	return true;
}

static bool root_ids(const struct crm_config *cfg, struct crm_proc_ids *ids, struct crm_err *err)
{
	struct passwd *pw;

	if (cfg->user[0] == '\0')
		return crm_err_set(err, CRM_E_INVALID,
			"started as root without CRM_USER: crm does not serve as root; set CRM_USER (and "
			"CRM_GROUP, CRM_SOCKET_GROUP) to the unprivileged user the workers run as");
	if ((pw = getpwnam(cfg->user)) == NULL)
		return crm_err_set(err, CRM_E_INVALID, "CRM_USER: no user \"%s\"", cfg->user);
	if (pw->pw_uid == 0)
		return crm_err_set(err, CRM_E_INVALID, "CRM_USER: \"%s\" is root", cfg->user);
	ids->drop = true;
	ids->uid = pw->pw_uid;
	ids->gid = pw->pw_gid;
	if (cfg->group[0] != '\0' && !group_id(cfg->group, "CRM_GROUP", &ids->gid, err))
		return false;
	if (ids->gid == 0)
		return crm_err_set(err, CRM_E_INVALID, "CRM_GROUP: serve does not run with group root");
	ids->socket_uid = ids->uid;
	ids->socket_gid = ids->gid;
	snprintf(ids->user, sizeof(ids->user), "%s", cfg->user);
	return true;
}

bool crm_proc_ids_resolve(const struct crm_config *cfg, struct crm_proc_ids *ids, struct crm_err *err)
{
	memset(ids, 0, sizeof(*ids));
	ids->socket_uid = (uid_t)-1;
	ids->socket_gid = (gid_t)-1;
	if (geteuid() == 0) {
		if (!root_ids(cfg, ids, err))
			return false;
	} else if (cfg->user[0] != '\0') {
		struct passwd *pw = getpwnam(cfg->user);

		if (pw == NULL || pw->pw_uid != geteuid())
			crm_log_warn("CRM_USER=%s ignored: not started as root, serving as uid %ld", cfg->user,
				(long)geteuid());
	}
	if (cfg->socket_group[0] != '\0')
		return group_id(cfg->socket_group, "CRM_SOCKET_GROUP", &ids->socket_gid, err);
	return true;
}

bool crm_proc_drop(const struct crm_proc_ids *ids, struct crm_err *err)
{
	if (!ids->drop)
		return true;
	if (initgroups(ids->user, ids->gid) != 0 || setgid(ids->gid) != 0 || setuid(ids->uid) != 0)
		return crm_err_set(err, CRM_E_INTERNAL, "could not become user %s: %s", ids->user, strerror(errno));
	if (getuid() != ids->uid || geteuid() != ids->uid || getgid() != ids->gid || getegid() != ids->gid)
		return crm_err_set(err, CRM_E_INTERNAL, "still not user %s after setuid", ids->user);
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
		return crm_err_set(err, CRM_E_INTERNAL, "privileges of root could be regained after becoming %s",
			ids->user);
	/* The kernel made the process undumpable at the change of user. Undone: it holds nothing the
	 * user may not read anyway (its passfile), and it is then what a process systemd started as
	 * the user is -- traceable by that user's tools, e.g. LeakSanitizer, which ptraces itself. */
	prctl(PR_SET_DUMPABLE, 1);
	crm_log_info("running as user %s (uid %ld, gid %ld)", ids->user, (long)ids->uid, (long)ids->gid);
	return true;
}

void crm_proc_child_init(const char *name, void (*on_stop)(int sig))
{
	struct sigaction sa;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, name);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

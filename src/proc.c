/* proc.c -- common set-up of the master's child processes (workers, drainer) */
#include "crm/proc.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

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

/* proc.h -- what every child process of the master does first */
#ifndef CRM_PROC_H
#define CRM_PROC_H

/* Names the process (ps, /proc/PID/comm), asks for SIGTERM when the master dies, calls on_stop
 * for SIGTERM and SIGINT (without SA_RESTART, so a blocking wait returns EINTR) and ignores
 * SIGPIPE and SIGHUP. */
void crm_proc_child_init(const char *name, void (*on_stop)(int sig));

#endif

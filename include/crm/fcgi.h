/* fcgi.h -- the FastCGI transport: listening socket and the worker's accept loop
 *
 * fcgi.c is the only includer of fcgiapp.h. It turns a FastCGI request into a struct
 * crm_request, runs crm_http_handle and writes the answer through libfcgi.
 */
#ifndef CRM_FCGI_H
#define CRM_FCGI_H

#include <stdbool.h>
#include <sys/types.h>

#include "crm/config.h"
#include "crm/err.h"

/* Opens (or adopts) the listening socket described by cfg into *fd. A unix socket is created
 * with no permissions for anyone but its creator, then given owner and group ((uid_t)-1 /
 * (gid_t)-1: unchanged) and then cfg->socket_mode, so nobody else can connect in between. */
bool crm_fcgi_listen(const struct crm_config *cfg, uid_t owner, gid_t group, int *fd,
	struct crm_err *err) CRM_MUSTCHECK;

/* The worker: serves requests on listen_fd until SIGTERM; returns the exit status. */
int crm_fcgi_worker_run(const struct crm_config *cfg, int listen_fd);

#endif

/* master.h -- the supervising master process of `crm serve`
 *
 * Forks cfg->workers workers on one listening socket, replaces a worker that dies, and on
 * SIGTERM or SIGINT stops them, giving in-flight requests time to finish.
 */
#ifndef CRM_MASTER_H
#define CRM_MASTER_H

#include "crm/config.h"

/* Returns the process exit status. */
int crm_master_run(const struct crm_config *cfg, int listen_fd);

#endif

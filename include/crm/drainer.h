/* drainer.h -- the backlog drainer process of `crm serve`
 *
 * One per master, beside the workers. It LISTENs for the wake-up that a transaction sends when
 * it freed more capacity than it assigned itself, and sweeps every CRM_SWEEP_SECONDS anyway as
 * a backstop. Several hosts' drainers may run at once: the database hands each waiting contact
 * to one of them (SKIP LOCKED).
 */
#ifndef CRM_DRAINER_H
#define CRM_DRAINER_H

#include "crm/config.h"

/* Runs until SIGTERM; returns the exit status. */
int crm_drainer_run(const struct crm_config *cfg);

#endif

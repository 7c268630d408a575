/* drainer.h -- the backlog drainer process of `crm serve`
 *
 * One per master, beside the workers. It LISTENs for the wake-up that a transaction sends when
 * it freed more capacity than it assigned itself, and sweeps every CRM_SWEEP_SECONDS anyway as
 * a backstop. Several hosts' drainers may run at once: the database hands each waiting contact
 * to one of them (SKIP LOCKED).
 */
#ifndef CRM_DRAINER_H
#define CRM_DRAINER_H

#include <stdatomic.h>
#include <stdint.h>

#include "crm/config.h"

/* Runs until SIGTERM; returns the exit status. */
int crm_drainer_run(const struct crm_config *cfg);

/* DESIGN (heartbeat, README "Health"): one shared page, mapped by the master before it forks
 * anyone, holds the CLOCK_MONOTONIC millisecond at which the drainer last showed life (each
 * turn of its loop and each drain step). Workers read it for GET /readyz: older than
 * crm_drainer_stale_ms, the drainer is stopped or stuck. The master sets it to its start time,
 * so a drainer that never ran goes stale too. One relaxed atomic load and store: no lock and no
 * system call. */
void crm_drainer_heartbeat_init(void);
/* The shared heartbeat, or NULL when this process was not forked by a master that made one. */
_Atomic int64_t *crm_drainer_heartbeat(void);
/* How old the heartbeat may get: two sweep intervals (the longest wait between turns) plus 5 s. */
int64_t crm_drainer_stale_ms(const struct crm_config *cfg);

#endif

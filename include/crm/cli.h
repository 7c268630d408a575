/* cli.h -- `crm keys ...`: API key management from the command line (process layer) */
#ifndef CRM_CLI_H
#define CRM_CLI_H

#include "crm/config.h"

/* argv[0] is "keys": create --name NAME --scope S[,S]... [--source ID]..., list, revoke ID.
 * Returns the exit status: 0 done, 1 refused or failed, 2 usage. */
int crm_cli_keys(const struct crm_config *cfg, int argc, char **argv);

/* The usage lines of `crm keys`. */
const char *crm_cli_keys_usage(void);

#endif

/* util.h -- small macros for every layer (core; no code behind them) */
#ifndef CRM_UTIL_H
#define CRM_UTIL_H

#include <stddef.h>

/* Number of elements of an array (not of a pointer). */
#define CRM_COUNT(array) (sizeof(array) / sizeof((array)[0]))

#endif

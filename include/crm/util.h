/* util.h -- small macros and inline helpers for every layer (core; no .c file behind them) */
#ifndef CRM_UTIL_H
#define CRM_UTIL_H

#include <stddef.h>

/* Number of elements of an array (not of a pointer). */
#define CRM_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Value of a hexadecimal digit (either case), or -1. */
static inline int crm_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif

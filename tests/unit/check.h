/* check.h -- minimal assertion helpers for the unit tests (TAP-like output, exit status) */
#ifndef CRM_CHECK_H
#define CRM_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                     \
	do {                                                                            \
		check_count++;                                                          \
		if (!(cond)) {                                                          \
			check_failures++;                                               \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                       \
	} while (0)

#define CHECK_STR(a, b)                                                                                           \
	do {                                                                                                      \
		const char *a_ = (a), *b_ = (b);                                                                  \
		check_count++;                                                                                    \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                            \
			check_failures++;                                                                         \
			fprintf(stderr, "FAIL %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, a_ ? a_ : "(null)", \
				b_ ? b_ : "(null)");                                                              \
		}                                                                                                 \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures == 0 ? 0 : 1;
}

#endif

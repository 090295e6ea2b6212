/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every C test of a probe shares (included after the probe): CHECK() counts a failed check and
 * prints where; checks_done() says whether all held and gives main()'s exit code.
 */
#ifndef PROBE_CHECK_H
#define PROBE_CHECK_H

#include <stdio.h>

static int failed;

#define CHECK(cond) do { \
	if (!(cond)) { \
		printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		failed++; \
	} \
} while (0)

static int checks_done(void)
{
	printf("%s\n", failed ? "some checks failed" : "all checks held");
	return failed ? 1 : 0;
}

#endif

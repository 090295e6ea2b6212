// SPDX-License-Identifier: GPL-2.0
/*
 * The mapcount probe's arithmetic and verdicts, as C (run by tests/test_probe_c.py): the probe is
 * included with its main() renamed, so its static functions are called here as they are there.
 * Exit 0 when every check holds; each failed check prints a line.
 */
#define main probe_main
#include "../../templates/mapcount/probe/probe.c"
#undef main
#include "check.h"

/* issue 32.4: PG_referenced set again during MADV_COLD must not read as pages deactivated */
static void test_kids_acted_never_underflows(void)
{
	struct state before = { .present = 512, .referenced = 3 };
	struct state after = { .present = 512, .referenced = 5 };
	struct seen s = { .acted = 512, .kid_pages = 512 };
	struct outcome o = { .v = V_ERROR };

	CHECK(fewer(3, 5) == 0);
	CHECK(fewer(5, 3) == 2);
	CHECK(kids_acted(&before, &after, true, false) == 0);
	CHECK(kids_acted(&after, &before, true, false) == 2);
	after.swapped = 7;
	CHECK(kids_acted(&before, &after, false, false) == 7);
	s.acted = 0;
	s.kid_acted = kids_acted(&before, &after, true, false);
	judge(true, 512, true, &s, &o);
	CHECK(o.v == V_PASS);
}

static void test_counters_that_were_not_read_do_not_move(void)
{
	struct counters a = { .vm = { [VM_SPLIT_FAILED] = 4 }, .mthp = { [MTHP_SPLIT_FAILED] = -1 } };
	struct counters b = { .vm = { [VM_SPLIT_FAILED] = 6 }, .mthp = { [MTHP_SPLIT_FAILED] = 3 } };

	CHECK(moved_by(-1, 5) == 0);
	CHECK(moved_by(5, -1) == 0);
	CHECK(moved_by(5, 7) == 2);
	CHECK(split_failures(&a, &b) == 2);
}

static void test_verdicts(void)
{
	struct seen s = { .kid_pages = 256 };
	struct outcome o;

	s.acted = 256;
	s.split = true;
	judge(true, 512, false, &s, &o);
	CHECK(o.v == V_SPLIT);
	s.kid_acted = 256;
	judge(true, 512, false, &s, &o);
	CHECK(o.v == V_WRONG);
	s = (struct seen){ .acted = 0 };
	judge(false, 512, false, &s, &o);
	CHECK(o.v == V_MISSED);
	s.acted = 100;
	judge(false, 512, false, &s, &o);
	CHECK(o.v == V_INCONCLUSIVE);
	s.split_failed = 1;
	judge(false, 512, false, &s, &o);
	CHECK(o.v == V_INCONCLUSIVE && strstr(o.msg, "failed"));
	s = (struct seen){ .acted = 512 };
	judge(false, 512, false, &s, &o);
	CHECK(o.v == V_PASS);
}

int main(void)
{
	test_kids_acted_never_underflows();
	test_counters_that_were_not_read_do_not_move();
	test_verdicts();
	return checks_done();
}

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

static const struct scenario *scenario(const char *text)
{
	int i;

	for (i = 0; i < NR_SCENARIOS; i++)
		if (!strcmp(scenarios[i].text, text))
			return &scenarios[i];
	printf("no scenario \"%s\"\n", text);
	return &scenarios[0];
}

/*
 * issue 32.6: PTE-mapped shmem THPs run at every size, the PMD-mapped ones at the PMD size only;
 * issue 25.4: MM_ID's false positive (the last of three processes advises) at every size,
 * MADV_PAGEOUT only (the advising process is a child: MADV_COLD could not mark its pages).
 */
static void test_the_new_rows_are_planned_where_they_can_run(void)
{
	const struct scenario *pte = scenario("exclusive PTE-mapped shmem THP");
	const struct scenario *pmd = scenario("exclusive PMD-mapped shmem THP");
	const struct scenario *third = scenario("PTE-mapped THP once mapped by three processes, "
						"now by one");

	pagesize = 4096;
	pmdsize = 2048 * 1024;
	CHECK(planned(pte, SHMEM, 16 * 1024, false) && planned(pte, SHMEM, pmdsize, false));
	CHECK(!planned(pte, THP, pmdsize, false) && !planned(pte, SHMEM, pmdsize, true));
	CHECK(planned(pmd, SHMEM, pmdsize, false) && !planned(pmd, SHMEM, 64 * 1024, false));
	CHECK(third->last_of_three && planned(third, THP, 64 * 1024, false));
	CHECK(!planned(third, THP, 64 * 1024, true));
	CHECK(scenario("PMD-mapped THP once mapped by three processes, now by one")->pmd_only);
}

/* the advising process is named in what a state check says */
static void test_the_advising_process_is_named(void)
{
	struct layout l = { .owner = 0 };

	CHECK(!strcmp(advising(&l), "the parent"));
	l.owner = 1234;
	CHECK(!strcmp(advising(&l), "the advising child"));
}

int main(void)
{
	test_the_new_rows_are_planned_where_they_can_run();
	test_the_advising_process_is_named();
	test_kids_acted_never_underflows();
	test_counters_that_were_not_read_do_not_move();
	test_verdicts();
	return checks_done();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The numa probe's verdicts, as C (run by tests/test_probe_c.py): the probe is included with its
 * main() renamed, so its static functions are called here as they are there. Exit 0 when every
 * check holds; each failed check prints a line.
 */
#define main probe_main
#include "../../templates/numa/probe/probe.c"
#undef main
#include "check.h"

#define N 4

static int before[N], after[N], kid_before[N], kid_after[N];

/*
 * a case of the scenario `text` asked the way `way` on N pages, every page of both processes on
 * node `node` after
 */
static void way_case(struct cas *c, const char *way, const char *text, int node)
{
	int i, w;

	for (i = 0; i < NR_SCENARIOS && strcmp(scenarios[i].text, text); i++)
		;
	for (w = 0; w < NR_WAYS && strcmp(ways[w].text, way); w++)
		;
	CHECK(i < NR_SCENARIOS && w < NR_WAYS);
	memset(c, 0, sizeof(*c));
	c->s = &scenarios[i < NR_SCENARIOS ? i : 0];
	c->w = &ways[w < NR_WAYS ? w : 0];
	c->n = c->npages = N;
	c->kid.n = c->s->child ? N : 0;
	c->before = before;
	c->after = after;
	c->kid_before = kid_before;
	c->kid_after = kid_after;
	for (i = 0; i < N; i++) {
		before[i] = kid_before[i] = src_node;
		after[i] = kid_after[i] = node;
	}
}

static void numa_case(struct cas *c, const char *text, int node)
{
	way_case(c, "mbind MPOL_MF_MOVE", text, node);
}

static void test_node_lists(void)
{
	int a = -1, b = -1;

	CHECK(first_two_nodes("0-1\n", &a, &b) == 2 && a == 0 && b == 1);
	CHECK(first_two_nodes("0,2\n", &a, &b) == 2 && a == 0 && b == 2);
	CHECK(first_two_nodes("1-3", &a, &b) == 2 && a == 1 && b == 2);
	a = b = -1;
	CHECK(first_two_nodes("0\n", &a, &b) == 1 && a == 0 && b == -1);
	CHECK(first_two_nodes("", &a, &b) == 0);
}

static void test_verdicts(void)
{
	struct outcome o = { .v = V_PASS };
	struct cas c;

	src_node = 0;
	dst_node = 1;
	numa_case(&c, "exclusive PTE-mapped THP", 1);
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	numa_case(&c, "exclusive PTE-mapped THP", 0);
	judge(&c, &o);
	CHECK(o.v == V_MISSED && strstr(o.msg, "none of the 4 pages moved to node 1"));
	o.v = V_PASS;
	c.c0.vm[VM_MIGRATE_FAIL] = 3;
	c.c1.vm[VM_MIGRATE_FAIL] = 4;	/* migration itself failed: no verdict on the check */
	judge(&c, &o);
	CHECK(o.v == V_INCONCLUSIVE);
	o.v = V_PASS;
	numa_case(&c, "PTE-mapped THP shared with a child", 0);
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	numa_case(&c, "THP mapped in disjoint halves, parent first, child second", 1);
	judge(&c, &o);
	CHECK(o.v == V_WRONG && strstr(o.msg, "4 of the 4 pages the child maps moved to node 1"));
}

/* with MPOL_MF_MOVE_ALL a shared folio must move: moving is correct, staying is missed */
static void test_move_all(void)
{
	struct outcome o = { .v = V_PASS };
	struct cas c;

	src_node = 0;
	dst_node = 1;
	way_case(&c, "move_pages MPOL_MF_MOVE_ALL", "PTE-mapped THP shared with a child", 1);
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	way_case(&c, "mbind MPOL_MF_MOVE_ALL", "small pages shared with a child", 0);
	judge(&c, &o);
	CHECK(o.v == V_MISSED && strstr(o.msg, "though MPOL_MF_MOVE_ALL moves shared ones too"));
	o.v = V_PASS;
	way_case(&c, "move_pages", "small pages shared with a child", 1);
	judge(&c, &o);
	CHECK(o.v == V_WRONG);
	CHECK(!way_runs(&ways[2], &scenarios[0]) && way_runs(&ways[1], &scenarios[0]));
	o.v = V_PASS;
	way_case(&c, "migrate_pages CAP_SYS_NICE", "PTE-mapped THP partly shared, child keeps second half",
		 1);
	judge(&c, &o);
	CHECK(o.v == V_PASS && c.w->call == MIGRATE_PAGES && !way_runs(c.w, &scenarios[4]));
	way_case(&c, "migrate_pages", "THP mapped in disjoint halves, parent first, child second", 1);
	judge(&c, &o);
	CHECK(o.v == V_WRONG);
}

/*
 * khugepaged with max_ptes_shared 0: collapsing a range the child maps pages of is wrong, leaving
 * it is correct only when a scan refused it as shared; an exclusive range must be collapsed
 */
static void test_collapse(void)
{
	const char *way = "khugepaged max_ptes_shared=0";
	struct outcome o = { .v = V_PASS };
	struct cas c;

	way_case(&c, way, "THP mapped in disjoint halves, parent first, child second", 0);
	c.huge_after = 2048;
	collapse_judge(&c, &o);
	CHECK(o.v == V_WRONG && strstr(o.msg, "collapsed the range although the child maps"));
	o.v = V_PASS;
	way_case(&c, way, "PTE-mapped THP partly shared, child keeps second half", 0);
	c.scans = 3;
	collapse_judge(&c, &o);
	CHECK(o.v == V_INCONCLUSIVE && strstr(o.msg, "no scan refused the range as shared"));
	o.v = V_PASS;
	c.c1.vm[VM_EXCEED_SHARED] = 3;	/* thp_scan_exceed_share_pte moved: refused as shared */
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	way_case(&c, way, "exclusive PTE-mapped THP", 0);
	c.scans = 3;
	c.c1.vm[VM_EXCEED_SHARED] = 3;
	judge(&c, &o);
	CHECK(o.v == V_MISSED && strstr(o.msg, "in 3 full scans: refused as shared"));
	o.v = V_PASS;
	c.huge_after = 2048;
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	way_case(&c, way, "exclusive PTE-mapped THP", 0);
	collapse_judge(&c, &o);	/* no full scan in the time allowed */
	CHECK(o.v == V_INCONCLUSIVE && strstr(o.msg, "did not finish a full scan"));
	CHECK(way_runs(c.w, &scenarios[4]) && !way_runs(c.w, &scenarios[0]) &&
	      !way_runs(c.w, &scenarios[2]) && !way_runs(c.w, &scenarios[8]));
}

static void test_status_text(void)
{
	int status[4] = { 1, -EBUSY, -EBUSY, 1 };
	char buf[120];

	status_text(status, 4, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2: node 1; 2: -16 (Device or resource busy)"));
}

static void test_nodes_text(void)
{
	int status[3] = { 0, 1, -2 };
	char buf[120];

	src_node = 0;
	dst_node = 1;
	nodes_text(status, 3, buf, sizeof(buf));
	CHECK(!strcmp(buf, "1 on node 0, 1 on node 1, 1 elsewhere or not present (first status -2)"));
}

int main(void)
{
	test_node_lists();
	test_verdicts();
	test_move_all();
	test_collapse();
	test_status_text();
	test_nodes_text();
	return checks_done();
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The lazyfree probe's verdicts, as C (run by tests/test_probe_c.py): the probe is included with
 * its main() renamed, so its static functions are called here as they are there. Exit 0 when
 * every check holds; each failed check prints a line.
 */
#define main probe_main
#include "../../templates/lazyfree/probe/probe.c"
#undef main
#include "check.h"

/* the case of scenario `text` at 2048 kB, every process's pages intact after reclaim */
static void intact_case(struct lcase *c, const char *text)
{
	int i;

	for (i = 0; i < NR_SCENARIOS && strcmp(scenarios[i].text, text); i++)
		;
	CHECK(i < NR_SCENARIOS);
	pagesize = 4096;
	pmdsize = 2048 * 1024;
	case_init(c, &scenarios[i < NR_SCENARIOS ? i : 0], pmdsize);
	c->t_adv.intact = c->a_n;
	c->t_keep.intact = c->p_n - c->a_n;
	c->t_kid[0].intact = c->t_kid[1].intact = c->c_n;
	c->c0.vm[VM_PGLAZYFREE] = 10;
	c->c1.vm[VM_PGLAZYFREE] = 522;
	c->ss_p.lazyfree = 2048;
}

/* issue 32.2: with the other process's PTEs dirty, its intact data proves nothing */
static void test_plain_fork_rows_say_only_the_callers_side(void)
{
	struct lcase c;
	struct outcome o;

	intact_case(&c, "PTE-mapped THP shared with a child, plain fork");
	judge(&c, &o);
	CHECK(o.v == V_CALLER);
	CHECK(strstr(o.msg, "LazyFree 2048 kB") && strstr(o.msg, "pglazyfree +512"));
	intact_case(&c, "PMD-mapped THP partly shared, child keeps second half");
	judge(&c, &o);
	CHECK(o.v == V_CALLER);
	intact_case(&c, "PTE-mapped THP shared with a child, PTEs clean");
	judge(&c, &o);
	CHECK(o.v == V_PASS);
}

/* a loss and a split are seen on any row, clean or not */
static void test_loss_and_split_whatever_the_ptes(void)
{
	struct lcase c;
	struct outcome o;

	intact_case(&c, "PTE-mapped THP shared with a child, plain fork");
	c.t_kid[0].intact = 0;
	c.t_kid[0].zero = c.c_n;
	judge(&c, &o);
	CHECK(o.v == V_LOSS && strstr(o.msg, "the child read zeros at 512 of 512 pages"));
	intact_case(&c, "THP mapped in disjoint halves, parent first, child second");
	c.split = true;
	judge(&c, &o);
	CHECK(o.v == V_SPLIT);
	intact_case(&c, "exclusive PTE-mapped THP");
	c.t_adv.intact = 0;
	c.t_adv.zero = c.a_n;
	judge(&c, &o);
	CHECK(o.v == V_PASS);
	c.t_adv.zero = 0;
	c.t_adv.intact = c.a_n;
	c.ss_p.lazyfree = 0;
	judge(&c, &o);
	CHECK(o.v == V_MISSED);
}

/*
 * issue 32.1: a large folio's clean PTEs are proven by soft-dirty bits cleared after the read-back
 * and still clear right before madvise; without soft-dirty tracking the row is inconclusive. The
 * check runs on this process's own pages (as the "child"), on the host's kernel.
 */
static void test_clean_ptes_of_a_large_folio_are_proven(void)
{
	struct lcase c;
	struct outcome o = { .v = V_PASS };
	char *page;

	intact_case(&c, "PTE-mapped THP shared with a child, PTEs clean");
	soft_dirty = false;
	CHECK(clean_prove(&c, &o) == -1 && o.v == V_INCONCLUSIVE && strstr(o.msg, "soft-dirty"));
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	drain_page = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pagemap_fd >= 0 && page != MAP_FAILED);
	soft_dirty = soft_dirty_works();
	if (!soft_dirty) {
		printf("# this kernel does not track soft-dirty bits: the proof itself not checked\n");
		return;
	}
	page[0] = 1;	/* written: soft-dirty */
	c.mem = page;
	c.c_first = 0;
	c.c_n = 1;
	c.nkids = 1;
	c.kids[0].pid = getpid();
	c.cpm = calloc(1, sizeof(uint64_t));
	CHECK(pagemap_read(page, 1, c.cpm) == 0);
	c.pfn0 = c.cpm[0] & PM_PFN_MASK;
	o.v = V_PASS;
	CHECK(kid_as_needed(&c, 0, &o) == -1 && o.v == V_INCONCLUSIVE && strstr(o.msg, "soft-dirty"));
	o.v = V_PASS;
	CHECK(clean_prove(&c, &o) == 0 && o.v == V_PASS);	/* clear_refs 4 on the "child" */
	CHECK(kid_as_needed(&c, 0, &o) == 0 && o.v == V_PASS);
	page[0] = 2;	/* a write after the proof began */
	CHECK(kid_as_needed(&c, 0, &o) == -1 && o.v == V_INCONCLUSIVE);
	free(c.cpm);
}

/*
 * 7.x frees a folio's swap once the last process reads it back (zram is SWP_SYNCHRONOUS_IO): out
 * of the swap cache and PG_dirty is as good as in it (MADV_FREE asks the sharing check either
 * way), and then small pages need the soft-dirty proof too; neither is inconclusive. The flags
 * are read from a file standing in for /proc/kpageflags.
 */
static void test_a_read_back_that_freed_the_swap(void)
{
	uint64_t flags[3] = { F_SWAPCACHE | F_DIRTY, F_DIRTY, F_LRU };
	char path[] = "/tmp/kpageflags-XXXXXX";
	struct lcase c;
	struct outcome o = { .v = V_PASS };

	kpageflags_fd = mkstemp(path);
	CHECK(kpageflags_fd >= 0 && write(kpageflags_fd, flags, sizeof(flags)) == sizeof(flags));
	unlink(path);
	intact_case(&c, "small pages shared with a child, PTEs clean");
	CHECK(!soft_dirty_proof(&c));
	CHECK(swap_state(&c, 0, 0, &o) == 0 && !c.swap_freed && o.v == V_PASS);
	CHECK(swap_state(&c, 1, 1, &o) == 0 && c.swap_freed && o.v == V_PASS);
	CHECK(soft_dirty_proof(&c));
	CHECK(strstr(swap_text(&c), "PG_dirty"));
	CHECK(swap_state(&c, 2, 2, &o) == -1 && o.v == V_INCONCLUSIVE &&
	      strstr(o.msg, "neither in the swap cache nor PG_dirty"));
	soft_dirty = false;
	o.v = V_PASS;
	CHECK(clean_prove(&c, &o) == -1 && o.v == V_INCONCLUSIVE && strstr(o.msg, "soft-dirty"));
	close(kpageflags_fd);
	kpageflags_fd = -1;
}

int main(void)
{
	test_a_read_back_that_freed_the_swap();
	test_clean_ptes_of_a_large_folio_are_proven();
	test_plain_fork_rows_say_only_the_callers_side();
	test_loss_and_split_whatever_the_ptes();
	return checks_done();
}

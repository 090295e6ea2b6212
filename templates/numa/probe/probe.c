// SPDX-License-Identifier: GPL-2.0
/*
 * probe: do mbind(MPOL_MF_MOVE), move_pages(2), migrate_pages(2) and khugepaged
 * take a folio another process maps?
 *
 * mbind(2) with MPOL_MF_MOVE (not MPOL_MF_MOVE_ALL) migrates the caller's pages
 * to the new policy's nodes, but only those no other process maps: its page
 * walk (queue_folios_pmd(), queue_folios_pte_range()) hands each folio to
 * migrate_folio_add() in mm/mempolicy.c, which at v6.12 isolates it only if
 * `(flags & MPOL_MF_MOVE_ALL) || !folio_likely_mapped_shared(folio)`.
 * move_pages(2) without MPOL_MF_MOVE_ALL asks the same in mm/migrate.c
 * (__add_folio_for_migration(): `folio_likely_mapped_shared(folio) &&
 * !migrate_all` refuses with -EACCES), for the folio of each address it is
 * given; migrate_pages(2) of the caller's own pages walks as mbind() does, with
 * MPOL_MF_MOVE_ALL when the caller has CAP_SYS_NICE (the probe drops it from
 * its effective set for the plain rows). A folio a check calls exclusive is
 * migrated, and every process that maps it then maps the copy on the new node:
 * one process's policy moved another's memory. A folio it calls shared that is
 * exclusive stays on the old node. With MPOL_MF_MOVE_ALL (rows of the shared
 * scenarios) the calls skip the check: every folio must move, shared or not.
 * khugepaged (rows of the PTE-mapped THP scenarios) counts the PTEs of a range
 * that map such a folio against max_ptes_shared, here 0: a range with one must
 * not be collapsed, an exclusive one must be.
 *
 * Every case (a row of `scenarios` below): map anonymous memory bound to the
 * first memory node (MPOL_BIND, no move), fill it, make it PTE-mapped where the
 * scenario says, fork() a child that keeps all or a half of it mapped and
 * touches nothing, unmap in the parent what the scenario says, check the state
 * (one THP of that size, PMD- or PTE-mapped as asked, the child mapping the
 * same PFNs, every page on the first node), then ask for the parent's part on
 * the second node (a `way`: mbind(), move_pages() of every page or
 * migrate_pages(), with or without MPOL_MF_MOVE_ALL; or khugepaged) and read
 * every page's node (or the parent's AnonHugePages) again, in both
 * processes, with move_pages(pid, n, pages, NULL, status, 0), which moves
 * nothing. Verdicts: correct; wrong (pages the child maps moved without
 * MPOL_MF_MOVE_ALL: a shared folio called exclusive); missed (the folio stayed
 * while no migration failed: an exclusive one called shared, or a shared one
 * left although MPOL_MF_MOVE_ALL asked); inconclusive (the state was not what
 * the scenario needs, or migration itself failed).
 *
 * NUMA balancing is turned off while the probe runs (kernel.numa_balancing 0,
 * put back at exit): its hinting faults would move pages on their own.
 *
 * No libnuma: mbind(2), move_pages(2) and migrate_pages(2) by syscall(2), with
 * the constants of <linux/mempolicy.h>. Prints kselftest TAP 13 with a verdict token on every
 * result line that is not a plain `ok` (see ../../probe-common/probe_common.h),
 * exits with kselftest's KSFT_* codes, must be run as root (PFNs in pagemap,
 * /proc/kpageflags, the THP and NUMA balancing knobs).
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o probe probe.c
 */
#define _GNU_SOURCE
/* the /proc/vmstat counters that tell what the kernel did */
#define PROBE_VMSTAT "pgmigrate_success", "pgmigrate_fail", "thp_migration_success", \
		     "thp_migration_fail", "thp_migration_split", "thp_split_pmd", \
		     "thp_collapse_alloc", "thp_collapse_alloc_failed", "thp_scan_exceed_share_pte"
#define VM_MIGRATE_FAIL	1	/* pgmigrate_fail in PROBE_VMSTAT */
#define VM_THP_FAIL	3	/* thp_migration_fail */
#define VM_COLLAPSE_FAIL 7	/* thp_collapse_alloc_failed */
#define VM_EXCEED_SHARED 8	/* thp_scan_exceed_share_pte */
#include "../../probe-common/probe_common.h"

#include <linux/capability.h>
#include <linux/mempolicy.h>
#include <sys/syscall.h>

#define SMALL_PAGES	8	/* pages of a small-page case */
#define NUMA_KNOB	"/proc/sys/kernel/numa_balancing"
#define NODES_FILE	"/sys/devices/system/node/has_memory"
#define MAX_NODE	1024	/* bits in the node masks passed to mbind() */
#define HUGETLB_KB	2048	/* the hugetlb size of the hugetlb rows */
#define NODE_HUGE	"/sys/devices/system/node/node%d/hugepages/hugepages-2048kB/"
#define KHP_DIR		THP_DIR "/khugepaged/"
#define COLLAPSE_SCANS	3	/* full khugepaged scans a collapse case waits, at most */
#define COLLAPSE_WAIT_S	30	/* and seconds */

/* what a verdict means, in a result line */
static const char *const verdict_text[NR_VERDICTS] = {
	[V_MISSED] = "not migrated (exclusive treated as shared, or MPOL_MF_MOVE_ALL not honoured)",
	[V_WRONG] = "migrated or collapsed pages another process maps",
};

/* the two memory nodes: the pages start on src, the call asks for dst; nr_nodes < 2: no case */
static int src_node, dst_node, nr_nodes;

/* ---------------------------------------------------------------- scenarios */

enum shape { SMALL, PTE_THP, PMD_THP, HUGETLB };

/* a part of the region: all of it, or a half */
enum half { ALL, FIRST, SECOND };

struct scenario {
	const char *text;
	enum shape shape;
	bool child;		/* a fork()ed child shares it */
	enum half child_keeps;	/* what the child keeps mapped */
	enum half parent_keeps;	/* what the parent keeps mapped (and moves) */
};

static const struct scenario scenarios[] = {
	{ .text = "exclusive small pages", .shape = SMALL },
	{ .text = "small pages shared with a child", .shape = SMALL, .child = true },
	{ .text = "exclusive PMD-mapped THP", .shape = PMD_THP },
	{ .text = "PMD-mapped THP shared with a child", .shape = PMD_THP, .child = true },
	{ .text = "exclusive PTE-mapped THP", .shape = PTE_THP },
	{ .text = "PTE-mapped THP shared with a child", .shape = PTE_THP, .child = true },
	{ .text = "PTE-mapped THP partly shared, child keeps second half", .shape = PTE_THP,
	  .child = true, .child_keeps = SECOND },
	{ .text = "THP mapped in disjoint halves, parent first, child second", .shape = PTE_THP,
	  .child = true, .child_keeps = SECOND, .parent_keeps = FIRST },
	{ .text = "exclusive hugetlb page", .shape = HUGETLB },
	{ .text = "hugetlb page shared with a child", .shape = HUGETLB, .child = true },
};

#define NR_SCENARIOS (int)(sizeof(scenarios) / sizeof(scenarios[0]))

/*
 * how the parent asks for its part on the other node, or (KHUGEPAGED) lets khugepaged collapse
 * it with max_ptes_shared 0: a range with a PTE that maps a shared folio must stay as it is
 */
enum call { MBIND, MOVE_PAGES, MIGRATE_PAGES, KHUGEPAGED };

struct way {
	const char *text;	/* the start of the case's name */
	enum call call;
	unsigned int flags;	/* MPOL_MF_MOVE (mbind, migrate_pages), 0 (move_pages), _ALL */
	bool shared_only;	/* only the scenarios with a child */
	bool pte_thp_only;	/* only the PTE-mapped THP scenarios */
};

static const struct way ways[] = {
	{ .text = "mbind MPOL_MF_MOVE", .call = MBIND, .flags = MPOL_MF_MOVE },
	{ .text = "move_pages", .call = MOVE_PAGES },
	{ .text = "mbind MPOL_MF_MOVE_ALL", .call = MBIND, .flags = MPOL_MF_MOVE_ALL,
	  .shared_only = true },
	{ .text = "move_pages MPOL_MF_MOVE_ALL", .call = MOVE_PAGES, .flags = MPOL_MF_MOVE_ALL,
	  .shared_only = true },
	{ .text = "migrate_pages", .call = MIGRATE_PAGES, .flags = MPOL_MF_MOVE },
	{ .text = "migrate_pages CAP_SYS_NICE", .call = MIGRATE_PAGES, .flags = MPOL_MF_MOVE_ALL,
	  .shared_only = true },
	{ .text = "khugepaged max_ptes_shared=0", .call = KHUGEPAGED, .pte_thp_only = true },
};

#define NR_WAYS (int)(sizeof(ways) / sizeof(ways[0]))

static bool way_runs(const struct way *w, const struct scenario *s)
{
	return (s->child || !w->shared_only) && (s->shape == PTE_THP || !w->pte_thp_only);
}

/* pages [*first, *first + *n) of a region of npages: the part h */
static void part(enum half h, size_t npages, size_t *first, size_t *n)
{
	*first = h == SECOND ? npages / 2 : 0;
	*n = h == ALL ? npages : npages / 2;
}

/* ---------------------------------------------------------------- nodes */

/* The first two nodes in a node list ("0-1", "0,2"); how many it has (at most 2 counted) */
static int first_two_nodes(const char *list, int *a, int *b)
{
	int n = 0, lo, hi, used;

	while (n < 2 && sscanf(list, "%d%n", &lo, &used) == 1) {
		list += used;
		hi = lo;
		if (*list == '-' && sscanf(list + 1, "%d%n", &hi, &used) == 1)
			list += 1 + used;
		for (; lo <= hi && n < 2; lo++)
			*(n++ ? b : a) = lo;
		if (*list == ',')
			list++;
	}
	return n;
}

static long sys_mbind(void *addr, size_t len, int mode, int node, unsigned int flags)
{
	unsigned long mask[MAX_NODE / (8 * sizeof(unsigned long))] = { 0 };

	mask[node / (8 * sizeof(unsigned long))] |= 1UL << (node % (8 * sizeof(unsigned long)));
	return syscall(__NR_mbind, addr, len, mode, mask, MAX_NODE, flags);
}

/*
 * move_pages(pid, n, pages [first, first + n) of mem, nodes, status, flags): with nodes NULL, every
 * page's node (or -errno) in pid's mm (0: this process); else each page to nodes[i]. Its return.
 */
/* migrate_pages(2) of this process, every page on node `from` to node `to` */
static long sys_migrate_pages(int from, int to)
{
	unsigned long old[MAX_NODE / (8 * sizeof(unsigned long))] = { 0 };
	unsigned long new[MAX_NODE / (8 * sizeof(unsigned long))] = { 0 };

	old[from / (8 * sizeof(unsigned long))] |= 1UL << (from % (8 * sizeof(unsigned long)));
	new[to / (8 * sizeof(unsigned long))] |= 1UL << (to % (8 * sizeof(unsigned long)));
	return syscall(__NR_migrate_pages, 0, MAX_NODE, old, new);
}

/* put CAP_SYS_NICE into this process's effective set, or take it out; 0, or -1 */
static int cap_nice(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(__NR_capget, &hdr, data))
		return -1;
	if (on)
		data[CAP_TO_INDEX(CAP_SYS_NICE)].effective |= CAP_TO_MASK(CAP_SYS_NICE);
	else
		data[CAP_TO_INDEX(CAP_SYS_NICE)].effective &= ~CAP_TO_MASK(CAP_SYS_NICE);
	return syscall(__NR_capset, &hdr, data) ? -1 : 0;
}

/*
 * migrate_pages(2) of this process from src_node to dst_node: the kernel passes MPOL_MF_MOVE_ALL
 * when the caller has CAP_SYS_NICE, else MPOL_MF_MOVE, so without `nice` the capability leaves the
 * effective set for the call (it stays permitted, and comes back after). The pages it could not
 * move, or -1.
 */
static long migrate_self(bool nice)
{
	long ret;
	int err;

	if (!nice && cap_nice(false))
		return -1;
	ret = sys_migrate_pages(src_node, dst_node);
	err = errno;
	if (!nice && cap_nice(true))
		printf("# cannot put CAP_SYS_NICE back\n");
	errno = err;
	return ret;
}

static long sys_move_pages(pid_t pid, char *mem, size_t first, size_t n, const int *nodes,
			   int *status, unsigned int flags)
{
	void **pages = calloc(n ? n : 1, sizeof(void *));
	size_t i;
	long ret;

	if (!pages)
		return -1;
	for (i = 0; i < n; i++)
		pages[i] = mem + (first + i) * pagesize;
	ret = syscall(__NR_move_pages, pid, n, pages, nodes, status, flags);
	free(pages);
	return ret;
}

/* every page's node in pid's mm (0: this process), or -errno; 0, or -1 (the call failed) */
static int nodes_of(pid_t pid, char *mem, size_t first, size_t n, int *status)
{
	return sys_move_pages(pid, mem, first, n, NULL, status, 0) ? -1 : 0;
}

/* how many of the n statuses are this node */
static size_t on_node(const int *status, size_t n, int node)
{
	size_t i, c = 0;

	for (i = 0; i < n; i++)
		c += status[i] == node;
	return c;
}

/* "512 on node 0" or "256 on node 0, 256 on node 1, 1 not present" */
static void nodes_text(const int *status, size_t n, char *buf, size_t len)
{
	size_t a = on_node(status, n, src_node), b = on_node(status, n, dst_node);
	size_t used = 0, i;

	buf[0] = '\0';
	if (a)
		used += snprintf(buf + used, len - used, "%zu on node %d", a, src_node);
	if (b && used < len)
		used += snprintf(buf + used, len - used, "%s%zu on node %d", used ? ", " : "", b,
				 dst_node);
	for (i = 0; i < n && (status[i] == src_node || status[i] == dst_node); i++)
		;
	if (i < n && used < len)	/* a node id, or -errno (-ENOENT: not present) */
		snprintf(buf + used, len - used, "%s%zu elsewhere or not present (first status %d)",
			 used ? ", " : "", n - a - b, status[i]);
}

/* "1 page: node 1; 511 pages: -16 (Device or resource busy)": move_pages()' answer per page */
static void status_text(const int *status, size_t n, char *buf, size_t len)
{
	int seen[4];
	size_t count[4] = { 0 }, used = 0, i, k, nr = 0;

	for (i = 0; i < n; i++) {
		for (k = 0; k < nr && seen[k] != status[i]; k++)
			;
		if (k == nr && nr < 4)
			seen[nr++] = status[i];
		if (k < nr)
			count[k]++;
	}
	buf[0] = '\0';
	for (k = 0; k < nr && used < len; k++)
		used += snprintf(buf + used, len - used, "%s%zu: %s%d%s%s%s", k ? "; " : "",
				 count[k], seen[k] < 0 ? "" : "node ", seen[k],
				 seen[k] < 0 ? " (" : "", seen[k] < 0 ? strerror(-seen[k]) : "",
				 seen[k] < 0 ? ")" : "");
}

/* ---------------------------------------------------------------- the child */

struct kid {
	pid_t pid;
	int cmd, rsp;		/* parent's ends of the pipes */
	size_t first, n;	/* the pages of the region it keeps mapped */
};

/* in the child: unmap what it does not keep, say 'k', wait for the end; touches nothing */
static void kid_main(int cmd, int rsp, char *mem, size_t size, const struct kid *k)
{
	char ch = 'k';

	if (k->first)
		munmap(mem, k->first * pagesize);
	if ((k->first + k->n) * pagesize < size)
		munmap(mem + (k->first + k->n) * pagesize, size - (k->first + k->n) * pagesize);
	if (write(rsp, &ch, 1) != 1)
		_exit(1);
	while (read(cmd, &ch, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* fork the child that keeps part h of the region; 0, or -1 (why in msg) */
static int kid_start(struct kid *k, char *mem, size_t size, enum half h, char *msg, size_t len)
{
	int a[2], b[2];
	char ch;

	part(h, size / pagesize, &k->first, &k->n);
	k->pid = fork_piped(a, b, msg, len);
	if (k->pid < 0)
		return -1;
	if (k->pid == 0) {
		close(a[1]);
		close(b[0]);
		kid_main(a[0], b[1], mem, size, k);
	}
	close(a[0]);
	close(b[1]);
	k->cmd = a[1];
	k->rsp = b[0];
	if (read(k->rsp, &ch, 1) != 1 || ch != 'k') {
		snprintf(msg, len, "the child did not get ready");
		reap_piped(k->pid, k->cmd, k->rsp, 'Q');
		k->pid = 0;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- one case */

/* what a case looked at: the region, the parent's part, the child */
struct cas {
	const struct scenario *s;
	const struct way *w;
	char *mem;
	size_t size, npages, first, n;	/* the parent's part: pages [first, first + n) */
	struct kid kid;
	int *before, *after, *kid_before, *kid_after;
	int *asked;		/* move_pages()' status of each page it was asked to move */
	struct counters c0, c1;
	long call_ret;
	int call_errno;
	long scans, huge_after;	/* collapse: full khugepaged scans waited, AnonHugePages */
};

/* AnonHugePages (kB) of this process's VMAs overlapping [lo, hi) */
static long anon_huge_kb(const char *lo, const char *hi)
{
	char line[512];
	unsigned long start, end;
	bool in = false;
	long kb = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in = start < (uintptr_t)hi && (uintptr_t)lo < end;
		else if (in && !strncmp(line, "AnonHugePages:", 14))
			kb += strtol(line + 14, NULL, 10);
	}
	if (f)
		fclose(f);
	return kb;
}

/*
 * Two free hugetlb pages of HUGETLB_KB on each of the two nodes (nr_hugepages per node, put back
 * at exit): one for the region, one for migration to land on; 0, or -1 (why in msg)
 */
static int hugetlb_ready(char *msg, size_t len)
{
	int nodes[2] = { src_node, dst_node }, i;
	char path[160], val[24];
	long have;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), NODE_HUGE "nr_hugepages", nodes[i]);
		have = read_long(path);
		snprintf(val, sizeof(val), "%ld", have + 2);
		if (have < 0 || knob_set(path, val)) {
			snprintf(msg, len, "hugetlb not available (cannot set %s)", path);
			return -1;
		}
		snprintf(path, sizeof(path), NODE_HUGE "free_hugepages", nodes[i]);
		if (read_long(path) < 2) {
			snprintf(msg, len, "hugetlb not available (%s below 2)", path);
			return -1;
		}
	}
	return 0;
}

/* the region: anonymous memory, or a private hugetlb mapping; NULL on failure */
static char *map_region(const struct cas *c)
{
	char *p;

	if (c->s->shape != HUGETLB)
		return map_aligned(c->size, pmdsize);
	p = mmap(NULL, c->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		 -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* khugepaged with max_ptes_shared 0, retrying a failed allocation soon (put back at exit) */
static int khugepaged_ready(void)
{
	return knob_set(KHP_DIR "max_ptes_shared", "0") ||
	       knob_set(KHP_DIR "alloc_sleep_millisecs", "10");
}

/* map the region bound to src_node, filled, THP as the shape says; 0, or a verdict (why in o) */
static int populate(struct cas *c, struct outcome *o)
{
	char msg[200];
	uint64_t pfn;

	if (c->s->shape == HUGETLB && hugetlb_ready(msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		return -1;
	}
	if (c->w->call == KHUGEPAGED && khugepaged_ready()) {
		set_outcome(o, V_SKIP, "cannot set the khugepaged knobs (" KHP_DIR ")");
		return -1;
	}
	if (c->s->shape != HUGETLB && thp_select(c->s->shape == SMALL ? 0 : pmdsize)) {
		set_outcome(o, V_SKIP, "cannot set the THP knobs");
		return -1;
	}
	c->mem = map_region(c);
	if (!c->mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return -1;
	}
	if (c->s->shape != HUGETLB)
		madvise(c->mem, c->size, c->s->shape == SMALL ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	if (sys_mbind(c->mem, c->size, MPOL_BIND, src_node, 0)) {
		set_outcome(o, V_ERROR, "mbind(MPOL_BIND node %d): %s", src_node, strerror(errno));
		return -1;
	}
	memset(c->mem, 0x5a, c->size);
	if (c->s->shape == SMALL || c->s->shape == HUGETLB)
		return 0;
	if (check_thp(c->mem, c->size, &pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (%s)", msg);
		return -1;
	}
	if (c->s->shape == PTE_THP && pte_map(c->mem, c->size)) {
		set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Drop pages [first, first + n) of the parent's region: unmapped, or (a collapse case) zapped
 * with MADV_DONTNEED, which keeps the VMA whole: khugepaged collapses only a VMA that spans the
 * PMD range.
 */
static void drop(const struct cas *c, size_t first, size_t n)
{
	if (!n)
		return;
	if (c->w->call == KHUGEPAGED)
		madvise(c->mem + first * pagesize, n * pagesize, MADV_DONTNEED);
	else
		munmap(c->mem + first * pagesize, n * pagesize);
}

/*
 * The child forked, the parent's part kept; 0, or a verdict (why in o). Before a collapse case
 * forks, the region is MADV_NOHUGEPAGE, so that khugepaged never collapses the child's copy of the
 * VMA (its pages would then be the parent's alone), nor the parent's before collapse_wait().
 */
static int share(struct cas *c, struct outcome *o)
{
	bool collapse = c->w->call == KHUGEPAGED;
	char msg[200];

	part(c->s->parent_keeps, c->npages, &c->first, &c->n);
	if (collapse && madvise(c->mem, c->size, MADV_NOHUGEPAGE)) {
		set_outcome(o, V_ERROR, "madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
		return -1;
	}
	if (c->s->child && kid_start(&c->kid, c->mem, c->size, c->s->child_keeps, msg,
				     sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		return -1;
	}
	drop(c, 0, c->first);
	drop(c, c->first + c->n, c->npages - c->first - c->n);
	return 0;
}

/* the PFNs of the child's pages are the parent's (where both map them); 0 yes */
static int kid_maps_same(const struct cas *c)
{
	size_t n = c->npages, i;
	uint64_t *mine = calloc(n, sizeof(uint64_t)), *its = calloc(n, sizeof(uint64_t));
	int ret = -1;

	if (!mine || !its || pagemap_of(0, c->mem, n, mine) ||
	    pagemap_of(c->kid.pid, c->mem, n, its))
		goto out;
	ret = 0;
	for (i = c->kid.first; i < c->kid.first + c->kid.n; i++)
		if (!(its[i] & PM_PRESENT) ||
		    (i >= c->first && i < c->first + c->n && (mine[i] ^ its[i]) & PM_PFN_MASK))
			ret = -1;
out:
	free(mine);
	free(its);
	return ret;
}

/* the PFN of the region's first page in this process (0: not present) */
static uint64_t pagemap_pfn(const struct cas *c)
{
	uint64_t pm;

	if (pagemap_of(0, c->mem, 1, &pm) || !(pm & PM_PRESENT))
		return 0;
	return pm & PM_PFN_MASK;
}

/* the state the scenario needs, right before the move; 0, or inconclusive (why in o) */
static int check_state(struct cas *c, struct outcome *o)
{
	long huge = anon_huge_kb(c->mem, c->mem + c->size);
	long want = c->s->shape == PMD_THP ? (long)(c->size / 1024) : 0;
	char text[120];

	if ((c->s->shape == PTE_THP || c->s->shape == PMD_THP) &&
	    !folio_whole(pagemap_pfn(c), c->npages)) {
		set_outcome(o, V_INCONCLUSIVE, "the THP is no longer one folio before the move");
		return -1;
	}
	if (huge != want) {
		set_outcome(o, V_INCONCLUSIVE, "AnonHugePages %ld kB before the move, not %ld kB",
			    huge, want);
		return -1;
	}
	if (c->s->child && kid_maps_same(c)) {
		set_outcome(o, V_INCONCLUSIVE, "the child does not map the parent's pages");
		return -1;
	}
	if (nodes_of(0, c->mem, c->first, c->n, c->before) ||
	    (c->s->child && nodes_of(c->kid.pid, c->mem, c->kid.first, c->kid.n, c->kid_before))) {
		set_outcome(o, V_ERROR, "move_pages: %s", strerror(errno));
		return -1;
	}
	if (on_node(c->before, c->n, src_node) != c->n) {
		nodes_text(c->before, c->n, text, sizeof(text));
		set_outcome(o, V_INCONCLUSIVE, "not every page on node %d before the move: %s",
			    src_node, text);
		return -1;
	}
	return 0;
}

/*
 * Let khugepaged at the parent's range: write its last page (after fork() every PTE of both
 * processes is write-protected, and khugepaged collapses no range without a writable PTE; the
 * write copies that page where the child maps the folio), make the range MADV_HUGEPAGE and let
 * khugepaged scan every 10 ms until the range is one THP, or COLLAPSE_SCANS full scans or
 * COLLAPSE_WAIT_S seconds went by (its sleep put back after). The scans waited, or -1.
 */
static long collapse_wait(const struct cas *c)
{
	char text[64], slept[32];
	struct timespec t0, t;
	long start, scans = 0;

	c->mem[(c->first + c->n - 1) * pagesize] = 0x5b;
	if (read_text(KHP_DIR "scan_sleep_millisecs", text, sizeof(text)) ||
	    madvise(c->mem, c->size, MADV_HUGEPAGE))
		return -1;
	current_value(text, slept, sizeof(slept));
	start = read_long(KHP_DIR "full_scans");
	if (knob_set(KHP_DIR "scan_sleep_millisecs", "10"))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		usleep(20000);
		scans = read_long(KHP_DIR "full_scans") - start;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!anon_huge_kb(c->mem, c->mem + c->size) && scans < COLLAPSE_SCANS &&
		 elapsed_ms(&t0, &t) < COLLAPSE_WAIT_S * 1000);
	knob_set(KHP_DIR "scan_sleep_millisecs", slept);
	return scans;
}

/* ask the way's call for the parent's part on dst_node (move_pages: nodes asked in after[]) */
static long move_part(struct cas *c)
{
	size_t i;

	if (c->w->call == KHUGEPAGED) {
		c->scans = collapse_wait(c);
		c->huge_after = anon_huge_kb(c->mem, c->mem + c->size);
		return c->scans < 0 ? -1 : 0;
	}
	if (c->w->call == MIGRATE_PAGES)
		return migrate_self(c->w->flags & MPOL_MF_MOVE_ALL);
	if (c->w->call == MBIND)
		return sys_mbind(c->mem + c->first * pagesize, c->n * pagesize, MPOL_BIND,
				 dst_node, c->w->flags);
	for (i = 0; i < c->n; i++)
		c->after[i] = dst_node;	/* the nodes asked for; read back below */
	return sys_move_pages(0, c->mem, c->first, c->n, c->after, c->asked, c->w->flags);
}

/* move the parent's part to dst_node the scenario's way; the nodes after, both processes */
static int migrate(struct cas *c, struct outcome *o)
{
	counters_read(&c->c0, c->s->shape == SMALL ? pagesize : c->size);
	c->call_ret = move_part(c);
	c->call_errno = c->call_ret < 0 ? errno : 0;
	counters_read(&c->c1, c->s->shape == SMALL ? pagesize : c->size);
	if (nodes_of(0, c->mem, c->first, c->n, c->after) ||
	    (c->s->child && nodes_of(c->kid.pid, c->mem, c->kid.first, c->kid.n, c->kid_after))) {
		set_outcome(o, V_ERROR, "move_pages: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* "# evidence: ..." of a collapse case */
static void collapse_evidence(const struct cas *c)
{
	char moved[300];

	counters_delta(&c->c0, &c->c1, c->size, moved, sizeof(moved));
	printf("# evidence: this process maps pages %zu-%zu of the region%s, PTE-mapped; after %ld "
	       "full khugepaged scans (max_ptes_shared 0) AnonHugePages %ld kB; %s\n", c->first,
	       c->first + c->n - 1, c->s->child ? ", the child some of them" : "", c->scans,
	       c->huge_after, moved);
}

/* "# evidence: ..." of a case that got as far as its call */
static void evidence(const struct cas *c)
{
	char pb[120], pa[120], kb[120] = "", ka[120] = "", moved[300], said[200] = "";

	if (c->w->call == KHUGEPAGED) {
		collapse_evidence(c);
		return;
	}

	nodes_text(c->before, c->n, pb, sizeof(pb));
	nodes_text(c->after, c->n, pa, sizeof(pa));
	if (c->s->child) {
		nodes_text(c->kid_before, c->kid.n, kb, sizeof(kb));
		nodes_text(c->kid_after, c->kid.n, ka, sizeof(ka));
	}
	counters_delta(&c->c0, &c->c1, c->s->shape == SMALL ? pagesize : c->size, moved,
		       sizeof(moved));
	if (c->w->call == MOVE_PAGES && c->call_ret >= 0)
		status_text(c->asked, c->n, said, sizeof(said));
	printf("# evidence: before: this process's %zu pages %s%s%s; %s to node %d returned %ld%s%s"
	       "%s%s%s; after: this process's %s%s%s; %s\n", c->n, pb,
	       c->s->child ? ", the child's " : "", kb, c->w->text, dst_node, c->call_ret,
	       c->call_errno ? " " : "", c->call_errno ? strerror(c->call_errno) : "",
	       said[0] ? " (status per page: " : "", said, said[0] ? ")" : "", pa,
	       c->s->child ? ", the child's " : "", ka, moved);
}

/* did migration itself fail (so that pages left behind say nothing about the check)? */
static bool migration_failed(const struct cas *c)
{
	return moved_by(c->c0.vm[VM_MIGRATE_FAIL], c->c1.vm[VM_MIGRATE_FAIL]) > 0 ||
	       moved_by(c->c0.vm[VM_THP_FAIL], c->c1.vm[VM_THP_FAIL]) > 0 || c->call_ret;
}

/*
 * A collapse case's verdict: with max_ptes_shared 0 a range with a PTE that maps a folio the child
 * maps too must not be collapsed (the scan must have refused it: thp_scan_exceed_share_pte), and
 * an exclusive one must be.
 */
static void collapse_judge(const struct cas *c, struct outcome *o)
{
	bool refused = moved_by(c->c0.vm[VM_EXCEED_SHARED], c->c1.vm[VM_EXCEED_SHARED]) > 0;

	if (c->call_ret)
		set_outcome(o, V_ERROR, "madvise(MADV_HUGEPAGE) or the khugepaged knobs: %s",
			    strerror(c->call_errno));
	else if (c->s->child && c->huge_after)
		set_outcome(o, V_WRONG, "khugepaged collapsed the range although the child maps "
			    "pages of its folio (max_ptes_shared 0)");
	else if (c->s->child && !refused)
		set_outcome(o, V_INCONCLUSIVE, "not collapsed, but no scan refused the range as "
			    "shared in %ld full scans (thp_scan_exceed_share_pte did not move)",
			    c->scans);
	else if (!c->s->child && !c->huge_after && !c->scans)
		set_outcome(o, V_INCONCLUSIVE, "khugepaged did not finish a full scan in %d s",
			    COLLAPSE_WAIT_S);
	else if (!c->s->child && !c->huge_after &&
		 moved_by(c->c0.vm[VM_COLLAPSE_FAIL], c->c1.vm[VM_COLLAPSE_FAIL]) > 0)
		set_outcome(o, V_INCONCLUSIVE, "not collapsed, and allocating the THP failed "
			    "(thp_collapse_alloc_failed)");
	else if (!c->s->child && !c->huge_after)
		set_outcome(o, V_MISSED, "khugepaged did not collapse the exclusive range in %ld "
			    "full scans%s", c->scans, refused ? ": refused as shared" : "");
}

/* the verdict, from the nodes before and after */
static void judge(const struct cas *c, struct outcome *o)
{
	size_t moved = on_node(c->after, c->n, dst_node);
	bool move_all = c->w->flags & MPOL_MF_MOVE_ALL;

	if (c->w->call == KHUGEPAGED) {
		collapse_judge(c, o);
		return;
	}

	if (c->s->child && !move_all) {
		size_t kid_moved = on_node(c->kid_after, c->kid.n, dst_node);

		if (kid_moved)
			set_outcome(o, V_WRONG, "%zu of the %zu pages the child maps moved to "
				    "node %d", kid_moved, c->kid.n, dst_node);
		return;
	}
	if (moved == c->n)
		return;
	if (migration_failed(c))
		set_outcome(o, V_INCONCLUSIVE, "%zu of %zu pages moved, and migration itself "
			    "failed (pgmigrate_fail, thp_migration_fail or the call's error)",
			    moved, c->n);
	else if (moved)
		set_outcome(o, V_INCONCLUSIVE, "%zu of %zu pages moved (part of a folio?)", moved,
			    c->n);
	else
		set_outcome(o, V_MISSED, "none of the %zu pages moved to node %d%s", c->n, dst_node,
			    move_all ? ", though MPOL_MF_MOVE_ALL moves shared ones too" : "");
}

static void case_free(struct cas *c)
{
	if (c->kid.pid > 0)
		reap_piped(c->kid.pid, c->kid.cmd, c->kid.rsp, 'Q');
	if (c->mem)
		munmap(c->mem, c->size);
	free(c->before);
	free(c->after);
	free(c->kid_before);
	free(c->kid_after);
	free(c->asked);
}

static void run_case(const struct way *w, const struct scenario *s, struct outcome *o)
{
	struct cas c = { .s = s, .w = w };

	if (nr_nodes < 2) {
		set_outcome(o, V_SKIP, "need two NUMA nodes with memory (" NODES_FILE " has %d)",
			    nr_nodes);
		return;
	}
	if ((s->shape == PTE_THP || s->shape == PMD_THP) && !have_thp) {
		set_outcome(o, V_SKIP, "THP not supported (no " THP_DIR ")");
		return;
	}
	c.size = s->shape == SMALL ? SMALL_PAGES * pagesize :
		 s->shape == HUGETLB ? HUGETLB_KB * 1024UL : pmdsize;
	c.npages = c.size / pagesize;
	c.before = calloc(c.npages, sizeof(int));
	c.after = calloc(c.npages, sizeof(int));
	c.kid_before = calloc(c.npages, sizeof(int));
	c.kid_after = calloc(c.npages, sizeof(int));
	c.asked = calloc(c.npages, sizeof(int));
	if (!c.before || !c.after || !c.kid_before || !c.kid_after || !c.asked)
		set_outcome(o, V_ERROR, "out of memory");
	else if (!populate(&c, o) && !share(&c, o) && !check_state(&c, o) && !migrate(&c, o)) {
		evidence(&c);
		judge(&c, o);
	}
	case_free(&c);
}

/* ---------------------------------------------------------------- main */

static int probe_setup(void)
{
	char buf[128] = "";

	if (geteuid() != 0)
		return tap_skip_all("Please run this test as root (PFNs in pagemap, "
				    "/proc/kpageflags, sysfs knobs)");
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0)
		return tap_skip_all("cannot open /proc/self/pagemap or /proc/kpageflags "
				    "(CONFIG_PROC_PAGE_MONITOR?)");
	if (!read_text(NODES_FILE, buf, sizeof(buf)))
		nr_nodes = first_two_nodes(buf, &src_node, &dst_node);
	catch_signals(knobs_restore);
	if (!access(NUMA_KNOB, W_OK) && knob_set(NUMA_KNOB, "0"))
		printf("# cannot turn NUMA balancing off: pages may move on their own\n");
	printf("# memory nodes %s: %s\n", NODES_FILE, buf[0] ? buf : "(none: no CONFIG_NUMA?)");
	return 0;
}

/* how many cases: every way's scenarios */
static int nr_cases(void)
{
	int w, i, n = 0;

	for (w = 0; w < NR_WAYS; w++)
		for (i = 0; i < NR_SCENARIOS; i++)
			n += way_runs(&ways[w], &scenarios[i]);
	return n;
}

int main(void)
{
	struct timespec t_end;
	char name[200];
	int w, i, ret;

	probe_start();
	ret = probe_setup();
	if (ret)
		return ret;
	detect_thp();
	printf("1..%d\n", nr_cases());
	printf("# page size %zu, PMD THP size %zu kB\n", pagesize, have_thp ? pmdsize / 1024 : 0);
	if (nr_nodes == 2)
		printf("# pages move from node %d to node %d\n", src_node, dst_node);
	for (w = 0; w < NR_WAYS; w++)
		for (i = 0; i < NR_SCENARIOS; i++) {
			struct outcome o = { .v = V_PASS };

			if (!way_runs(&ways[w], &scenarios[i]))
				continue;
			snprintf(name, sizeof(name), "%s %s", ways[w].text, scenarios[i].text);
			tap_run(name);
			run_case(&ways[w], &scenarios[i], &o);
			end_case(name, &o, verdict_text);
		}
	knobs_restore();
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe took %.1f s\n", elapsed_ms(&t_start, &t_end) / 1000);
	return tap_totals(nr_cases());
}

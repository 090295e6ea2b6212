// SPDX-License-Identifier: GPL-2.0
/*
 * probe: what MADV_PAGEOUT and MADV_COLD do to exclusive and to shared folios.
 *
 * madvise_cold_or_pageout_pte_range() must leave alone a folio that another
 * process maps, and must deactivate / page out one that only this process
 * maps. The kernel selftest `cow` only notices the first kind of mistake
 * (exclusive treated as shared); this probe measures both, for the PMD THP
 * size, every mTHP size the kernel offers, small pages and KSM pages, and it
 * times MADV_COLD and MADV_PAGEOUT over a large region of PTE-mapped THPs:
 * the whole call over an exclusive region, and the decision alone over a
 * region shared with a child (which every variant leaves alone).
 *
 * Every scenario: set the memory up (fork()ed children keep their part mapped
 * and touch nothing), call madvise() from the parent only, then read from the
 * parent's /proc/self/pagemap (bit 62 swapped, bit 63 present) which pages
 * left memory, or from /proc/kpageflags (via the PFN) whether MADV_COLD
 * cleared PG_referenced. Expected: an exclusive folio is paged out or
 * deactivated; a folio another process maps is left alone.
 *
 * Prints kselftest-style TAP 13 (no kselftest.h; what it shares with the
 * other studies' probes is in ../../probe-common/probe_common.h), must be
 * run as root with swap enabled. Environment: PROBE_COST_MB (default 1024;
 * 0 turns the cost measurement off).
 *
 * Build: gcc -O2 -Wall -o probe -isystem <kernel build>/usr/include probe.c
 */
#define _GNU_SOURCE
/* the /proc/vmstat counters that tell what the kernel did during one madvise() */
#define PROBE_VMSTAT "thp_split_page", "thp_split_page_failed", "thp_swpout", "thp_swpout_fallback", \
		     "pswpout", "pgdeactivate"
#include "../../probe-common/probe_common.h"

#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* a folio's LRU state, kept in its head page's flags (see folio_flags()) */
#define F_FOLIO_BITS	(F_REFERENCED | F_LRU | F_ACTIVE)

#define KSM_DIR		"/sys/kernel/mm/ksm"
#define DEFAULT_COST_MB	256
#define KSM_WAIT_MS	20000

static int mem_fd = -1;

static void on_signal(int sig)
{
	knobs_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---------------------------------------------------------------- TAP */

enum verdict { V_PASS, V_MISSED, V_SPLIT, V_WRONG, V_INCONCLUSIVE, V_SKIP, V_ERROR };

struct outcome {
	enum verdict v;
	char msg[200];
};

static void set_outcome(struct outcome *o, enum verdict v, const char *fmt, ...)
{
	va_list ap;

	o->v = v;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof(o->msg), fmt, ap);
	va_end(ap);
}

static void end_case(const char *name, bool cold, const struct outcome *o)
{
	const char *act = cold ? "deactivation" : "pageout", *sep = o->msg[0] ? ": " : "";

	switch (o->v) {
	case V_PASS:
		tap_pass(name);
		break;
	case V_MISSED:
		tap_fail(name, "treated exclusive as shared (missed %s)%s%s", act, sep, o->msg);
		break;
	case V_SPLIT:
		tap_fail(name, "split a shared folio, %s only this process's pages%s%s",
			 cold ? "deactivated" : "paged out", sep, o->msg);
		break;
	case V_WRONG:
		tap_fail(name, "treated shared as exclusive (%s)%s%s",
			 cold ? "deactivated pages another process maps" : "paged out pages another process maps",
			 sep, o->msg);
		break;
	case V_INCONCLUSIVE:
		tap_skip(name, "inconclusive: %s", o->msg);
		break;
	case V_SKIP:
		tap_skip(name, "%s", o->msg);
		break;
	case V_ERROR:
		tap_error(name, o->msg);
		break;
	}
}

/* ---------------------------------------------------------------- memory introspection */

/*
 * The flags of a page with the LRU bits of its folio: at v6.1 kpageflags
 * shows a tail page's own flags, where PG_referenced/PG_active are not kept;
 * a folio is naturally aligned, so its head is the first aligned HEAD below.
 */
static uint64_t folio_flags(uint64_t pfn)
{
	uint64_t f = kpf(pfn), hf;
	int order;

	if (!(f & F_TAIL))
		return f;
	for (order = 1; order <= 18; order++) {
		hf = kpf(pfn & ~((1ULL << order) - 1));
		if (hf & F_HEAD)
			return (f & ~F_FOLIO_BITS) | (hf & F_FOLIO_BITS);
	}
	return f;
}

/* AnonHugePages (kB) of the VMA containing addr, -1 if not found */
static long smaps_anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long start, end, a = (unsigned long)addr;
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a VMA's header line: "start-end perms offset dev inode path"; no field line parses so */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start <= a && a < end;
			continue;
		}
		if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtol(line + 14, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

/* how far the splits that failed moved (the kernel tried to split a folio and gave up) */
static long split_failures(const struct counters *a, const struct counters *b)
{
	long n = 0;

	if (a->vm[1] >= 0)
		n += b->vm[1] - a->vm[1];	/* thp_split_page_failed */
	if (a->mthp[1] >= 0)
		n += b->mthp[1] - a->mthp[1];	/* split_failed */
	return n;
}

/*
 * Data that compresses like real memory (about 2-3:1 in zram): of every 64 bytes, 24 from a
 * pseudo-random stream and 40 zeros. No page is same-filled, which zram would store without
 * compressing it (and the cost rows would time that shortcut).
 */
static void fill(char *mem, size_t len, unsigned int seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed << 32) ^ (uintptr_t)mem;
	size_t off;
	int i;

	for (off = 0; off + 64 <= len; off += 64) {
		for (i = 0; i < 24; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(mem + off + i, &x, 8);
		}
		memset(mem + off + 24, 0, 40);
	}
}

/* zram's mm_stat: what it stores, in how much, and how many pages it kept as same-filled */
static void zram_stat(const char *when)
{
	long long orig, compr, used, limit, max, same;
	char buf[256];

	if (read_text("/sys/block/zram0/mm_stat", buf, sizeof(buf)) ||
	    sscanf(buf, "%lld %lld %lld %lld %lld %lld", &orig, &compr, &used, &limit, &max, &same) != 6) {
		printf("# zram %s: no /sys/block/zram0/mm_stat\n", when);
		return;
	}
	printf("# zram %s: %lld kB stored in %lld kB (ratio %.2f:1), %lld same-filled pages\n", when,
	       orig >> 10, compr >> 10, compr ? (double)orig / (double)compr : 0.0, same);
}

/* a small page (not part of a large folio)? 0: yes (its PFN in *pfn) */
static int check_small(const char *mem, uint64_t *pfn, char *msg, size_t len)
{
	uint64_t pm, f;

	if (pagemap_read(mem, 1, &pm) || !(pm & PM_PRESENT)) {
		snprintf(msg, len, "page not present");
		return 1;
	}
	f = kpf(pm & PM_PFN_MASK);
	if (f & (F_HEAD | F_TAIL)) {
		snprintf(msg, len, "got a large folio instead of a small page");
		return 1;
	}
	*pfn = pm & PM_PFN_MASK;
	return 0;
}

/* Mark the pages accessed through /proc/self/mem (GUP with FOLL_TOUCH calls mark_page_accessed) */
static int touch_range(const char *addr, size_t len, int passes)
{
	size_t off;
	char c;
	int p;

	for (p = 0; p < passes; p++)
		for (off = 0; off < len; off += pagesize)
			if (pread(mem_fd, &c, 1, (off_t)(uintptr_t)(addr + off)) != 1)
				return -1;
	return 0;
}

/* pages present / swapped / still PG_referenced / PG_active in a range of this process */
struct state {
	size_t present, swapped, referenced, active;
};

static int state_of(pid_t pid, const char *addr, size_t npages, bool flags, struct state *st)
{
	uint64_t *pm = calloc(npages ? npages : 1, sizeof(uint64_t)), f;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (!pm || pagemap_of(pid, addr, npages, pm)) {
		free(pm);
		return -1;
	}
	for (i = 0; i < npages; i++) {
		if (pm[i] & PM_SWAP)
			st->swapped++;
		if (!(pm[i] & PM_PRESENT))
			continue;
		st->present++;
		if (!flags)
			continue;
		f = folio_flags(pm[i] & PM_PFN_MASK);
		if (f & F_REFERENCED)
			st->referenced++;
		if (f & F_ACTIVE)
			st->active++;
	}
	free(pm);
	return 0;
}

static int range_state(const char *addr, size_t npages, bool flags, struct state *st)
{
	return state_of(0, addr, npages, flags, st);
}

/* ---------------------------------------------------------------- scenarios */

enum half { NONE, FIRST, SECOND, FROM_QUARTER };

enum special { PLAIN, COLLAPSE, STRADDLE, SEVERAL };

struct scenario {
	const char *text;
	bool pmd_only;		/* PMD size only */
	bool pmd_mapped;	/* the parent maps the THP by a PMD (else its PMD is split first) */
	bool fork;		/* a child shares the memory */
	enum half child_unmap;	/* what the child unmaps before the parent acts */
	enum half parent_unmap;	/* what the parent unmaps before it acts */
	enum half range;	/* what the parent advises (NONE: all of it; FROM_QUARTER: from size/4 on) */
	bool shared;		/* expected: another process maps the folio -> left alone */
	bool cold;		/* also run with MADV_COLD */
	int children;		/* how many children share it (0: one when fork) */
	enum special how;	/* COLLAPSE: the THP is made by MADV_COLLAPSE; STRADDLE: mremap()ed across
				 * two page tables; SEVERAL: four folios in one page table, a child
				 * maps the second */
	size_t max_div;		/* SEVERAL: sizes up to the PMD size / max_div */
};

static const struct scenario thp_scenarios[] = {
	{ "exclusive PMD-mapped THP", true, true, false, NONE, NONE, NONE, false, true },
	{ "exclusive PTE-mapped THP", false, false, false, NONE, NONE, NONE, false, true },
	{ "PTE-mapped THP, first half unmapped", false, false, false, NONE, FIRST, SECOND, false, true },
	{ "PTE-mapped THP, second half unmapped", false, false, false, NONE, SECOND, FIRST, false, true },
	{ "PMD-mapped THP shared with a child", true, true, true, NONE, NONE, NONE, true, false },
	{ "PTE-mapped THP shared with a child", false, false, true, NONE, NONE, NONE, true, true },
	{ "PMD-mapped THP partly shared, child keeps first half", true, true, true, SECOND, NONE, NONE,
	  true, false },
	{ "PMD-mapped THP partly shared, child keeps second half", true, true, true, FIRST, NONE, NONE,
	  true, false },
	{ "PTE-mapped THP partly shared, child keeps first half", false, false, true, SECOND, NONE, NONE,
	  true, true },
	{ "PTE-mapped THP partly shared, child keeps second half", false, false, true, FIRST, NONE, NONE,
	  true, true },
	{ "THP mapped in disjoint halves, parent first, child second", false, false, true, FIRST, SECOND,
	  FIRST, true, true },
	/* the review's missing cases (issue: a PMD THP advised in part, ranges that start mid-folio,
	 * more than two processes, THPs MADV_COLLAPSE made, folios across page tables, several
	 * folios in one table) */
	{ "exclusive PMD-mapped THP, first half advised", true, true, false, NONE, NONE, FIRST, false, false },
	{ "PMD-mapped THP shared with a child, first half advised", true, true, true, NONE, NONE, FIRST, true,
	  false },
	{ "exclusive PTE-mapped THP advised from a quarter in", false, false, false, NONE, NONE, FROM_QUARTER,
	  false, true },
	{ "PTE-mapped THP shared with two children", false, false, true, NONE, NONE, NONE, true, true, 2 },
	{ "exclusive THP made by MADV_COLLAPSE", true, true, false, NONE, NONE, NONE, false, false, 0, COLLAPSE },
	{ "THP made by MADV_COLLAPSE, shared with a child", true, true, true, NONE, NONE, NONE, true, false, 0,
	  COLLAPSE },
	{ "exclusive THP mremap()ed across two page tables", false, false, false, NONE, NONE, NONE, false, true,
	  0, STRADDLE },
	{ "four THPs in one page table, a child maps the second", false, false, true, NONE, NONE, NONE, true,
	  true, 0, SEVERAL, 4 },
};
#define NR_THP_SCENARIOS (int)(sizeof(thp_scenarios) / sizeof(thp_scenarios[0]))

enum kind { K_THP, K_SMALL, K_KSM };

static void case_name(char *buf, size_t len, bool cold, const char *text, size_t size)
{
	snprintf(buf, len, "%s %s (%zu kB)", cold ? "MADV_COLD" : "MADV_PAGEOUT", text, size / 1024);
}

struct child {
	pid_t pid;
	int ready, go;	/* parent's ends of the pipes */
};

#define MAX_CHILDREN 2

/*
 * fork a child that keeps only [mem + keep, mem + keep + keep_len) of [mem, mem + size) mapped,
 * says so, and waits; 0 on success
 */
static int start_child(struct child *c, char *mem, size_t size, size_t keep, size_t keep_len, bool rewrite,
		       char *msg, size_t len)
{
	int ready[2], go[2];
	char ch;
	struct pollfd pfd;

	c->pid = fork_piped(ready, go, msg, len);
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(ready[0]);
		close(go[1]);
		ch = 'r';
		if (keep && munmap(mem, keep))
			ch = 'u';
		if (keep + keep_len < size && munmap(mem + keep + keep_len, size - keep - keep_len))
			ch = 'u';
		if (rewrite)	/* KSM: break COW, so that the child has its own page with the same bytes */
			*(volatile char *)mem = *(volatile char *)mem;
		if (write(ready[1], &ch, 1) != 1)
			_exit(1);
		while (read(go[0], &ch, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	c->ready = ready[0];
	c->go = go[1];
	pfd.fd = c->ready;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1 || read(c->ready, &ch, 1) != 1) {
		snprintf(msg, len, "the child did not get ready");
		return -1;
	}
	if (ch != 'r') {
		snprintf(msg, len, "munmap in the child failed");
		return -1;
	}
	return 0;
}

static void stop_child(struct child *c)
{
	if (c->pid <= 0)
		return;
	reap_piped(c->pid, c->go, c->ready, 'g');
	c->pid = -1;
}

/* [off, off + len) of a folio of `size` bytes: the half `h` of it, or all of it */
static void part(enum half h, size_t size, size_t *off, size_t *len)
{
	*off = h == SECOND ? size / 2 : h == FROM_QUARTER ? size / 4 : 0;
	*len = h == NONE ? size : h == FROM_QUARTER ? size - size / 4 : size / 2;
}

/*
 * What a case set up, checked again right before madvise(): one folio of `size` bytes at PFN pfn0
 * (its first byte at mem in the parent's address space), of which the parent maps
 * [p_off, p_off + p_len) and each child [c_off, c_off + c_len).
 */
struct layout {
	char *mem;
	size_t size;
	uint64_t pfn0;
	size_t p_off, p_len;
	size_t c_off, c_len;
	struct child *c;
	int nc;
	int pmd;	/* 1: the parent maps it by a PMD, 0: by PTEs, -1: not checked */
};

/* 0: the state is what the scenario needs; else why not (an inconclusive case) */
static int layout_check(const struct layout *l, char *msg, size_t len)
{
	size_t n = l->size / pagesize, i;
	uint64_t *pm = calloc(n, sizeof(uint64_t));
	int k, ret = 1;
	long kb;

	if (!pm) {
		snprintf(msg, len, "out of memory");
		return 1;
	}
	if (!folio_whole(l->pfn0, n)) {
		snprintf(msg, len, "the %zu kB folio was no longer one folio before madvise (split meanwhile)",
			 l->size / 1024);
		goto out;
	}
	if (n > 1 && !(kpf(l->pfn0) & F_LRU)) {
		snprintf(msg, len, "the folio was not on the LRU before madvise");
		goto out;
	}
	for (k = -1; k < l->nc; k++) {
		pid_t pid = k < 0 ? 0 : l->c[k].pid;
		size_t off = k < 0 ? l->p_off : l->c_off, cnt = (k < 0 ? l->p_len : l->c_len) / pagesize;

		if (pagemap_of(pid, l->mem + off, cnt, pm)) {
			snprintf(msg, len, "cannot read the pagemap of %s", k < 0 ? "the parent" : "a child");
			goto out;
		}
		for (i = 0; i < cnt; i++)
			if (!(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN_MASK) != l->pfn0 + off / pagesize + i) {
				snprintf(msg, len, "page %zu of the folio is not mapped by %s as the scenario needs",
					 off / pagesize + i, k < 0 ? "the parent" : "the child");
				goto out;
			}
	}
	if (l->pmd >= 0) {
		kb = smaps_anon_huge_kb(l->mem + l->p_off);
		if (l->pmd ? kb < (long)(l->size / 1024) : kb != 0) {
			snprintf(msg, len, "the parent does not map the folio by %s (AnonHugePages %ld kB)",
				 l->pmd ? "a PMD" : "PTEs", kb);
			goto out;
		}
	}
	ret = 0;
out:
	free(pm);
	return ret;
}

/* the children's pages of the folio: how many are swapped, and how many REFERENCED */
static void children_state(const struct layout *l, bool flags, struct state *sum)
{
	struct state st;
	int k;

	memset(sum, 0, sizeof(*sum));
	for (k = 0; k < l->nc; k++) {
		if (state_of(l->c[k].pid, l->mem + l->c_off, l->c_len / pagesize, flags, &st))
			continue;
		sum->present += st.present;
		sum->swapped += st.swapped;
		sum->referenced += st.referenced;
		sum->active += st.active;
	}
}

/*
 * For MADV_COLD: mark [start, start + len) accessed until PG_referenced shows. mark_page_accessed()
 * sets it, then activates the folio and clears it, then sets it again; a small folio's activation
 * waits in a per-CPU batch, so its flags may go round that cycle more than once. 0: done.
 */
static int mark_referenced(char *start, size_t len, bool pmd_mapped, struct outcome *o)
{
	size_t n = len / pagesize;
	struct state st = { 0 };
	int i;

	for (i = 0; i < 6; i++) {
		if (touch_range(start, len, 1)) {
			set_outcome(o, V_ERROR, "reading /proc/self/mem: %s", strerror(errno));
			return -1;
		}
		range_state(start, n, true, &st);
		if (st.referenced == n)
			return 0;
	}
	set_outcome(o, V_SKIP, "LRU state not observable: %zu of %zu pages REFERENCED, %zu ACTIVE "
		    "in /proc/kpageflags after marking them accessed%s", st.referenced, n,
		    st.active, pmd_mapped ? " (GUP marks a PMD-mapped THP young, not accessed)" : "");
	return -1;
}

/* what madvise() did to the parent's range: pages acted on, or -1 (the outcome says why) */
static long acted_on(char *start, size_t n, bool cold, struct outcome *o)
{
	struct state after;

	if (range_state(start, n, cold, &after)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	if (cold) {
		if (after.present != n) {
			set_outcome(o, V_ERROR, "%zu of %zu pages left memory after MADV_COLD", n - after.present, n);
			return -1;
		}
		return (long)(n - after.referenced);
	}
	if (after.swapped + after.present != n) {
		set_outcome(o, V_ERROR, "%zu of %zu pages neither present nor swapped", n - after.swapped - after.present, n);
		return -1;
	}
	return (long)after.swapped;
}

/*
 * madvise() the parent's range [start, start + len) of the folio l describes and judge what
 * happened, from both processes' pagemaps and the folio's flags: correct; missed (an exclusive
 * folio left alone); split (a shared folio split, only this process's pages acted on); wrong
 * (pages another process maps paged out or deactivated); inconclusive (the state was not what
 * the scenario needs). The evidence goes into a `# evidence:` line right before the result.
 * For MADV_COLD the pages are first marked accessed (PG_referenced), and acting on a page means
 * clearing it (MADV_COLD clears it on every folio it deactivates; nothing else clears it without
 * memory pressure).
 */
static void advise_and_judge(char *start, size_t len, bool cold, bool shared, const struct layout *l,
			     struct outcome *o)
{
	size_t n = len / pagesize, nf = l->size / pagesize, kid_pages;
	struct state before, kids0, kids1;
	struct counters c0, c1;
	char why[200], moved[300];
	long acted;
	size_t kid_acted;
	bool split;

	if (range_state(start, n, cold, &before)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return;
	}
	if (before.present != n) {
		set_outcome(o, V_ERROR, "only %zu of %zu pages present before madvise", before.present, n);
		return;
	}
	if (cold && mark_referenced(start, len, l->pmd == 1, o))
		return;
	if (layout_check(l, why, sizeof(why))) {
		set_outcome(o, V_INCONCLUSIVE, "%s", why);
		return;
	}
	kid_pages = l->nc * l->c_len / pagesize;
	children_state(l, cold, &kids0);
	counters_read(&c0, l->size);
	if (madvise(start, len, cold ? MADV_COLD : MADV_PAGEOUT)) {
		if (errno == EINVAL)
			set_outcome(o, V_SKIP, "madvise(%s) not supported", cold ? "MADV_COLD" : "MADV_PAGEOUT");
		else
			set_outcome(o, V_ERROR, "madvise(%s): %s", cold ? "MADV_COLD" : "MADV_PAGEOUT",
				    strerror(errno));
		return;
	}
	counters_read(&c1, l->size);
	children_state(l, cold, &kids1);
	acted = acted_on(start, n, cold, o);
	if (acted < 0)
		return;
	kid_acted = cold ? kids0.referenced - kids1.referenced : kids1.swapped;
	/* the folio cannot have been freed while a child still maps a page of it */
	split = nf > 1 && !folio_whole(l->pfn0, nf);
	counters_delta(&c0, &c1, l->size, moved, sizeof(moved));
	printf("# evidence: %zu kB folio at PFN %#llx (one folio, %s, %s) before madvise; after it: this process "
	       "%ld of %zu pages %s", l->size / 1024, (unsigned long long)l->pfn0, nf > 1 ? "on the LRU" : "small",
	       l->pmd == 1 ? "PMD-mapped" : "PTE-mapped", acted, n, cold ? "deactivated" : "paged out");
	if (l->nc)
		printf(", %s %zu of %zu pages %s", l->nc > 1 ? "the children" : "the child", kid_acted,
		       kid_pages, cold ? "deactivated" : "paged out");
	printf("; folio %s; %s\n", nf == 1 ? "small" : split ? "split or freed" : "still whole", moved);
	if (!kid_acted && split_failures(&c0, &c1) > 0 && (shared ? !acted : (size_t)acted != n)) {
		/* left alone because a split failed, not because of a sharing check */
		set_outcome(o, V_INCONCLUSIVE, "the kernel tried to split the folio and failed (%s)", moved);
		return;
	}
	if (shared) {
		if (kid_acted)
			set_outcome(o, V_WRONG, "%zu of %zu pages another process maps", kid_acted,
				    kid_pages);
		else if (acted && split)
			set_outcome(o, V_SPLIT, "%ld of %zu, the other process keeps its %zu", acted, n,
				    kid_pages);
		else if (acted)
			set_outcome(o, V_WRONG, "%ld of %zu pages of a folio another process maps", acted, n);
		else
			set_outcome(o, V_PASS, "");
	} else {
		if ((size_t)acted == n)
			set_outcome(o, V_PASS, "");
		else if (acted == 0)
			set_outcome(o, V_MISSED, "");
		else
			set_outcome(o, V_INCONCLUSIVE, "only %ld of %zu pages %s", acted, n,
				    cold ? "deactivated" : "paged out");
	}
}

/* a THP of `size` bytes at a size-aligned address, populated with data; NULL: o says why */
static char *make_thp(const struct scenario *s, size_t size, uint64_t *pfn, struct outcome *o)
{
	char *mem, msg[160];

	if (thp_select(s->how == COLLAPSE ? 0 : size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return NULL;
	}
	mem = map_aligned(size, size);
	if (!mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return NULL;
	}
	if (s->how != COLLAPSE)
		madvise(mem, size, MADV_HUGEPAGE);	/* direct compaction with defrag=madvise */
	fill(mem, size, (unsigned int)test_nr);
	if (s->how == COLLAPSE && madvise(mem, size, MADV_COLLAPSE)) {
		set_outcome(o, V_SKIP, "MADV_COLLAPSE: %s", strerror(errno));
		munmap(mem, size);
		return NULL;
	}
	if (check_thp(mem, size, pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (%s)", msg);
		munmap(mem, size);
		return NULL;
	}
	/* keep khugepaged from collapsing a PTE-mapped THP back while we look at it */
	madvise(mem, size, MADV_NOHUGEPAGE);
	return mem;
}

static void run_several(const struct scenario *s, size_t size, bool cold, struct outcome *o);

static void run_thp(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	struct child c[MAX_CHILDREN] = { { .pid = -1 }, { .pid = -1 } };
	struct layout l = { .size = size, .c = c, .pmd = -1 };
	char *mem, *start, *area = NULL, msg[160];
	size_t len, off, keep, keep_len;
	long kb;
	int k;

	if (s->how == SEVERAL) {
		run_several(s, size, cold, o);
		return;
	}
	mem = make_thp(s, size, &l.pfn0, o);
	if (!mem)
		return;
	if (size == pmdsize) {
		kb = smaps_anon_huge_kb(mem);
		if (s->pmd_mapped && kb < (long)(size / 1024)) {
			set_outcome(o, V_SKIP, "did not get a THP populated (not PMD-mapped: AnonHugePages %ld kB)", kb);
			goto out;
		}
		if (!s->pmd_mapped && s->how != STRADDLE) {
			if (pte_map(mem, size)) {
				set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
				goto out;
			}
			kb = smaps_anon_huge_kb(mem);
			if (kb != 0) {
				set_outcome(o, V_ERROR, "still PMD-mapped after a partial mprotect (AnonHugePages %ld kB)", kb);
				goto out;
			}
		}
		l.pmd = s->pmd_mapped;
	}
	if (s->how == STRADDLE) {
		/* move it so that a page-table boundary (a PMD-aligned address) cuts it in two */
		area = map_aligned(2 * pmdsize, pmdsize);
		if (!area) {
			set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
			goto out;
		}
		start = mremap(mem, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, area + pmdsize - size / 2);
		if (start == MAP_FAILED) {
			set_outcome(o, V_ERROR, "mremap: %s", strerror(errno));
			goto out;
		}
		mem = start;
		l.pmd = size == pmdsize ? 0 : -1;
	}
	l.mem = mem;
	part(s->child_unmap == FIRST ? SECOND : s->child_unmap == SECOND ? FIRST : NONE, size, &keep, &keep_len);
	for (k = 0; s->fork && k < (s->children ? s->children : 1); k++) {
		if (start_child(&c[k], mem, size, keep, keep_len, false, msg, sizeof(msg))) {
			set_outcome(o, V_ERROR, "%s", msg);
			goto out;
		}
		l.nc++;
	}
	l.c_off = keep;
	l.c_len = l.nc ? keep_len : 0;
	part(s->parent_unmap, size, &off, &len);
	if (s->parent_unmap != NONE && munmap(mem + off, len)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		goto out;
	}
	part(s->parent_unmap == FIRST ? SECOND : s->parent_unmap == SECOND ? FIRST : NONE, size, &l.p_off, &l.p_len);
	part(s->range, size, &off, &len);
	start = mem + off;
	advise_and_judge(start, len, cold, s->shared, &l, o);
out:
	for (k = 0; k < MAX_CHILDREN; k++)
		stop_child(&c[k]);
	if (area)
		munmap(area, 2 * pmdsize);
	else
		munmap(mem, size);
}

/*
 * Four THPs side by side in one page table; a child keeps only the second mapped. Expected: the
 * first, third and fourth paged out or deactivated, the second left alone. (Up to v6.9 the PTE
 * loop stops at the first shared large folio: the folios after it read missed.)
 */
static void run_several(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	size_t total = 4 * size, n = size / pagesize;
	struct child c = { .pid = -1 };
	struct layout l = { .size = size, .c = &c, .nc = 1, .pmd = -1 };
	struct counters c0, c1;
	struct state kids0, kids1;
	uint64_t pfn[4];
	char *mem, msg[200], moved[300];
	long acted[4];
	size_t missed = 0, partly = 0, kid_acted;
	int f;

	if (size * s->max_div > pmdsize) {
		set_outcome(o, V_SKIP, "four %zu kB THPs do not fit in one page table", size / 1024);
		return;
	}
	if (thp_select(size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return;
	}
	mem = map_aligned(total, total);
	if (!mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, total, MADV_HUGEPAGE);
	fill(mem, total, (unsigned int)test_nr);
	for (f = 0; f < 4; f++)
		if (check_thp(mem + f * size, size, &pfn[f], msg, sizeof(msg))) {
			set_outcome(o, V_SKIP, "did not get four THPs populated (%s)", msg);
			goto out;
		}
	madvise(mem, total, MADV_NOHUGEPAGE);
	if (start_child(&c, mem, total, size, size, false, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (cold && mark_referenced(mem, total, false, o))
		goto out;
	for (f = 0; f < 4; f++) {
		struct layout one = { .mem = mem + f * size, .size = size, .pfn0 = pfn[f], .p_len = size,
				      .c = &c, .nc = f == 1, .c_len = f == 1 ? size : 0, .pmd = -1 };

		if (layout_check(&one, msg, sizeof(msg))) {
			set_outcome(o, V_INCONCLUSIVE, "folio %d: %s", f + 1, msg);
			goto out;
		}
	}
	l.mem = mem;
	l.c_off = size;
	l.c_len = size;
	children_state(&l, cold, &kids0);
	counters_read(&c0, size);
	if (madvise(mem, total, cold ? MADV_COLD : MADV_PAGEOUT)) {
		set_outcome(o, V_ERROR, "madvise: %s", strerror(errno));
		goto out;
	}
	counters_read(&c1, size);
	children_state(&l, cold, &kids1);
	for (f = 0; f < 4; f++) {
		acted[f] = acted_on(mem + f * size, n, cold, o);
		if (acted[f] < 0)
			goto out;
		if (f != 1 && acted[f] == 0)
			missed++;
		else if (f != 1 && (size_t)acted[f] != n)
			partly++;
	}
	kid_acted = cold ? kids0.referenced - kids1.referenced : kids1.swapped;
	counters_delta(&c0, &c1, size, moved, sizeof(moved));
	printf("# evidence: four %zu kB folios at PFNs %#llx %#llx %#llx %#llx (each one folio, on the LRU); "
	       "after madvise: %s of each %ld, %ld, %ld, %ld of %zu, the child %zu of %zu; %s\n", size / 1024,
	       (unsigned long long)pfn[0], (unsigned long long)pfn[1], (unsigned long long)pfn[2],
	       (unsigned long long)pfn[3], cold ? "deactivated" : "paged out", acted[0], acted[1], acted[2],
	       acted[3], n, kid_acted, n, moved);
	if (!kid_acted && !acted[1] && (missed || partly) && split_failures(&c0, &c1) > 0)
		set_outcome(o, V_INCONCLUSIVE, "the kernel tried to split a folio and failed (%s)", moved);
	else if (kid_acted)
		set_outcome(o, V_WRONG, "%zu of %zu pages of the second folio, which the child maps", kid_acted, n);
	else if (acted[1])
		set_outcome(o, V_SPLIT, "%ld of %zu of the second folio, the child keeps its %zu", acted[1], n, n);
	else if (partly)
		set_outcome(o, V_INCONCLUSIVE, "exclusive folios only partly acted on");
	else if (missed)
		set_outcome(o, V_MISSED, "%zu of the 3 exclusive folios left alone", missed);
	else
		set_outcome(o, V_PASS, "");
out:
	stop_child(&c);
	munmap(mem, total);
}

static void run_small(bool shared, bool cold, struct outcome *o)
{
	struct child c = { .pid = -1 };
	struct layout l = { .size = pagesize, .p_len = pagesize, .c = &c, .pmd = -1 };
	char msg[160], *mem;

	mem = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, pagesize, MADV_NOHUGEPAGE);
	fill(mem, pagesize, (unsigned int)test_nr);
	if (check_small(mem, &l.pfn0, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	if (shared && start_child(&c, mem, pagesize, 0, pagesize, false, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	l.mem = mem;
	l.nc = shared;
	l.c_len = shared ? pagesize : 0;
	advise_and_judge(mem, pagesize, cold, shared, &l, o);
out:
	stop_child(&c);
	munmap(mem, pagesize);
}

/*
 * A KSM page shared with a child: the parent fills a mergeable page, the child
 * writes the same bytes into its copy (breaking COW), ksmd merges the two.
 */
static bool ksm_started;

static int ksm_start(char *msg, size_t len)
{
	if (ksm_started)
		return 0;
	if (knob_set(KSM_DIR "/sleep_millisecs", "10") || knob_set(KSM_DIR "/pages_to_scan", "1000") ||
	    knob_set(KSM_DIR "/run", "1")) {
		snprintf(msg, len, "cannot start ksmd through " KSM_DIR);
		return -1;
	}
	ksm_started = true;
	return 0;
}

static void run_ksm(bool cold, struct outcome *o)
{
	struct child c = { .pid = -1 };
	struct layout l = { .size = pagesize, .p_len = pagesize, .c = &c, .nc = 1, .c_len = pagesize, .pmd = -1 };
	char msg[160], *mem;
	struct timespec t0, t1;
	uint64_t pm, cpm, pfn;
	size_t i;

	if (access(KSM_DIR "/run", F_OK)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (no " KSM_DIR ")");
		return;
	}
	mem = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	madvise(mem, pagesize, MADV_NOHUGEPAGE);
	for (i = 0; i < pagesize; i++)	/* content no other page has */
		mem[i] = (char)(i * 7 + (i >> 8) + getpid() + (cold ? 3 : 5));
	if (madvise(mem, pagesize, MADV_MERGEABLE)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (MADV_MERGEABLE: %s)", strerror(errno));
		goto out;
	}
	if (check_small(mem, &pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	/* the child writes a byte of its page with the value it has: a COW copy with the same bytes */
	if (start_child(&c, mem, pagesize, 0, pagesize, true, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (ksm_start(msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	/*
	 * Merged when the parent and the child map the same PFN (the KPF_KSM bit
	 * cannot tell: at v6.12 /proc/kpageflags sets it for every anon page).
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (pagemap_read(mem, 1, &pm) == 0 && (pm & PM_PRESENT) && pagemap_of(c.pid, mem, 1, &cpm) == 0 &&
		    (cpm & PM_PRESENT) && (pm & PM_PFN_MASK) == (cpm & PM_PFN_MASK))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (elapsed_ms(&t0, &t1) > KSM_WAIT_MS) {
			set_outcome(o, V_SKIP, "ksmd did not merge the pages within %d s (pages_shared %ld)",
				    KSM_WAIT_MS / 1000, read_long(KSM_DIR "/pages_shared"));
			goto out;
		}
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# ksmd merged the pages in %.0f ms (pages_shared %ld, pages_sharing %ld)\n",
	       elapsed_ms(&t0, &t1), read_long(KSM_DIR "/pages_shared"), read_long(KSM_DIR "/pages_sharing"));
	l.mem = mem;
	l.pfn0 = pm & PM_PFN_MASK;
	advise_and_judge(mem, pagesize, cold, true, &l, o);
out:
	stop_child(&c);
	munmap(mem, pagesize);
}

/* ---------------------------------------------------------------- cost */

/* the THPs of [mem, mem + len) whose head page is REFERENCED and ACTIVE */
static void thp_flags(const char *mem, size_t len, size_t *referenced, size_t *active)
{
	*referenced = *active = 0;
	for (size_t off = 0; off < len; off += pmdsize) {
		uint64_t pm;

		if (pagemap_read(mem + off, 1, &pm) == 0 && (pm & PM_PRESENT)) {
			uint64_t fl = folio_flags(pm & PM_PFN_MASK);

			*referenced += !!(fl & F_REFERENCED);
			*active += !!(fl & F_ACTIVE);
		}
	}
}

/* len bytes of PMD-sized THPs, PTE-mapped, each made active and referenced; NULL on failure */
static char *cost_region(size_t len, const char *what)
{
	size_t thps;
	char *mem;
	long kb;

	mem = map_aligned(len, pmdsize);
	if (!mem) {
		printf("# cost: mmap of %zu MiB failed: %s\n", len >> 20, strerror(errno));
		return NULL;
	}
	madvise(mem, len, MADV_HUGEPAGE);
	fill(mem, len, 1);
	kb = smaps_anon_huge_kb(mem);
	thps = kb > 0 ? (size_t)kb * 1024 / pmdsize : 0;
	madvise(mem, len, MADV_NOHUGEPAGE);
	if (pte_map(mem, len)) {
		printf("# cost: mprotect failed: %s\n", strerror(errno));
		munmap(mem, len);
		return NULL;
	}
	kb = smaps_anon_huge_kb(mem);
	/* make every THP active and referenced, so that MADV_COLD has work to do */
	for (size_t off = 0; off < len; off += pmdsize)
		touch_range(mem + off, pagesize, 3);
	printf("# cost region %s: %zu MiB, %zu of %zu PMD-sized THPs populated, PTE-mapped (AnonHugePages now %ld kB)\n",
	       what, len >> 20, thps, len / pmdsize, kb);
	return mem;
}

static double timed_advice(char *mem, size_t len, int advice, const char *name)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (madvise(mem, len, advice))
		printf("# cost: madvise(%s): %s\n", name, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return elapsed_ms(&t0, &t1);
}

/*
 * The whole call: MADV_COLD then MADV_PAGEOUT over an exclusive region, whose time is mostly the
 * work that follows the decision (deactivation, reclaim) and so differs as much by what a variant
 * does as by what its helper costs. Then the decision alone: the same over a region a child maps
 * too, which every variant leaves alone, so the time is the walk and the sharing checks.
 */
static void run_cost(void)
{
	const char *env = getenv("PROBE_COST_MB");
	long mb = env && *env ? strtol(env, NULL, 10) : DEFAULT_COST_MB;
	size_t len, n, referenced, active, referenced0, active0;
	double cold_ms, pageout_ms;
	struct counters c0, c1;
	char msg[200], moved[300];
	struct child child;
	struct state st;
	char *mem;

	if (mb <= 0 || !have_thp)
		return;
	len = ((size_t)mb << 20) / pmdsize * pmdsize;
	if (!len)
		return;
	n = len / pagesize;
	if (thp_select(pmdsize)) {
		printf("# cost: cannot set the THP knobs\n");
		return;
	}
	mem = cost_region(len, "(exclusive)");
	if (!mem)
		return;
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	printf("# cost region after MADV_COLD: %zu of %zu THPs still REFERENCED, %zu ACTIVE (before: %zu, %zu)\n",
	       referenced, len / pmdsize, active, referenced0, active0);
	counters_read(&c0, pmdsize);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	counters_read(&c1, pmdsize);
	counters_delta(&c0, &c1, pmdsize, moved, sizeof(moved));
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region after MADV_PAGEOUT: %zu of %zu pages paged out; %s\n", st.swapped, n, moved);
	zram_stat("holding the cost region");
	printf("# [COST] MADV_COLD %zu MiB PTE-mapped THP (%zu kB): %.3f ms\n", len >> 20, pmdsize / 1024, cold_ms);
	printf("# [COST] MADV_PAGEOUT %zu MiB PTE-mapped THP (%zu kB): %.3f ms\n", len >> 20, pmdsize / 1024,
	       pageout_ms);
	fflush(stdout);
	munmap(mem, len);

	mem = cost_region(len, "(shared with a child)");
	if (!mem)
		return;
	if (start_child(&child, mem, len, 0, len, false, msg, sizeof(msg))) {
		printf("# cost: %s\n", msg);
		stop_child(&child);
		munmap(mem, len);
		return;
	}
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region (shared) after MADV_COLD and MADV_PAGEOUT: %zu of %zu THPs still REFERENCED "
		       "(before: %zu), %zu of %zu pages paged out%s\n", referenced, len / pmdsize, referenced0,
		       st.swapped, n, st.swapped || referenced < referenced0 ?
		       ": the variant acted on shared folios, so these times are not the decision alone" : "");
	printf("# [COST] decision only: MADV_COLD %zu MiB PTE-mapped THP shared with a child (%zu kB): %.3f ms\n",
	       len >> 20, pmdsize / 1024, cold_ms);
	printf("# [COST] decision only: MADV_PAGEOUT %zu MiB PTE-mapped THP shared with a child (%zu kB): %.3f ms\n",
	       len >> 20, pmdsize / 1024, pageout_ms);
	fflush(stdout);
	stop_child(&child);
	munmap(mem, len);
}

/* ---------------------------------------------------------------- main */

struct plan_entry {
	enum kind kind;
	const struct scenario *s;	/* K_THP */
	size_t size;
	bool cold;
	bool shared;			/* K_SMALL */
};

static struct plan_entry plan[400];
static int nplan;

static void add(enum kind kind, const struct scenario *s, size_t size, bool cold, bool shared)
{
	if (nplan < (int)(sizeof(plan) / sizeof(plan[0])))
		plan[nplan++] = (struct plan_entry){ kind, s, size, cold, shared };
}

static void make_plan(void)
{
	int i, j, c;

	if (have_thp) {
		/* the PMD size first, then every other mTHP size, ascending */
		size_t sizes[25];
		int nsizes = thp_sizes(sizes);

		for (j = 0; j < nsizes; j++)
			for (c = 0; c < 2; c++)
				for (i = 0; i < NR_THP_SCENARIOS; i++) {
					const struct scenario *s = &thp_scenarios[i];

					if (s->pmd_only && sizes[j] != pmdsize)
						continue;
					if (s->how == SEVERAL && sizes[j] * s->max_div > pmdsize)
						continue;
					if (c && !s->cold)
						continue;
					add(K_THP, s, sizes[j], c, s->shared);
				}
	}
	for (c = 0; c < 2; c++) {
		add(K_SMALL, NULL, pagesize, c, false);
		add(K_SMALL, NULL, pagesize, c, true);
	}
	add(K_KSM, NULL, pagesize, false, true);
	add(K_KSM, NULL, pagesize, true, true);
}

int main(void)
{
	struct outcome o;
	char name[200];
	int i;
	long swap_kb;
	struct timespec t_end;

	probe_start();
	if (geteuid() != 0) {
		printf("1..0 # SKIP Please run this test as root (PFNs in pagemap, /proc/kpageflags, sysfs knobs)\n");
		return 4;
	}
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	mem_fd = open("/proc/self/mem", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0 || mem_fd < 0) {
		printf("1..0 # SKIP cannot open /proc/self/pagemap, /proc/kpageflags or /proc/self/mem "
		       "(CONFIG_PROC_PAGE_MONITOR?)\n");
		return 4;
	}
	swap_kb = swap_total_kb();
	if (swap_kb <= 0) {
		printf("1..0 # SKIP no swap: MADV_PAGEOUT cannot page anything out\n");
		return 4;
	}

	atexit(knobs_restore);
	catch_signals(on_signal);

	pin_cpu();
	detect_thp();
	make_plan();
	printf("1..%d\n", nplan);
	printf("# page size %zu, PMD THP size %zu kB, %d THP sizes with their own knob, swap %ld kB\n",
	       pagesize, have_thp ? pmdsize / 1024 : 0, nthp, swap_kb);

	for (i = 0; i < nplan; i++) {
		struct plan_entry *p = &plan[i];

		memset(&o, 0, sizeof(o));
		if (p->kind == K_THP)
			case_name(name, sizeof(name), p->cold, p->s->text, p->size);
		else if (p->kind == K_SMALL)
			case_name(name, sizeof(name), p->cold,
				  p->shared ? "small page shared with a child" : "exclusive small page", p->size);
		else
			case_name(name, sizeof(name), p->cold, "KSM page shared with a child", p->size);
		tap_run(name);
		if (p->kind == K_THP)
			run_thp(p->s, p->size, p->cold, &o);
		else if (p->kind == K_SMALL)
			run_small(p->shared, p->cold, &o);
		else
			run_ksm(p->cold, &o);
		end_case(name, p->cold, &o);
	}
	knobs_restore();

	run_cost();
	knobs_restore();

	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe ran on CPU %d at the end, took %.1f s\n", sched_getcpu(), elapsed_ms(&t_start, &t_end) / 1000);
	return tap_totals(nplan);
}

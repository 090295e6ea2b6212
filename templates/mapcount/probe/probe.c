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
 * Every scenario (a row of `scenarios` below): set the memory up (fork()ed
 * children keep their part mapped and touch nothing), call madvise() from the
 * parent only (MM_ID's rows: process_madvise() on the one child left), then
 * read from both processes' pagemaps (bit 62 swapped, bit 63 present) which
 * pages left memory, or from /proc/kpageflags (via the PFN) whether MADV_COLD
 * cleared PG_referenced. Expected: an exclusive folio is paged out or
 * deactivated; a folio another process maps is left alone. Shmem THPs (a
 * MAP_SHARED anonymous mapping) are PMD- or PTE-mapped, at every size the
 * kernel offers for shmem.
 *
 * Prints kselftest TAP 13 with a verdict token on every result line that is
 * not a plain `ok` (see ../../probe-common/probe_common.h, which it shares
 * with the other studies' probes), exits with kselftest's KSFT_* codes, must
 * be run as root with swap enabled. Environment: PROBE_COST_MB (default 256;
 * 0 turns the cost measurement off).
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o probe -isystem <kernel build>/usr/include probe.c
 */
#define _GNU_SOURCE
/* the /proc/vmstat counters that tell what the kernel did during one madvise() */
#define PROBE_VMSTAT "thp_split_page", "thp_split_page_failed", "thp_swpout", \
		     "thp_swpout_fallback", "pswpout", "pgdeactivate"
#define VM_SPLIT_FAILED	1	/* thp_split_page_failed in PROBE_VMSTAT */
#define MTHP_SPLIT_FAILED 1	/* split_failed in the per-size stats */
#include "../../probe-common/probe_common.h"

#include <sys/syscall.h>
#include <sys/uio.h>

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
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434		/* x86_64 */
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440	/* x86_64 */
#endif

/* a folio's LRU state, kept in its head page's flags (see folio_flags()) */
#define F_FOLIO_BITS	(F_REFERENCED | F_LRU | F_ACTIVE)

#define KSM_DIR		"/sys/kernel/mm/ksm"
#define DEFAULT_COST_MB	256
#define KSM_WAIT_MS	20000
#define MAX_CHILDREN	2

static int mem_fd = -1;

/* what a verdict means, in a result line, per advice */
static const char *const pageout_text[NR_VERDICTS] = {
	[V_MISSED] = "treated exclusive as shared (missed pageout)",
	[V_SPLIT] = "split a shared folio, paged out only this process's pages",
	[V_WRONG] = "treated shared as exclusive (paged out pages another process maps)",
};

static const char *const cold_text[NR_VERDICTS] = {
	[V_MISSED] = "treated exclusive as shared (missed deactivation)",
	[V_SPLIT] = "split a shared folio, deactivated only this process's pages",
	[V_WRONG] = "treated shared as exclusive (deactivated pages another process maps)",
};

/* ---------------------------------------------------------------- scenarios */

/* a part of a folio: all of it (or, for what is unmapped, nothing), a half, or from a quarter on */
enum half { NONE, FIRST, SECOND, FROM_QUARTER };

/* anonymous THP, small page, KSM page; a shmem THP (a MAP_SHARED anonymous mapping: tmpfs) */
enum shape { THP, SMALL, KSM, SHMEM };

/* how a THP is made: faulted in, by MADV_COLLAPSE, mremap()ed across two page tables, or four */
enum make { FAULT, COLLAPSE, STRADDLE, SEVERAL };

struct scenario {
	const char *text;
	enum shape shape;
	bool pmd_only;		/* the PMD size only */
	bool pmd_mapped;	/* the parent maps the THP by a PMD (else its PMD is split first) */
	int children;		/* fork()ed children that share it */
	enum half child_unmaps;	/* what each child unmaps before the parent acts */
	enum half parent_unmaps; /* what the parent unmaps before it acts */
	enum half advised;	/* what the parent advises (NONE: all it maps) */
	bool shared;		/* expected: another process maps the folio, so it is left alone */
	bool cold;		/* also run with MADV_COLD */
	enum make make;
	size_t max_div;		/* SEVERAL: for sizes up to the PMD size / max_div */
	bool last_of_three;	/* mapped by three processes, then by the last alone: it advises */
};

static const struct scenario scenarios[] = {
	{ .text = "exclusive PMD-mapped THP", .pmd_only = true, .pmd_mapped = true, .cold = true },
	{ .text = "exclusive PTE-mapped THP", .cold = true },
	{ .text = "PTE-mapped THP, first half unmapped", .parent_unmaps = FIRST, .advised = SECOND,
	  .cold = true },
	{ .text = "PTE-mapped THP, second half unmapped", .parent_unmaps = SECOND, .advised = FIRST,
	  .cold = true },
	{ .text = "PMD-mapped THP shared with a child", .pmd_only = true, .pmd_mapped = true,
	  .children = 1, .shared = true },
	{ .text = "PTE-mapped THP shared with a child", .children = 1, .shared = true,
	  .cold = true },
	{ .text = "PMD-mapped THP partly shared, child keeps first half", .pmd_only = true,
	  .pmd_mapped = true, .children = 1, .child_unmaps = SECOND, .shared = true },
	{ .text = "PMD-mapped THP partly shared, child keeps second half", .pmd_only = true,
	  .pmd_mapped = true, .children = 1, .child_unmaps = FIRST, .shared = true },
	{ .text = "PTE-mapped THP partly shared, child keeps first half", .children = 1,
	  .child_unmaps = SECOND, .shared = true, .cold = true },
	{ .text = "PTE-mapped THP partly shared, child keeps second half", .children = 1,
	  .child_unmaps = FIRST, .shared = true, .cold = true },
	{ .text = "THP mapped in disjoint halves, parent first, child second", .children = 1,
	  .child_unmaps = FIRST, .parent_unmaps = SECOND, .advised = FIRST, .shared = true,
	  .cold = true },
	{ .text = "exclusive PMD-mapped THP, first half advised", .pmd_only = true,
	  .pmd_mapped = true, .advised = FIRST },
	{ .text = "PMD-mapped THP shared with a child, first half advised", .pmd_only = true,
	  .pmd_mapped = true, .children = 1, .advised = FIRST, .shared = true },
	{ .text = "exclusive PTE-mapped THP advised from a quarter in", .advised = FROM_QUARTER,
	  .cold = true },
	{ .text = "PTE-mapped THP shared with two children", .children = 2, .shared = true,
	  .cold = true },
	{ .text = "exclusive THP made by MADV_COLLAPSE", .pmd_only = true, .pmd_mapped = true,
	  .make = COLLAPSE },
	{ .text = "THP made by MADV_COLLAPSE, shared with a child", .pmd_only = true,
	  .pmd_mapped = true, .children = 1, .shared = true, .make = COLLAPSE },
	{ .text = "exclusive THP mremap()ed across two page tables", .cold = true,
	  .make = STRADDLE },
	{ .text = "four THPs in one page table, a child maps the second", .children = 1,
	  .shared = true, .cold = true, .make = SEVERAL, .max_div = 4 },
	{ .text = "PMD-mapped THP once mapped by three processes, now by one", .pmd_only = true,
	  .pmd_mapped = true, .last_of_three = true },
	{ .text = "PTE-mapped THP once mapped by three processes, now by one",
	  .last_of_three = true },
	{ .text = "PTE-mapped THP once mapped by three processes, now by one, advised from a "
	  "quarter in", .advised = FROM_QUARTER, .last_of_three = true },
	{ .text = "exclusive small page", .shape = SMALL, .cold = true },
	{ .text = "small page shared with a child", .shape = SMALL, .children = 1, .shared = true,
	  .cold = true },
	{ .text = "KSM page shared with a child", .shape = KSM, .children = 1, .shared = true,
	  .cold = true },
	{ .text = "exclusive PMD-mapped shmem THP", .shape = SHMEM, .pmd_only = true,
	  .pmd_mapped = true },
	{ .text = "PMD-mapped shmem THP shared with a child", .shape = SHMEM, .pmd_only = true,
	  .pmd_mapped = true, .children = 1, .shared = true },
	{ .text = "exclusive PTE-mapped shmem THP", .shape = SHMEM },
	{ .text = "PTE-mapped shmem THP shared with a child", .shape = SHMEM, .children = 1,
	  .shared = true },
};

#define NR_SCENARIOS (int)(sizeof(scenarios) / sizeof(scenarios[0]))

/* [off, off + len) of a folio of `size` bytes: the part `h` of it, or all of it */
static void part(enum half h, size_t size, size_t *off, size_t *len)
{
	*off = h == SECOND ? size / 2 : h == FROM_QUARTER ? size / 4 : 0;
	*len = h == NONE ? size : h == FROM_QUARTER ? size - size / 4 : size / 2;
}

/* the other half (FIRST <-> SECOND), or all of it */
static enum half other_half(enum half h)
{
	return h == FIRST ? SECOND : h == SECOND ? FIRST : NONE;
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

/*
 * a field of /proc/PID/smaps ("AnonHugePages") in kB for the VMA containing addr, -1 if none;
 * pid 0: this process
 */
static long smaps_kb_of(pid_t pid, const void *addr, const char *field)
{
	char line[512];
	FILE *f;
	unsigned long start, end, a = (unsigned long)addr;
	bool in = false;
	long kb = -1;

	if (pid)
		snprintf(line, sizeof(line), "/proc/%d/smaps", (int)pid);
	else
		snprintf(line, sizeof(line), "/proc/self/smaps");
	f = fopen(line, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		/* a VMA's header: "start-end perms offset dev inode path"; no field parses so */
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start <= a && a < end;
			continue;
		}
		if (in && !strncmp(line, field, strlen(field)) && line[strlen(field)] == ':') {
			kb = strtol(line + strlen(field) + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kb;
}

static long smaps_kb(const void *addr, const char *field)
{
	return smaps_kb_of(0, addr, field);
}

static long smaps_anon_huge_kb(const void *addr)
{
	return smaps_kb(addr, "AnonHugePages");
}

/* how far the splits that failed moved (the kernel tried to split a folio and gave up) */
static long split_failures(const struct counters *a, const struct counters *b)
{
	return moved_by(a->vm[VM_SPLIT_FAILED], b->vm[VM_SPLIT_FAILED]) +
	       moved_by(a->mthp[MTHP_SPLIT_FAILED], b->mthp[MTHP_SPLIT_FAILED]);
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
	    sscanf(buf, "%lld %lld %lld %lld %lld %lld", &orig, &compr, &used, &limit, &max,
		   &same) != 6) {
		printf("# zram %s: no /sys/block/zram0/mm_stat\n", when);
		return;
	}
	printf("# zram %s: %lld kB stored in %lld kB (ratio %.2f:1), %lld same-filled pages\n",
	       when, orig >> 10, compr >> 10, compr ? (double)orig / (double)compr : 0.0, same);
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

/* pages present / swapped / still PG_referenced / PG_active in a range of a process */
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

/* ---------------------------------------------------------------- children */

struct child {
	pid_t pid;
	int ready, go;	/* parent's ends of the pipes */
};

/*
 * What a child does to the pages it keeps: nothing (fork() copied the parent's page tables),
 * rewrite the first byte (KSM: break COW, so that the child has its own page with the same
 * bytes), or read each page (shmem: fork() copies no page tables of a shared mapping, so the
 * child maps the folio by faulting it in)
 */
enum touch { UNTOUCHED, REWRITE, READ };

/* in a child: keep [keep, keep + keep_len) of [mem, mem + size) mapped, say so, wait, exit */
static void child_main(int ready, int go, char *mem, size_t size, size_t keep, size_t keep_len,
		       enum touch touch)
{
	char ch = 'r';
	size_t off;

	if (keep && munmap(mem, keep))
		ch = 'u';
	if (keep + keep_len < size && munmap(mem + keep + keep_len, size - keep - keep_len))
		ch = 'u';
	if (touch == REWRITE)
		*(volatile char *)mem = *(volatile char *)mem;
	for (off = keep; touch == READ && off < keep + keep_len; off += pagesize)
		(void)*(volatile char *)(mem + off);
	if (write(ready, &ch, 1) != 1)
		_exit(1);
	while (read(go, &ch, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/*
 * fork a child that keeps only [mem + keep, mem + keep + keep_len) of [mem, mem + size) mapped,
 * says so, and waits; 0 on success
 */
static int start_child(struct child *c, char *mem, size_t size, size_t keep, size_t keep_len,
		       enum touch touch, char *msg, size_t len)
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
		child_main(ready[1], go[0], mem, size, keep, keep_len, touch);
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

/* ---------------------------------------------------------------- the state before madvise */

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
	bool shmem;	/* acted on: unmapped (shmem pages in swap leave no swap entry in a PTE) */
	pid_t owner;	/* maps [p_off, p_off + p_len) and advises: 0 this process, else a child */
};

/* the process that advises, in a message */
static const char *advising(const struct layout *l)
{
	return l->owner ? "the advising child" : "the parent";
}

/* 0: process k (-1 the parent) maps the pages of the folio it should; else why not */
static int mapped_as_needed(const struct layout *l, int k, uint64_t *pm, char *msg, size_t len)
{
	pid_t pid = k < 0 ? l->owner : l->c[k].pid;
	size_t off = k < 0 ? l->p_off : l->c_off, i;
	size_t cnt = (k < 0 ? l->p_len : l->c_len) / pagesize;
	const char *who = k < 0 ? advising(l) : "the child";

	if (pagemap_of(pid, l->mem + off, cnt, pm)) {
		snprintf(msg, len, "cannot read the pagemap of %s", who);
		return 1;
	}
	for (i = 0; i < cnt; i++) {
		uint64_t want = l->pfn0 + off / pagesize + i;

		if (!(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN_MASK) != want) {
			snprintf(msg, len, "page %zu of the folio is not mapped by %s as the "
				 "scenario needs", off / pagesize + i, who);
			return 1;
		}
	}
	return 0;
}

/* 0: the state is what the scenario needs; else why not (an inconclusive case) */
static int layout_check(const struct layout *l, char *msg, size_t len)
{
	const char *field = l->shmem ? "ShmemPmdMapped" : "AnonHugePages";
	size_t n = l->size / pagesize;
	uint64_t *pm = calloc(n, sizeof(uint64_t));
	int k, ret = 1;
	long kb;

	if (!pm) {
		snprintf(msg, len, "out of memory");
		return 1;
	}
	if (!folio_whole(l->pfn0, n)) {
		snprintf(msg, len, "the %zu kB folio was no longer one folio before madvise (split "
			 "meanwhile)", l->size / 1024);
		goto out;
	}
	if (n > 1 && !(kpf(l->pfn0) & F_LRU)) {
		snprintf(msg, len, "the folio was not on the LRU before madvise");
		goto out;
	}
	for (k = -1; k < l->nc; k++)
		if (mapped_as_needed(l, k, pm, msg, len))
			goto out;
	if (l->pmd >= 0) {
		kb = smaps_kb_of(l->owner, l->mem + l->p_off, field);
		if (l->pmd ? kb < (long)(l->size / 1024) : kb != 0) {
			snprintf(msg, len, "%s does not map the folio by %s (%s %ld kB)",
				 advising(l), l->pmd ? "a PMD" : "PTEs", field, kb);
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
		    st.active,
		    pmd_mapped ? " (GUP marks a PMD-mapped THP young, not accessed)" : "");
	return -1;
}

/* ---------------------------------------------------------------- madvise and the verdict */

/*
 * what madvise() did to the parent's range: pages acted on, or -1 (the outcome says why). A shmem
 * page reclaimed leaves no swap entry in the PTE, only an empty one: acted on is unmapped.
 */
static long acted_on(pid_t pid, char *start, size_t n, bool cold, bool shmem, struct outcome *o)
{
	struct state after;

	if (state_of(pid, start, n, cold, &after)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	if (shmem && !cold)
		return (long)(n - after.present);
	if (cold) {
		if (after.present != n) {
			set_outcome(o, V_ERROR, "%zu of %zu pages left memory after MADV_COLD",
				    n - after.present, n);
			return -1;
		}
		return (long)(n - after.referenced);
	}
	if (after.swapped + after.present != n) {
		set_outcome(o, V_ERROR, "%zu of %zu pages neither present nor swapped",
			    n - after.swapped - after.present, n);
		return -1;
	}
	return (long)after.swapped;
}

/* what one madvise() did, seen from both processes */
struct seen {
	long acted;		/* the parent's pages acted on */
	size_t kid_acted;	/* the children's pages acted on */
	size_t kid_pages;	/* the children's pages of the folio */
	bool split;		/* the folio is no longer whole */
	long split_failed;	/* splits the kernel tried and gave up */
	char moved[300];	/* the counters that moved */
};

/*
 * The children's pages acted on, from their state before and after: swapped out, or (MADV_COLD)
 * no longer REFERENCED. A page the call left alone may be marked again meanwhile: then fewer()
 * says 0, never an unsigned underflow that would read as "wrong deactivation".
 */
static size_t kids_acted(const struct state *before, const struct state *after, bool cold,
			 bool shmem)
{
	if (cold)
		return fewer(before->referenced, after->referenced);
	return shmem ? fewer(before->present, after->present) : after->swapped;
}

/* 0: the state before madvise is what the scenario needs; else the outcome says why not */
static int ready_to_advise(char *start, size_t len, bool cold, const struct layout *l,
			   struct outcome *o)
{
	struct state before;
	char why[200];

	if (state_of(l->owner, start, len / pagesize, cold, &before)) {
		set_outcome(o, V_ERROR, "cannot read pagemap");
		return -1;
	}
	if (before.present != len / pagesize) {
		set_outcome(o, V_ERROR, "only %zu of %zu pages present before madvise",
			    before.present, len / pagesize);
		return -1;
	}
	if (cold && mark_referenced(start, len, l->pmd == 1, o))
		return -1;
	if (layout_check(l, why, sizeof(why))) {
		set_outcome(o, V_INCONCLUSIVE, "%s", why);
		return -1;
	}
	return 0;
}

/*
 * madvise() of [start, start + len) in process pid (0: this one; else process_madvise() through a
 * pidfd, which walks that process's page tables with the same functions); 0, or -1 (errno)
 */
static int advise_range(pid_t pid, char *start, size_t len, int advice)
{
	struct iovec iov = { .iov_base = start, .iov_len = len };
	long pidfd, ret;

	if (!pid)
		return madvise(start, len, advice);
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -1;
	ret = syscall(__NR_process_madvise, (int)pidfd, &iov, 1UL, advice, 0U);
	close((int)pidfd);
	if (ret >= 0 && ret != (long)len)
		errno = EIO;
	return ret == (long)len ? 0 : -1;
}

/* madvise() the advising process's range and see what it did; 0, or -1 (the outcome says why) */
static int advise(char *start, size_t len, bool cold, const struct layout *l, struct seen *s,
		  struct outcome *o)
{
	const char *advice = cold ? "MADV_COLD" : "MADV_PAGEOUT";
	const char *call = l->owner ? "process_madvise" : "madvise";
	struct state kids0, kids1;
	struct counters c0, c1;

	children_state(l, cold, &kids0);
	counters_read(&c0, l->size);
	if (advise_range(l->owner, start, len, cold ? MADV_COLD : MADV_PAGEOUT)) {
		if (errno == EINVAL || errno == ENOSYS)
			set_outcome(o, V_SKIP, "%s(%s) not supported", call, advice);
		else
			set_outcome(o, V_ERROR, "%s(%s): %s", call, advice, strerror(errno));
		return -1;
	}
	counters_read(&c1, l->size);
	children_state(l, cold, &kids1);
	s->acted = acted_on(l->owner, start, len / pagesize, cold, l->shmem, o);
	if (s->acted < 0)
		return -1;
	s->kid_acted = kids_acted(&kids0, &kids1, cold, l->shmem);
	s->kid_pages = l->nc * l->c_len / pagesize;
	/* the folio cannot have been freed while a child still maps a page of it */
	s->split = l->size > pagesize && !folio_whole(l->pfn0, l->size / pagesize);
	s->split_failed = split_failures(&c0, &c1);
	counters_delta(&c0, &c1, l->size, s->moved, sizeof(s->moved));
	return 0;
}

/* `# evidence:` both processes' pages before and after, the folio, the counters that moved */
static void print_evidence(const struct layout *l, size_t n, bool cold, const struct seen *s)
{
	size_t nf = l->size / pagesize;
	const char *did = cold ? "deactivated" : l->shmem ? "unmapped by reclaim" : "paged out";

	if (l->owner)
		printf("# evidence: mapped by this process and two children (one MM more than "
		       "a folio's two MM_ID slots), then unmapped by this process and the first "
		       "child; ");
	else
		printf("# evidence: ");
	printf("%zu kB %sfolio at PFN %#llx (one folio, %s, %s) before madvise; after it: %s %ld "
	       "of %zu pages %s", l->size / 1024, l->shmem ? "shmem " : "",
	       (unsigned long long)l->pfn0, nf > 1 ? "on the LRU" : "small",
	       l->pmd == 1 ? "PMD-mapped" : "PTE-mapped",
	       l->owner ? "the second child, which maps it alone and advised it," : "this process",
	       s->acted, n, did);
	if (l->nc)
		printf(", %s %zu of %zu pages %s", l->nc > 1 ? "the children" : "the child",
		       s->kid_acted, s->kid_pages, did);
	printf("; folio %s; %s\n", nf == 1 ? "small" : s->split ? "split or freed" : "still whole",
	       s->moved);
}

/*
 * The verdict: correct; missed (an exclusive folio left alone); split (a shared folio split,
 * only this process's pages acted on); wrong (pages another process maps acted on);
 * inconclusive (an exclusive range acted on in part, or left alone after a split that failed).
 */
static void judge(bool shared, size_t n, bool cold, const struct seen *s, struct outcome *o)
{
	size_t acted = (size_t)s->acted;

	if (!s->kid_acted && s->split_failed > 0 && (shared ? !acted : acted != n))
		/* left alone because a split failed, not because of a sharing check */
		set_outcome(o, V_INCONCLUSIVE, "the kernel tried to split the folio and failed "
			    "(%s)", s->moved);
	else if (shared && s->kid_acted)
		set_outcome(o, V_WRONG, "%zu of %zu pages another process maps", s->kid_acted,
			    s->kid_pages);
	else if (shared && acted && s->split)
		set_outcome(o, V_SPLIT, "%zu of %zu, the other process keeps its %zu", acted, n,
			    s->kid_pages);
	else if (shared && acted)
		set_outcome(o, V_WRONG, "%zu of %zu pages of a folio another process maps", acted,
			    n);
	else if (shared || acted == n)
		set_outcome(o, V_PASS, "%s", "");
	else if (!acted)
		set_outcome(o, V_MISSED, "%s", "");
	else
		set_outcome(o, V_INCONCLUSIVE, "only %zu of %zu pages %s", acted, n,
			    cold ? "deactivated" : "paged out");
}

/*
 * madvise() the parent's range [start, start + len) of the folio l describes and judge what
 * happened, from both processes' pagemaps and the folio's flags. For MADV_COLD the pages are first
 * marked accessed (PG_referenced), and acting on a page means clearing it (MADV_COLD clears it on
 * every folio it deactivates; nothing else clears it without memory pressure).
 */
static void advise_and_judge(char *start, size_t len, bool cold, bool shared,
			     const struct layout *l, struct outcome *o)
{
	struct seen s = { 0 };

	if (ready_to_advise(start, len, cold, l, o) || advise(start, len, cold, l, &s, o))
		return;
	print_evidence(l, len / pagesize, cold, &s);
	judge(shared, len / pagesize, cold, &s, o);
}

/* ---------------------------------------------------------------- THP scenarios */

/* a THP of `size` bytes at a size-aligned address, populated with data; NULL: o says why */
static char *make_thp(const struct scenario *s, size_t size, uint64_t *pfn, struct outcome *o)
{
	char *mem, msg[160];

	if (thp_select(s->make == COLLAPSE ? 0 : size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return NULL;
	}
	mem = map_aligned(size, size);
	if (!mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return NULL;
	}
	if (s->make != COLLAPSE)
		madvise(mem, size, MADV_HUGEPAGE);	/* direct compaction with defrag=madvise */
	fill(mem, size, (unsigned int)test_nr);
	if (s->make == COLLAPSE && madvise(mem, size, MADV_COLLAPSE)) {
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

/* a PMD-sized THP mapped by a PMD or by PTEs, as the scenario says; 0, or -1 (o says why) */
static int map_as_needed(const struct scenario *s, char *mem, size_t size, struct layout *l,
			 struct outcome *o)
{
	long kb;

	if (size != pmdsize)
		return 0;
	kb = smaps_anon_huge_kb(mem);
	if (s->pmd_mapped && kb < (long)(size / 1024)) {
		set_outcome(o, V_SKIP, "did not get a THP populated (not PMD-mapped: AnonHugePages "
			    "%ld kB)", kb);
		return -1;
	}
	if (!s->pmd_mapped && s->make != STRADDLE) {
		if (pte_map(mem, size)) {
			set_outcome(o, V_ERROR, "mprotect: %s", strerror(errno));
			return -1;
		}
		kb = smaps_anon_huge_kb(mem);
		if (kb != 0) {
			set_outcome(o, V_ERROR, "still PMD-mapped after a partial mprotect "
				    "(AnonHugePages %ld kB)", kb);
			return -1;
		}
	}
	l->pmd = s->pmd_mapped;
	return 0;
}

/* move the THP so that a page-table boundary (a PMD-aligned address) cuts it in two */
static char *straddle(char *mem, size_t size, char **area, struct layout *l, struct outcome *o)
{
	char *moved;

	*area = map_aligned(2 * pmdsize, pmdsize);
	if (!*area) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return NULL;
	}
	moved = mremap(mem, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, *area + pmdsize - size / 2);
	if (moved == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mremap: %s", strerror(errno));
		munmap(mem, size);
		return NULL;
	}
	l->pmd = size == pmdsize ? 0 : -1;
	return moved;
}

/* the children fork()ed with their part, the parent's other part unmapped; 0 or -1 (o says why) */
static int share(const struct scenario *s, size_t size, struct layout *l, struct outcome *o)
{
	size_t keep, keep_len, off, len;
	char msg[160];
	int k;

	part(other_half(s->child_unmaps), size, &keep, &keep_len);
	for (k = 0; k < s->children; k++) {
		if (start_child(&l->c[k], l->mem, size, keep, keep_len, l->shmem ? READ : UNTOUCHED,
				msg, sizeof(msg))) {
			set_outcome(o, V_ERROR, "%s", msg);
			return -1;
		}
		l->nc++;
	}
	l->c_off = keep;
	l->c_len = l->nc ? keep_len : 0;
	part(s->parent_unmaps, size, &off, &len);
	if (s->parent_unmaps != NONE && munmap(l->mem + off, len)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		return -1;
	}
	part(other_half(s->parent_unmaps), size, &l->p_off, &l->p_len);
	return 0;
}

/*
 * MM_ID's documented false positive (v6.15+, include/linux/rmap.h): a large folio tracks the MMs
 * that map it in two slots, and sets its "maybe mapped shared" bit when a third maps it; the bit
 * is cleared again only when one slot's mapcount is the folio's whole mapcount. The THP is mapped
 * by this process (slot 0) and two children (the first gets slot 1, the second none), then
 * unmapped by this process and the first child: both slots are free, the second child maps the
 * folio alone, and the bit stays set. That child advises it (process_madvise()). At a base
 * without MM_ID this is a plain exclusive folio that two other processes once mapped. 0, or -1.
 */
static int leave_to_third(size_t size, struct layout *l, struct outcome *o)
{
	char msg[160];
	int k;

	for (k = 0; k < 2; k++)
		if (start_child(&l->c[k], l->mem, size, 0, size, UNTOUCHED, msg, sizeof(msg))) {
			set_outcome(o, V_ERROR, "%s", msg);
			return -1;
		}
	if (munmap(l->mem, size)) {
		set_outcome(o, V_ERROR, "munmap: %s", strerror(errno));
		return -1;
	}
	stop_child(&l->c[0]);
	l->owner = l->c[1].pid;
	l->p_off = 0;
	l->p_len = size;
	return 0;
}

static void run_thp(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	struct child c[MAX_CHILDREN] = { { .pid = -1 }, { .pid = -1 } };
	struct layout l = { .size = size, .c = c, .pmd = -1 };
	char *mem, *area = NULL;
	size_t off, len;
	int k;

	mem = make_thp(s, size, &l.pfn0, o);
	if (!mem)
		return;
	if (map_as_needed(s, mem, size, &l, o))
		goto out;
	if (s->make == STRADDLE) {
		l.mem = straddle(mem, size, &area, &l, o);
		if (!l.mem)
			goto out;
		mem = l.mem;
	}
	l.mem = mem;
	if (s->last_of_three ? leave_to_third(size, &l, o) : share(s, size, &l, o))
		goto out;
	part(s->advised, size, &off, &len);
	advise_and_judge(mem + off, len, cold, s->shared, &l, o);
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
struct several {
	char *mem;
	size_t size, n;
	uint64_t pfn[4];
	struct child c;
	long acted[4];
	size_t kid_acted;
	long split_failed;
	char moved[300];
};

/* the four THPs made, the child started, the state checked; 0, or -1 (o says why) */
static int several_setup(struct several *sv, bool cold, struct outcome *o)
{
	size_t total = 4 * sv->size;
	char msg[200];
	int f;

	madvise(sv->mem, total, MADV_HUGEPAGE);
	fill(sv->mem, total, (unsigned int)test_nr);
	for (f = 0; f < 4; f++)
		if (check_thp(sv->mem + f * sv->size, sv->size, &sv->pfn[f], msg, sizeof(msg))) {
			set_outcome(o, V_SKIP, "did not get four THPs populated (%s)", msg);
			return -1;
		}
	madvise(sv->mem, total, MADV_NOHUGEPAGE);
	if (start_child(&sv->c, sv->mem, total, sv->size, sv->size, UNTOUCHED, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		return -1;
	}
	if (cold && mark_referenced(sv->mem, total, false, o))
		return -1;
	for (f = 0; f < 4; f++) {
		struct layout one = { .mem = sv->mem + f * sv->size, .size = sv->size,
				      .pfn0 = sv->pfn[f], .p_len = sv->size, .c = &sv->c,
				      .nc = f == 1, .c_len = f == 1 ? sv->size : 0, .pmd = -1 };

		if (layout_check(&one, msg, sizeof(msg))) {
			set_outcome(o, V_INCONCLUSIVE, "folio %d: %s", f + 1, msg);
			return -1;
		}
	}
	return 0;
}

/* madvise() over the four, and what it did to each and to the child's; 0, or -1 (o says why) */
static int several_advise(struct several *sv, bool cold, struct outcome *o)
{
	struct layout l = { .mem = sv->mem, .size = sv->size, .c = &sv->c, .nc = 1,
			    .c_off = sv->size, .c_len = sv->size, .pmd = -1 };
	struct state kids0, kids1;
	struct counters c0, c1;
	int f;

	children_state(&l, cold, &kids0);
	counters_read(&c0, sv->size);
	if (madvise(sv->mem, 4 * sv->size, cold ? MADV_COLD : MADV_PAGEOUT)) {
		set_outcome(o, V_ERROR, "madvise: %s", strerror(errno));
		return -1;
	}
	counters_read(&c1, sv->size);
	children_state(&l, cold, &kids1);
	for (f = 0; f < 4; f++) {
		sv->acted[f] = acted_on(0, sv->mem + f * sv->size, sv->n, cold, false, o);
		if (sv->acted[f] < 0)
			return -1;
	}
	sv->kid_acted = kids_acted(&kids0, &kids1, cold, false);
	sv->split_failed = split_failures(&c0, &c1);
	counters_delta(&c0, &c1, sv->size, sv->moved, sizeof(sv->moved));
	return 0;
}

static void several_judge(const struct several *sv, bool cold, struct outcome *o)
{
	size_t missed = 0, partly = 0, n = sv->n;
	int f;

	for (f = 0; f < 4; f++)
		if (f != 1 && sv->acted[f] == 0)
			missed++;
		else if (f != 1 && (size_t)sv->acted[f] != n)
			partly++;
	printf("# evidence: four %zu kB folios at PFNs %#llx %#llx %#llx %#llx (each one folio, on "
	       "the LRU); after madvise: %s of each %ld, %ld, %ld, %ld of %zu, the child %zu of "
	       "%zu; %s\n", sv->size / 1024, (unsigned long long)sv->pfn[0],
	       (unsigned long long)sv->pfn[1], (unsigned long long)sv->pfn[2],
	       (unsigned long long)sv->pfn[3], cold ? "deactivated" : "paged out", sv->acted[0],
	       sv->acted[1], sv->acted[2], sv->acted[3], n, sv->kid_acted, n, sv->moved);
	if (!sv->kid_acted && !sv->acted[1] && (missed || partly) && sv->split_failed > 0)
		set_outcome(o, V_INCONCLUSIVE, "the kernel tried to split a folio and failed (%s)",
			    sv->moved);
	else if (sv->kid_acted)
		set_outcome(o, V_WRONG, "%zu of %zu pages of the second folio, which the child "
			    "maps", sv->kid_acted, n);
	else if (sv->acted[1])
		set_outcome(o, V_SPLIT, "%ld of %zu of the second folio, the child keeps its %zu",
			    sv->acted[1], n, n);
	else if (partly)
		set_outcome(o, V_INCONCLUSIVE, "exclusive folios only partly acted on");
	else if (missed)
		set_outcome(o, V_MISSED, "%zu of the 3 exclusive folios left alone", missed);
	else
		set_outcome(o, V_PASS, "%s", "");
}

static void run_several(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	struct several sv = { .size = size, .n = size / pagesize, .c = { .pid = -1 } };

	if (size * s->max_div > pmdsize) {
		set_outcome(o, V_SKIP, "four %zu kB THPs do not fit in one page table",
			    size / 1024);
		return;
	}
	if (thp_select(size)) {
		set_outcome(o, V_ERROR, "cannot set the THP knobs for %zu kB", size / 1024);
		return;
	}
	sv.mem = map_aligned(4 * size, 4 * size);
	if (!sv.mem) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	if (!several_setup(&sv, cold, o) && !several_advise(&sv, cold, o))
		several_judge(&sv, cold, o);
	stop_child(&sv.c);
	munmap(sv.mem, 4 * size);
}

/* ---------------------------------------------------------------- small and KSM pages */

static void run_small(const struct scenario *s, bool cold, struct outcome *o)
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
	if (s->children &&
	    start_child(&c, mem, pagesize, 0, pagesize, UNTOUCHED, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	l.mem = mem;
	l.nc = s->children;
	l.c_len = s->children ? pagesize : 0;
	advise_and_judge(mem, pagesize, cold, s->shared, &l, o);
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
	if (knob_set(KSM_DIR "/sleep_millisecs", "10") ||
	    knob_set(KSM_DIR "/pages_to_scan", "1000") || knob_set(KSM_DIR "/run", "1")) {
		snprintf(msg, len, "cannot start ksmd through " KSM_DIR);
		return -1;
	}
	ksm_started = true;
	return 0;
}

/*
 * Wait until the parent and the child map the same PFN (the KPF_KSM bit cannot tell: at v6.12
 * /proc/kpageflags sets it for every anon page); 0: merged, its PFN in *pfn
 */
static int ksm_wait_merged(const char *mem, pid_t kid, uint64_t *pfn, struct outcome *o)
{
	struct timespec t0, t1;
	uint64_t pm, cpm;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (pagemap_read(mem, 1, &pm) == 0 && (pm & PM_PRESENT) &&
		    pagemap_of(kid, mem, 1, &cpm) == 0 && (cpm & PM_PRESENT) &&
		    (pm & PM_PFN_MASK) == (cpm & PM_PFN_MASK))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (elapsed_ms(&t0, &t1) > KSM_WAIT_MS) {
			set_outcome(o, V_SKIP, "ksmd did not merge the pages within %d s "
				    "(pages_shared %ld)", KSM_WAIT_MS / 1000,
				    read_long(KSM_DIR "/pages_shared"));
			return -1;
		}
		usleep(20000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# ksmd merged the pages in %.0f ms (pages_shared %ld, pages_sharing %ld)\n",
	       elapsed_ms(&t0, &t1), read_long(KSM_DIR "/pages_shared"),
	       read_long(KSM_DIR "/pages_sharing"));
	*pfn = pm & PM_PFN_MASK;
	return 0;
}

/* a mergeable page with content no other page has; 0, or -1 (o says why) */
static int ksm_page(char *mem, bool cold, struct outcome *o)
{
	char msg[160];
	uint64_t pfn;
	size_t i;

	madvise(mem, pagesize, MADV_NOHUGEPAGE);
	for (i = 0; i < pagesize; i++)
		mem[i] = (char)(i * 7 + (i >> 8) + getpid() + (cold ? 3 : 5));
	if (madvise(mem, pagesize, MADV_MERGEABLE)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (MADV_MERGEABLE: %s)",
			    strerror(errno));
		return -1;
	}
	if (check_small(mem, &pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		return -1;
	}
	return 0;
}

static void run_ksm(const struct scenario *s, bool cold, struct outcome *o)
{
	struct child c = { .pid = -1 };
	struct layout l = { .size = pagesize, .p_len = pagesize, .c = &c, .nc = 1,
			    .c_len = pagesize, .pmd = -1 };
	char msg[160], *mem;

	if (access(KSM_DIR "/run", F_OK)) {
		set_outcome(o, V_SKIP, "Config KSM not enabled (no " KSM_DIR ")");
		return;
	}
	mem = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return;
	}
	if (ksm_page(mem, cold, o))
		goto out;
	/* the child writes a byte of its page with the value it has: a COW copy, the same bytes */
	if (start_child(&c, mem, pagesize, 0, pagesize, REWRITE, msg, sizeof(msg))) {
		set_outcome(o, V_ERROR, "%s", msg);
		goto out;
	}
	if (ksm_start(msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "%s", msg);
		goto out;
	}
	if (ksm_wait_merged(mem, c.pid, &l.pfn0, o))
		goto out;
	l.mem = mem;
	advise_and_judge(mem, pagesize, cold, s->shared, &l, o);
out:
	stop_child(&c);
	munmap(mem, pagesize);
}

/* ---------------------------------------------------------------- shmem THP */

/* the per-size shmem knob of a THP size (v6.11+ has them) */
static void shmem_knob(size_t kb, char *path, size_t len)
{
	snprintf(path, len, THP_DIR "/hugepages-%zukB/shmem_enabled", kb);
}

/*
 * Let shmem allocate large folios of `size` bytes only (0: none); 0 on success. The global knob
 * serves the PMD size (whose own knob's "inherit", its default, follows it); a smaller size
 * needs its own knob at "always".
 */
static int shmem_select(size_t size)
{
	char path[200];
	const char *val;
	int i, err = 0;

	for (i = 0; i < nthp; i++) {
		shmem_knob(thp_kb[i], path, sizeof(path));
		if (access(path, W_OK))
			continue;
		val = thp_kb[i] * 1024 != size ? "never" : size == pmdsize ? "inherit" : "always";
		if (knob_set(path, val))
			err = -1;
	}
	if (knob_set(THP_DIR "/shmem_enabled", size == pmdsize ? "always" : "never"))
		err = -1;
	return err;
}

/* shmem folios of this size at this kernel, read from its knobs; 0, or -1 (o says why not) */
static int shmem_offered(size_t size, struct outcome *o)
{
	char path[200];

	if (access(THP_DIR "/shmem_enabled", W_OK)) {
		set_outcome(o, V_SKIP, "no shmem THP at this kernel (no " THP_DIR
			    "/shmem_enabled)");
		return -1;
	}
	shmem_knob(size / 1024, path, sizeof(path));
	if (size != pmdsize && access(path, W_OK)) {
		set_outcome(o, V_SKIP, "no shmem mTHP of %zu kB at this kernel (no %s)",
			    size / 1024, path);
		return -1;
	}
	if (shmem_select(size)) {
		set_outcome(o, V_ERROR, "cannot set the shmem THP knobs for %zu kB", size / 1024);
		return -1;
	}
	return 0;
}

/* a MAP_SHARED anonymous mapping of `size` bytes at a size-aligned address, written */
static char *map_shmem(size_t size, struct outcome *o)
{
	char *mem = map_aligned(size, size), *drain;

	if (!mem || mmap(mem, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		if (mem)
			munmap(mem, size);
		return NULL;
	}
	fill(mem, size, (unsigned int)test_nr);
	/* MADV_COLD starts with lru_add_drain(): the new folio leaves this CPU's batch */
	drain = mmap(NULL, pagesize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (drain != MAP_FAILED) {
		madvise(drain, pagesize, MADV_COLD);
		munmap(drain, pagesize);
	}
	return mem;
}

/*
 * A PMD-sized shmem THP mapped by PTEs: a partial mprotect() would zap its PMD, not split it, and
 * a fault maps it by a PMD again where the address allows. So the mapping moves (mremap()) to an
 * address one page off a PMD boundary, which zaps the PMD too, and every page is read there: a
 * fault cannot map it by a PMD, only by PTEs. The new mapping (in *area) or NULL (o says why).
 */
static char *shmem_pte_map(char *mem, size_t size, char **area, struct outcome *o)
{
	char *moved;
	size_t off;

	*area = map_aligned(2 * pmdsize, pmdsize);
	if (!*area) {
		set_outcome(o, V_ERROR, "mmap: %s", strerror(errno));
		return NULL;
	}
	moved = mremap(mem, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, *area + pagesize);
	if (moved == MAP_FAILED) {
		set_outcome(o, V_ERROR, "mremap: %s", strerror(errno));
		munmap(mem, size);
		return NULL;
	}
	for (off = 0; off < size; off += pagesize)
		(void)*(volatile char *)(moved + off);
	return moved;
}

/*
 * A shmem THP of `size` bytes, mapped by a PMD or by PTEs as the scenario says (a size below the
 * PMD size: PTEs); NULL: o says why (*area: the mapping to free, if it moved)
 */
static char *make_shmem_thp(const struct scenario *s, size_t size, char **area, uint64_t *pfn,
			    struct outcome *o)
{
	char *mem, msg[160];
	long kb;

	if (shmem_offered(size, o))
		return NULL;
	mem = map_shmem(size, o);
	if (!mem)
		return NULL;
	kb = smaps_kb(mem, "ShmemPmdMapped");
	if (size == pmdsize && kb < (long)(size / 1024))
		snprintf(msg, sizeof(msg), "not PMD-mapped");
	if ((size == pmdsize && kb < (long)(size / 1024)) ||
	    check_thp(mem, size, pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (shmem: %s, ShmemPmdMapped "
			    "%ld kB)", msg, kb);
		munmap(mem, size);
		return NULL;
	}
	if (size != pmdsize || s->pmd_mapped)
		return mem;
	mem = shmem_pte_map(mem, size, area, o);
	if (mem && check_thp(mem, size, pfn, msg, sizeof(msg))) {
		set_outcome(o, V_SKIP, "did not get a THP populated (shmem, moved to be "
			    "PTE-mapped: %s)", msg);
		return NULL;
	}
	return mem;
}

/*
 * A shmem THP, exclusive or shared with a child that faults it in (fork() copies no page tables
 * of a shared mapping). What reclaim does to a shmem folio: unmaps it from every process that
 * maps it, then writes it to swap (split first); acted on is unmapped.
 */
static void run_shmem(const struct scenario *s, size_t size, bool cold, struct outcome *o)
{
	struct child c[MAX_CHILDREN] = { { .pid = -1 }, { .pid = -1 } };
	struct layout l = { .size = size, .c = c, .pmd = s->pmd_mapped, .shmem = true };
	char *area = NULL;
	int k;

	l.mem = make_shmem_thp(s, size, &area, &l.pfn0, o);
	if (l.mem && !share(s, size, &l, o))
		advise_and_judge(l.mem, size, cold, s->shared, &l, o);
	for (k = 0; k < MAX_CHILDREN; k++)
		stop_child(&c[k]);
	if (area)
		munmap(area, 2 * pmdsize);
	else if (l.mem)
		munmap(l.mem, size);
	shmem_select(0);
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
	printf("# cost region %s: %zu MiB, %zu of %zu PMD-sized THPs populated, PTE-mapped "
	       "(AnonHugePages now %ld kB)\n", what, len >> 20, thps, len / pmdsize, kb);
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
 * does as by what its helper costs.
 */
static void cost_exclusive(size_t len)
{
	size_t n = len / pagesize, referenced, active, referenced0, active0;
	double cold_ms, pageout_ms;
	struct counters c0, c1;
	char moved[300];
	struct state st;
	char *mem;

	mem = cost_region(len, "(exclusive)");
	if (!mem)
		return;
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	printf("# cost region after MADV_COLD: %zu of %zu THPs still REFERENCED, %zu ACTIVE "
	       "(before: %zu, %zu)\n", referenced, len / pmdsize, active, referenced0, active0);
	counters_read(&c0, pmdsize);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	counters_read(&c1, pmdsize);
	counters_delta(&c0, &c1, pmdsize, moved, sizeof(moved));
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region after MADV_PAGEOUT: %zu of %zu pages paged out; %s\n",
		       st.swapped, n, moved);
	zram_stat("holding the cost region");
	printf("# [COST] MADV_COLD %zu MiB PTE-mapped THP (%zu kB): %.3f ms\n", len >> 20,
	       pmdsize / 1024, cold_ms);
	printf("# [COST] MADV_PAGEOUT %zu MiB PTE-mapped THP (%zu kB): %.3f ms\n", len >> 20,
	       pmdsize / 1024, pageout_ms);
	fflush(stdout);
	munmap(mem, len);
}

/*
 * The decision alone: the same over a region a child maps too, which every variant leaves
 * alone, so the time is the walk and the sharing checks.
 */
static void cost_shared(size_t len)
{
	size_t n = len / pagesize, referenced, active, referenced0, active0;
	double cold_ms, pageout_ms;
	struct child child;
	struct state st;
	char msg[200], *mem;

	mem = cost_region(len, "(shared with a child)");
	if (!mem)
		return;
	if (start_child(&child, mem, len, 0, len, UNTOUCHED, msg, sizeof(msg))) {
		printf("# cost: %s\n", msg);
		goto out;
	}
	thp_flags(mem, len, &referenced0, &active0);
	cold_ms = timed_advice(mem, len, MADV_COLD, "MADV_COLD");
	thp_flags(mem, len, &referenced, &active);
	pageout_ms = timed_advice(mem, len, MADV_PAGEOUT, "MADV_PAGEOUT");
	if (range_state(mem, n, false, &st) == 0)
		printf("# cost region (shared) after MADV_COLD and MADV_PAGEOUT: %zu of %zu THPs "
		       "still REFERENCED (before: %zu), %zu of %zu pages paged out%s\n", referenced,
		       len / pmdsize, referenced0, st.swapped, n,
		       st.swapped || referenced < referenced0 ? ": the variant acted on shared "
		       "folios, so these times are not the decision alone" : "");
	printf("# [COST] decision only: MADV_COLD %zu MiB PTE-mapped THP shared with a child "
	       "(%zu kB): %.3f ms\n", len >> 20, pmdsize / 1024, cold_ms);
	printf("# [COST] decision only: MADV_PAGEOUT %zu MiB PTE-mapped THP shared with a child "
	       "(%zu kB): %.3f ms\n", len >> 20, pmdsize / 1024, pageout_ms);
	fflush(stdout);
out:
	stop_child(&child);
	munmap(mem, len);
}

static void run_cost(void)
{
	const char *env = getenv("PROBE_COST_MB");
	long mb = env && *env ? strtol(env, NULL, 10) : DEFAULT_COST_MB;
	size_t len;

	if (mb <= 0 || !have_thp)
		return;
	len = ((size_t)mb << 20) / pmdsize * pmdsize;
	if (!len)
		return;
	if (thp_select(pmdsize)) {
		printf("# cost: cannot set the THP knobs\n");
		return;
	}
	cost_exclusive(len);
	cost_shared(len);
}

/* ---------------------------------------------------------------- main */

/* a case: a scenario at one size, with one advice */
struct plan_entry {
	const struct scenario *s;
	size_t size;
	bool cold;
};

static struct plan_entry plan[400];
static int nplan;

static void add(const struct scenario *s, size_t size, bool cold)
{
	if (nplan < (int)(sizeof(plan) / sizeof(plan[0])))
		plan[nplan++] = (struct plan_entry){ .s = s, .size = size, .cold = cold };
}

/* does the scenario run at this size, with this advice? */
static bool planned(const struct scenario *s, enum shape shape, size_t size, bool cold)
{
	if (s->shape != shape || (cold && !s->cold))
		return false;
	if (shape == SMALL || shape == KSM)
		return true;
	if (s->pmd_only && size != pmdsize)
		return false;
	return s->make != SEVERAL || size * s->max_div <= pmdsize;
}

/*
 * the THP scenarios per size (the PMD size first, then every other mTHP size, ascending) and
 * advice, then the small pages per advice, then the KSM pages, then the shmem THPs per size (a
 * size the kernel offers for anonymous memory but not for shmem: an environment skip)
 */
static void make_plan(void)
{
	static const enum shape shapes[] = { SMALL, KSM };
	size_t sizes[25];
	int i, j, c, nsizes = have_thp ? thp_sizes(sizes) : 0;

	for (j = 0; j < nsizes; j++)
		for (c = 0; c < 2; c++)
			for (i = 0; i < NR_SCENARIOS; i++)
				if (planned(&scenarios[i], THP, sizes[j], c))
					add(&scenarios[i], sizes[j], c);
	for (j = 0; j < 2; j++)
		for (c = 0; c < 2; c++)
			for (i = 0; i < NR_SCENARIOS; i++)
				if (planned(&scenarios[i], shapes[j], pagesize, c))
					add(&scenarios[i], pagesize, c);
	for (j = 0; j < nsizes; j++)
		for (i = 0; i < NR_SCENARIOS; i++)
			if (planned(&scenarios[i], SHMEM, sizes[j], false))
				add(&scenarios[i], sizes[j], false);
}

static void run_case(const struct plan_entry *p)
{
	struct outcome o = { .v = V_PASS };
	char name[200];

	snprintf(name, sizeof(name), "%s %s (%zu kB)", p->cold ? "MADV_COLD" : "MADV_PAGEOUT",
		 p->s->text, p->size / 1024);
	tap_run(name);
	if (p->s->shape == THP && p->s->make == SEVERAL)
		run_several(p->s, p->size, p->cold, &o);
	else if (p->s->shape == THP)
		run_thp(p->s, p->size, p->cold, &o);
	else if (p->s->shape == SMALL)
		run_small(p->s, p->cold, &o);
	else if (p->s->shape == SHMEM)
		run_shmem(p->s, p->size, p->cold, &o);
	else
		run_ksm(p->s, p->cold, &o);
	end_case(name, &o, p->cold ? cold_text : pageout_text);
}

int main(void)
{
	struct timespec t_end;
	long swap_kb;
	int i;

	probe_start();
	if (geteuid() != 0)
		return tap_skip_all("Please run this test as root (PFNs in pagemap, "
				    "/proc/kpageflags, sysfs knobs)");
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	mem_fd = open("/proc/self/mem", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0 || mem_fd < 0)
		return tap_skip_all("cannot open /proc/self/pagemap, /proc/kpageflags or "
				    "/proc/self/mem (CONFIG_PROC_PAGE_MONITOR?)");
	swap_kb = swap_total_kb();
	if (swap_kb <= 0)
		return tap_skip_all("no swap: MADV_PAGEOUT cannot page anything out");
	catch_signals(knobs_restore);
	pin_cpu();
	detect_thp();
	make_plan();
	printf("1..%d\n", nplan);
	printf("# page size %zu, PMD THP size %zu kB, %d THP sizes with their own knob, "
	       "swap %ld kB\n", pagesize, have_thp ? pmdsize / 1024 : 0, nthp, swap_kb);
	for (i = 0; i < nplan; i++)
		run_case(&plan[i]);
	knobs_restore();
	run_cost();
	knobs_restore();
	clock_gettime(CLOCK_MONOTONIC, &t_end);
	printf("# probe ran on CPU %d at the end, took %.1f s\n", sched_getcpu(),
	       elapsed_ms(&t_start, &t_end) / 1000);
	return tap_totals(nplan);
}

/* Hand-written skeleton of mm/madvise.c's MADV_FREE walk, shaped as at v6.12 (not kernel code). */
static int madvise_free_pte_range(pmd_t *pmd, unsigned long addr,
				unsigned long end, struct mm_walk *walk)
{
	pte_t *start_pte, *pte, ptent;
	struct folio *folio;
	int nr;

	for (; addr != end; pte += nr, addr += PAGE_SIZE * nr) {
		ptent = ptep_get(pte);
		folio = vm_normal_folio(vma, addr, ptent);
		if (folio_test_large(folio)) {
			if (nr < folio_nr_pages(folio)) {
				if (folio_likely_mapped_shared(folio))
					continue;
				split_folio(folio);
				continue;
			}
		}
		if (folio_test_swapcache(folio) || folio_test_dirty(folio)) {
			/* folio_mapcount(folio) != 1 in a comment is no site */
			if (folio_mapcount(folio) != folio_nr_pages(folio)) {
				folio_unlock(folio);
				continue;
			}
			folio_clear_dirty(folio);
		}
		folio_mark_lazyfree(folio);
	}
	return 0;
}

/* Hand-written skeleton of mm/huge_memory.c's MADV_FREE PMD handler, shaped as at v6.12 (not kernel code). */
static void unrelated(struct folio *folio)
{
	if (folio_likely_mapped_shared(folio))
		return;
}

bool madvise_free_huge_pmd(struct mmu_gather *tlb, struct vm_area_struct *vma,
		pmd_t *pmd, unsigned long addr, unsigned long next)
{
	pmd_t orig_pmd;
	struct folio *folio;

	orig_pmd = *pmd;
	folio = pmd_folio(orig_pmd);
	if (folio_likely_mapped_shared(folio))
		goto out;
	folio_mark_lazyfree(folio);
out:
	return true;
}

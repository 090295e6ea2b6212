/* Hand-written skeleton of mm/huge_memory.c's MADV_FREE PMD handler, shaped as at v6.1 (not kernel code). */
bool madvise_free_huge_pmd(struct mmu_gather *tlb, struct vm_area_struct *vma,
		pmd_t *pmd, unsigned long addr, unsigned long next)
{
	pmd_t orig_pmd;
	struct page *page;

	orig_pmd = *pmd;
	page = pmd_page(orig_pmd);
	if (total_mapcount(page) != 1)
		goto out;
	mark_page_lazyfree(page);
out:
	return true;
}

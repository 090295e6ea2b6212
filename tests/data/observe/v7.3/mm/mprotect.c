/* Functions of Debian's v7.3 (7.3.4) mm/mprotect.c, as they are there: change_pte_range(). */
static long change_pte_range(struct mmu_gather *tlb,
		struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr,
		unsigned long end, pgprot_t newprot, unsigned long cp_flags)
{
	pte_t *pte, oldpte;
	spinlock_t *ptl;
	long pages = 0;
	bool is_private_single_threaded;
	bool prot_numa = cp_flags & MM_CP_PROT_NUMA;
	bool uffd_rwp = cp_flags & MM_CP_UFFD_RWP;
	bool uffd_wp = cp_flags & MM_CP_UFFD_WP;
	int nr_ptes;

	tlb_change_page_size(tlb, PAGE_SIZE);
	pte = pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);
	if (!pte)
		return -EAGAIN;

	if (prot_numa)
		is_private_single_threaded = vma_is_single_threaded_private(vma);

	flush_tlb_batched_pending(vma->vm_mm);
	lazy_mmu_mode_enable();
	do {
		nr_ptes = 1;
		oldpte = ptep_get(pte);
		if (pte_present(oldpte)) {
			const fpb_t flags = FPB_RESPECT_SOFT_DIRTY | FPB_RESPECT_WRITE;
			int max_nr_ptes = (end - addr) >> PAGE_SHIFT;
			struct folio *folio = NULL;
			struct page *page;

			/* Already in the desired state. */
			if (prot_numa && pte_protnone(oldpte))
				continue;
			/*
			 * RWP-protected PTEs carry _PAGE_UFFD as a marker on
			 * top of PROT_NONE. Skip only entries already in that
			 * exact state; plain PROT_NONE from mprotect() still needs
			 * to be promoted so future faults can be distinguished.
			 */
			if (uffd_rwp && pte_protnone(oldpte) && pte_uffd(oldpte))
				continue;

			page = vm_normal_page(vma, addr, oldpte);
			if (page)
				folio = page_folio(page);

			/*
			 * Avoid trapping faults against the zero or KSM
			 * pages. See similar comment in change_huge_pmd.
			 * Skip this filter for uffd RWP which
			 * must set protnone regardless of NUMA placement.
			 */
			if (prot_numa &&
			    !folio_can_map_prot_numa(folio, vma,
						is_private_single_threaded)) {

				/* determine batch to skip */
				nr_ptes = mprotect_folio_pte_batch(folio,
					  pte, oldpte, max_nr_ptes, /* flags = */ 0);
				continue;
			}

			nr_ptes = mprotect_folio_pte_batch(folio, pte, oldpte, max_nr_ptes, flags);

			/*
			 * Optimize for the small-folio common case by
			 * special-casing it here. Compiler constant propagation
			 * plus copious amounts of __always_inline does wonders.
			 */
			if (likely(nr_ptes == 1)) {
				change_present_ptes(tlb, vma, addr, pte, 1,
					end, newprot, folio, page, cp_flags);
			} else {
				change_present_ptes(tlb, vma, addr, pte,
					nr_ptes, end, newprot, folio, page,
					cp_flags);
			}

			pages += nr_ptes;
		} else if (pte_none(oldpte)) {
			/*
			 * Nobody plays with any none ptes besides
			 * userfaultfd when applying the protections.
			 */
			if (likely(!uffd_wp))
				continue;

			if (userfaultfd_wp_use_markers(vma)) {
				/*
				 * For file-backed mem, we need to be able to
				 * wr-protect a none pte, because even if the
				 * pte is none, the page/swap cache could
				 * exist.  Doing that by install a marker.
				 */
				set_pte_at(vma->vm_mm, addr, pte,
					   make_pte_marker(PTE_MARKER_UFFD_WP));
				pages++;
			}
		} else  {
			pages += change_softleaf_pte(vma, addr, pte, oldpte, cp_flags);
		}
	} while (pte += nr_ptes, addr += nr_ptes * PAGE_SIZE, addr != end);
	lazy_mmu_mode_disable();
	pte_unmap_unlock(pte - 1, ptl);

	return pages;
}

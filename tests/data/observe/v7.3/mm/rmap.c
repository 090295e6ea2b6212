/* Functions of Debian's v7.3 (7.3.4) mm/rmap.c, as they are there: folio_referenced_one(). */
static bool folio_referenced_one(struct folio *folio,
		struct vm_area_struct *vma, unsigned long address, void *arg)
{
	struct folio_referenced_arg *pra = arg;
	DEFINE_FOLIO_VMA_WALK(pvmw, folio, vma, address, 0);
	int ptes = 0, referenced = 0;
	unsigned int nr;

	while (page_vma_mapped_walk(&pvmw)) {
		address = pvmw.address;
		nr = 1;

		if (vma_test(vma, VMA_LOCKED_BIT)) {
			ptes++;
			pra->mapcount--;

			/* Only mlock fully mapped pages */
			if (pvmw.pte && ptes != pvmw.nr_pages)
				continue;

			/*
			 * All PTEs must be protected by page table lock in
			 * order to mlock the page.
			 *
			 * If page table boundary has been cross, current ptl
			 * only protect part of ptes.
			 */
			if (pvmw.flags & PVMW_PGTABLE_CROSSED)
				continue;

			/* Restore the mlock which got missed */
			mlock_vma_folio(folio, vma);
			page_vma_mapped_walk_done(&pvmw);
			vma_flags_set(&pra->vma_flags, VMA_LOCKED_BIT);
			return false; /* To break the loop */
		}

		/*
		 * Skip the non-shared swapbacked folio mapped solely by
		 * the exiting or OOM-reaped process. This avoids redundant
		 * swap-out followed by an immediate unmap.
		 */
		if ((!atomic_read(&vma->vm_mm->mm_users) ||
		    check_stable_address_space(vma->vm_mm)) &&
		    folio_test_anon(folio) && folio_test_swapbacked(folio) &&
		    !folio_maybe_mapped_shared(folio)) {
			pra->referenced = -1;
			page_vma_mapped_walk_done(&pvmw);
			return false;
		}

		if (pvmw.pte && folio_test_large(folio)) {
			const unsigned long end_addr = pmd_addr_end(address, vma->vm_end);
			const unsigned int max_nr = (end_addr - address) >> PAGE_SHIFT;
			pte_t pteval = ptep_get(pvmw.pte);

			nr = folio_pte_batch(folio, pvmw.pte, pteval, max_nr);
		}

		/*
		 * When LRU is switching, we don’t know where the surrounding folios
		 * are. —they could be on active/inactive lists or on MGLRU. So the
		 * simplest approach is to disable this look-around optimization.
		 */
		if (lru_gen_enabled() && !lru_gen_switching() && pvmw.pte) {
			if (lru_gen_look_around(&pvmw, nr))
				referenced++;
		} else if (pvmw.pte) {
			if (clear_flush_young_ptes_notify(vma, address, pvmw.pte, nr))
				referenced++;
		} else if (IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)) {
			if (pmdp_clear_flush_young_notify(vma, address,
						pvmw.pmd))
				referenced++;
		} else {
			/* unexpected pmd-mapped folio? */
			WARN_ON_ONCE(1);
		}

		ptes += nr;
		pra->mapcount -= nr;
		/*
		 * If we are sure that we batched the entire folio,
		 * we can just optimize and stop right here.
		 */
		if (ptes == pvmw.nr_pages) {
			page_vma_mapped_walk_done(&pvmw);
			break;
		}

		/* Skip the batched PTEs */
		pvmw.pte += nr - 1;
		pvmw.address += (nr - 1) * PAGE_SIZE;
	}

	if (referenced)
		folio_clear_idle(folio);
	if (folio_test_clear_young(folio))
		referenced++;

	if (referenced) {
		vma_flags_t vma_flags = vma->flags;

		pra->referenced++;
		vma_flags_clear(&vma_flags, VMA_LOCKED_BIT);
		vma_flags_set_mask(&pra->vma_flags, vma_flags);
	}

	if (!pra->mapcount)
		return false; /* To break the loop */

	return true;
}

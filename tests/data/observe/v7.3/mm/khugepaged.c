/* Functions of Debian's v7.3 (7.3.4) mm/khugepaged.c, as they are there: __collapse_huge_page_isolate(), collapse_scan_pmd(). */
static enum scan_result __collapse_huge_page_isolate(struct vm_area_struct *vma,
		unsigned long start_addr, pte_t *pte, struct collapse_control *cc,
		unsigned int order, struct list_head *compound_pagelist)
{
	const unsigned int max_ptes_none = collapse_max_ptes_none(cc, vma, order);
	const unsigned int max_ptes_shared = collapse_max_ptes_shared(cc, order);
	const unsigned long nr_pages = 1UL << order;
	struct page *page = NULL;
	struct folio *folio = NULL;
	unsigned long addr = start_addr;
	pte_t *_pte;
	int none_or_zero = 0, shared = 0, referenced = 0;
	enum scan_result result = SCAN_FAIL;

	for (_pte = pte; _pte < pte + nr_pages;
	     _pte++, addr += PAGE_SIZE) {
		pte_t pteval = ptep_get(_pte);
		if (pte_none_or_zero(pteval)) {
			if (++none_or_zero > max_ptes_none) {
				result = SCAN_EXCEED_NONE_PTE;
				count_collapse_event(order, THP_SCAN_EXCEED_NONE_PTE,
						     MTHP_STAT_COLLAPSE_EXCEED_NONE);
				goto out;
			}
			continue;
		}
		if (!pte_present(pteval)) {
			result = SCAN_PTE_NON_PRESENT;
			goto out;
		}
		if (pte_uffd(pteval)) {
			result = SCAN_PTE_UFFD;
			goto out;
		}
		page = vm_normal_page(vma, addr, pteval);
		if (unlikely(!page) || unlikely(is_zone_device_page(page))) {
			result = SCAN_PAGE_NULL;
			goto out;
		}

		folio = page_folio(page);
		VM_BUG_ON_FOLIO(!folio_test_anon(folio), folio);

		/*
		 * If the vma has the VM_DROPPABLE flag, the collapse will
		 * preserve the lazyfree property without needing to skip.
		 */
		if (cc->is_khugepaged && !(vma->vm_flags & VM_DROPPABLE) &&
		    folio_test_lazyfree(folio) && !pte_dirty(pteval)) {
			result = SCAN_PAGE_LAZYFREE;
			goto out;
		}

		/* See collapse_scan_pmd(). */
		if (folio_maybe_mapped_shared(folio)) {
			/*
			 * TODO: Support shared pages without leading to further
			 * mTHP collapses. Currently bringing in new pages via
			 * shared may cause a future higher order collapse on a
			 * rescan of the same range.
			 */
			if (++shared > max_ptes_shared) {
				result = SCAN_EXCEED_SHARED_PTE;
				count_collapse_event(order, THP_SCAN_EXCEED_SHARED_PTE,
						     MTHP_STAT_COLLAPSE_EXCEED_SHARED);
				goto out;
			}
		}
		/*
		 * TODO: In some cases of partially-mapped folios, we'd actually
		 * want to collapse.
		 */
		if (!is_pmd_order(order) && folio_order(folio) >= order) {
			result = SCAN_PTE_MAPPED_HUGEPAGE;
			goto out;
		}

		if (folio_test_large(folio)) {
			struct folio *f;

			/*
			 * Check if we have dealt with the compound page
			 * already
			 */
			list_for_each_entry(f, compound_pagelist, lru) {
				if (folio == f)
					goto next;
			}
		}

		/*
		 * We can do it before folio_isolate_lru because the
		 * folio can't be freed from under us. NOTE: folio lock
		 * is needed to serialize against split_huge_page()
		 * when invoked from the VM.
		 */
		if (!folio_trylock(folio)) {
			result = SCAN_PAGE_LOCK;
			goto out;
		}

		/*
		 * Check if the page has any GUP (or other external) pins.
		 *
		 * The page table that maps the page has been already unlinked
		 * from the page table tree and this process cannot get
		 * an additional pin on the page.
		 *
		 * New pins can come later if the page is shared across fork,
		 * but not from this process. The other process cannot write to
		 * the page, only trigger CoW.
		 */
		if (folio_expected_ref_count(folio) != folio_ref_count(folio)) {
			folio_unlock(folio);
			result = SCAN_PAGE_COUNT;
			goto out;
		}

		/*
		 * Isolate the folio to avoid collapsing a hugepage
		 * currently in use by the VM.
		 */
		if (!folio_isolate_lru(folio)) {
			folio_unlock(folio);
			result = SCAN_DEL_PAGE_LRU;
			goto out;
		}
		node_stat_mod_folio(folio,
				NR_ISOLATED_ANON + folio_is_file_lru(folio),
				folio_nr_pages(folio));
		VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio);
		VM_BUG_ON_FOLIO(folio_test_lru(folio), folio);

		if (folio_test_large(folio))
			list_add_tail(&folio->lru, compound_pagelist);
next:
		if (cc->is_khugepaged &&
		    folio_pte_referenced(folio, vma, addr, pteval))
			referenced++;
	}

	if (unlikely(cc->is_khugepaged && !referenced)) {
		result = SCAN_LACK_REFERENCED_PAGE;
	} else {
		result = SCAN_SUCCEED;
		trace_mm_collapse_huge_page_isolate(folio, none_or_zero,
						    referenced, result, order);
		return result;
	}
out:
	release_pte_pages(pte, _pte, compound_pagelist);
	trace_mm_collapse_huge_page_isolate(folio, none_or_zero,
					    referenced, result, order);
	return result;
}

static enum scan_result collapse_scan_pmd(struct mm_struct *mm,
		struct vm_area_struct *vma, unsigned long start_addr,
		bool *lock_dropped, struct collapse_control *cc)
{
	const unsigned int max_ptes_shared = collapse_max_ptes_shared(cc, HPAGE_PMD_ORDER);
	const unsigned int max_ptes_swap = collapse_max_ptes_swap(cc, HPAGE_PMD_ORDER);
	unsigned int max_ptes_none = collapse_max_ptes_none(cc, vma, HPAGE_PMD_ORDER);
	enum tva_type tva_flags = cc->is_khugepaged ? TVA_KHUGEPAGED : TVA_FORCED_COLLAPSE;
	pmd_t *pmd;
	pte_t *pte, *_pte, pteval;
	int i;
	int none_or_zero = 0, shared = 0, referenced = 0;
	enum scan_result result = SCAN_FAIL;
	struct page *page = NULL;
	struct folio *folio = NULL;
	unsigned long failed_pfn = -1;
	unsigned long addr;
	unsigned long enabled_orders;
	spinlock_t *ptl;
	int node = NUMA_NO_NODE, unmapped = 0;

	VM_BUG_ON(start_addr & ~HPAGE_PMD_MASK);

	result = find_pmd_or_thp_or_none(mm, start_addr, &pmd);
	if (result != SCAN_SUCCEED) {
		cc->progress++;
		goto out;
	}

	collapse_control_init_scan(cc);

	enabled_orders = collapse_possible_orders(vma, vma->vm_flags, tva_flags);

	/*
	 * If PMD is the only enabled order, enforce max_ptes_none, otherwise
	 * scan all pages to populate the bitmap for mTHP collapse. The bitmap
	 * is then checked again in mthp_collapse() for each attempted order.
	 */
	if (enabled_orders != BIT(HPAGE_PMD_ORDER))
		max_ptes_none = KHUGEPAGED_MAX_PTES_LIMIT;

	pte = pte_offset_map_lock(mm, pmd, start_addr, &ptl);
	if (!pte) {
		cc->progress++;
		result = SCAN_NO_PTE_TABLE;
		goto out;
	}

	for (i = 0; i < HPAGE_PMD_NR; i++) {
		_pte = pte + i;
		addr = start_addr + i * PAGE_SIZE;
		pteval = ptep_get(_pte);

		cc->progress++;

		if (pte_none_or_zero(pteval)) {
			if (++none_or_zero > max_ptes_none) {
				result = SCAN_EXCEED_NONE_PTE;
				count_collapse_event(HPAGE_PMD_ORDER, THP_SCAN_EXCEED_NONE_PTE,
						     MTHP_STAT_COLLAPSE_EXCEED_NONE);
				goto out_unmap;
			}
			continue;
		}
		if (!pte_present(pteval)) {
			if (++unmapped > max_ptes_swap) {
				result = SCAN_EXCEED_SWAP_PTE;
				count_collapse_event(HPAGE_PMD_ORDER, THP_SCAN_EXCEED_SWAP_PTE,
						     MTHP_STAT_COLLAPSE_EXCEED_SWAP);
				goto out_unmap;
			}
			/*
			 * Always be strict with uffd-wp
			 * enabled swap entries.  Please see
			 * comment below for pte_uffd().
			 */
			if (pte_swp_uffd_any(pteval)) {
				result = SCAN_PTE_UFFD;
				goto out_unmap;
			}
			continue;
		}
		if (pte_uffd(pteval)) {
			/*
			 * Don't collapse the page if any of the small
			 * PTEs are armed with uffd write protection.
			 * Here we can also mark the new huge pmd as
			 * write protected if any of the small ones is
			 * marked but that could bring unknown
			 * userfault messages that falls outside of
			 * the registered range.  So, just be simple.
			 */
			result = SCAN_PTE_UFFD;
			goto out_unmap;
		}

		page = vm_normal_page(vma, addr, pteval);
		if (unlikely(!page) || unlikely(is_zone_device_page(page))) {
			result = SCAN_PAGE_NULL;
			goto out_unmap;
		}
		folio = page_folio(page);

		/*
		 * If the vma has the VM_DROPPABLE flag, the collapse will
		 * preserve the lazyfree property without needing to skip.
		 */
		if (cc->is_khugepaged && !(vma->vm_flags & VM_DROPPABLE) &&
		    folio_test_lazyfree(folio) && !pte_dirty(pteval)) {
			result = SCAN_PAGE_LAZYFREE;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}

		if (!folio_test_anon(folio)) {
			result = SCAN_PAGE_ANON;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}

		/*
		 * We treat a single page as shared if any part of the THP
		 * is shared.
		 */
		if (folio_maybe_mapped_shared(folio)) {
			if (++shared > max_ptes_shared) {
				result = SCAN_EXCEED_SHARED_PTE;
				failed_pfn = folio_pfn(folio);
				count_collapse_event(HPAGE_PMD_ORDER, THP_SCAN_EXCEED_SHARED_PTE,
						     MTHP_STAT_COLLAPSE_EXCEED_SHARED);
				goto out_unmap;
			}
		}

		/* Set bit for occupied pages */
		__set_bit(i, cc->mthp_present_ptes);
		/*
		 * Record which node the original page is from and save this
		 * information to cc->node_load[].
		 * Khugepaged will allocate hugepage from the node has the max
		 * hit record.
		 */
		node = folio_nid(folio);
		if (collapse_scan_abort(node, cc)) {
			result = SCAN_SCAN_ABORT;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}
		cc->node_load[node]++;
		if (!folio_test_lru(folio)) {
			result = SCAN_PAGE_LRU;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}
		if (folio_test_locked(folio)) {
			result = SCAN_PAGE_LOCK;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}

		/*
		 * Check if the page has any GUP (or other external) pins.
		 *
		 * Here the check is racy, but such cases are ephemeral and
		 * we can always retry collapse later. Anyway the same
		 * check will be done again later, so the risk seems to be low.
		 */
		if (folio_expected_ref_count(folio) != folio_ref_count(folio)) {
			result = SCAN_PAGE_COUNT;
			failed_pfn = folio_pfn(folio);
			goto out_unmap;
		}

		if (cc->is_khugepaged &&
		    folio_pte_referenced(folio, vma, addr, pteval))
			referenced++;
	}
	if (cc->is_khugepaged &&
		   (!referenced ||
		    (unmapped && referenced < HPAGE_PMD_NR / 2))) {
		result = SCAN_LACK_REFERENCED_PAGE;
	} else {
		result = SCAN_SUCCEED;
	}
out_unmap:
	pte_unmap_unlock(pte, ptl);
	if (result == SCAN_SUCCEED) {
		/* collapse_huge_page() expects the lock to be dropped before calling */
		mmap_read_unlock(mm);
		result = mthp_collapse(mm, start_addr, referenced,
				       unmapped, cc, enabled_orders);
		/* mmap_lock was released above, set lock_dropped */
		*lock_dropped = true;
	}
out:
	trace_mm_khugepaged_scan_pmd(mm, failed_pfn, referenced,
				     none_or_zero, result, unmapped);
	return result;
}


/* Functions of Debian's v7.3 (7.3.4) mm/mempolicy.c, as they are there: migrate_folio_add(), queue_folios_hugetlb(), folio_can_map_prot_numa(). */
static bool migrate_folio_add(struct folio *folio, struct list_head *foliolist,
				unsigned long flags)
{
	/*
	 * Unless MPOL_MF_MOVE_ALL, we try to avoid migrating a shared folio.
	 * Choosing not to migrate a shared folio is not counted as a failure.
	 *
	 * See folio_maybe_mapped_shared() on possible imprecision when we
	 * cannot easily detect if a folio is shared.
	 */
	if ((flags & MPOL_MF_MOVE_ALL) || !folio_maybe_mapped_shared(folio)) {
		if (folio_isolate_lru(folio)) {
			list_add_tail(&folio->lru, foliolist);
			node_stat_mod_folio(folio,
				NR_ISOLATED_ANON + folio_is_file_lru(folio),
				folio_nr_pages(folio));
		} else {
			/*
			 * Non-movable folio may reach here.  And, there may be
			 * temporary off LRU folios or non-LRU movable folios.
			 * Treat them as unmovable folios since they can't be
			 * isolated, so they can't be moved at the moment.
			 */
			return false;
		}
	}
	return true;
}

static int queue_folios_hugetlb(pte_t *pte, unsigned long hmask,
			       unsigned long addr, unsigned long end,
			       struct mm_walk *walk)
{
#ifdef CONFIG_HUGETLB_PAGE
	struct queue_pages *qp = walk->private;
	unsigned long flags = qp->flags;
	struct folio *folio;
	spinlock_t *ptl;
	pte_t ptep;

	ptl = huge_pte_lock(hstate_vma(walk->vma), walk->mm, pte);
	ptep = huge_ptep_get(walk->mm, addr, pte);
	if (!pte_present(ptep)) {
		if (!huge_pte_none(ptep)) {
			const softleaf_t entry = softleaf_from_pte(ptep);

			if (unlikely(softleaf_is_migration(entry)))
				qp->nr_failed++;
		}

		goto unlock;
	}
	folio = pfn_folio(pte_pfn(ptep));
	if (!queue_folio_required(folio, qp))
		goto unlock;
	if (!(flags & (MPOL_MF_MOVE | MPOL_MF_MOVE_ALL)) ||
	    !vma_migratable(walk->vma)) {
		qp->nr_failed++;
		goto unlock;
	}
	/*
	 * Unless MPOL_MF_MOVE_ALL, we try to avoid migrating a shared folio.
	 * Choosing not to migrate a shared folio is not counted as a failure.
	 *
	 * See folio_maybe_mapped_shared() on possible imprecision when we
	 * cannot easily detect if a folio is shared.
	 */
	if ((flags & MPOL_MF_MOVE_ALL) ||
	    (!folio_maybe_mapped_shared(folio) && !hugetlb_pmd_shared(pte)))
		if (!folio_isolate_hugetlb(folio, qp->pagelist))
			qp->nr_failed++;
unlock:
	spin_unlock(ptl);
	if (qp->nr_failed && strictly_unmovable(flags))
		return -EIO;
#endif
	return 0;
}

bool folio_can_map_prot_numa(struct folio *folio, struct vm_area_struct *vma,
		bool is_private_single_threaded)
{
	int nid;

	if (!folio || folio_is_zone_device(folio) || folio_test_ksm(folio))
		return false;

	/* Also skip shared copy-on-write folios */
	if (vma_is_cow_mapping(vma) && folio_maybe_mapped_shared(folio))
		return false;

	/* Folios are pinned and can't be migrated */
	if (folio_maybe_dma_pinned(folio))
		return false;

	/*
	 * While migration can move some dirty folios,
	 * it cannot move them all from MIGRATE_ASYNC
	 * context.
	 */
	if (folio_is_file_lru(folio) && folio_test_dirty(folio))
		return false;

	/*
	 * Don't mess with PTEs if folio is already on the node
	 * a single-threaded process is running on.
	 */
	nid = folio_nid(folio);
	if (is_private_single_threaded && (nid == numa_node_id()))
		return false;

	/*
	 * Skip scanning top tier node if normal numa
	 * balancing is disabled
	 */
	if (!(sysctl_numa_balancing_mode & NUMA_BALANCING_NORMAL) &&
	    node_is_toptier(nid))
		return false;

	if (folio_use_access_time(folio))
		folio_xchg_access_time(folio, jiffies_to_msecs(jiffies));

	return true;
}

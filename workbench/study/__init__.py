"""Studies: the study file (model.py) and its words (words.py), finding call sites in C (csrc.py,
sites.py), what a base has (symbols.py), rendering a variant (render.py) and committing it as a
variant commit and patch (commits.py)."""

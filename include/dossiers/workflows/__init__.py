"""What people do with dossiers, one module per noun of the policy.

``creation`` (form review, numbering, filing: Art. 11), ``updates`` (Arts. 12-13),
``filing_delays`` (Art. 15), ``queries`` (query grants, Art. 16), ``loans`` and ``vault``
(paper borrowing and the vault register, Arts. 14-16), ``lifecycle`` (stages, reading,
keeping terminated dossiers), ``access`` (finding a dossier and what a reader may see),
``staff`` (onboarding and offboarding, Art. 19); ``decisions`` (the one approve/reject
mechanism every approval of those modules uses).

Each action authorises through ``core.permissions``, changes state and writes its ledger
entry in the caller's transaction. May import ``intake``, ``quality``, ``calendar`` and
``core``, and the sibling layers ``duties`` and ``reports``.
"""

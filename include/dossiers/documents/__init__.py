"""A dossier's electronic documents (Arts. 6, 14-18): added by the departments that supply
them, named and classified (Art. 15), filed by the archivist within 3 wd, stored sealed in
the document store (:mod:`dossiers.core.segments`, :mod:`dossiers.core.objects`), read only
by the client's liaison, the archivist, or through a query grant whose scope includes
``documents`` (Art. 16), and checked for integrity (Arts. 14, 18).

What people do with documents is here, a layer beside ``workflows``; ``cli/documents.py``
and ``api/documents.py`` are its thin interfaces.
"""

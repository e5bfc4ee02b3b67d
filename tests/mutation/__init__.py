"""``make mutation``: mutation testing of the library's core with cosmic-ray (see README "Tests").

``targets.py`` is the map (a module -> the test files that exercise it) and the list of
equivalent mutants; ``__main__.py`` runs cosmic-ray on a scratch copy of the repository.
"""

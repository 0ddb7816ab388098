"""ELMO: the typed model (:mod:`.model`, light: no lxml), the reader (:mod:`.reader`: ``read_elmo``), version
detection (:mod:`.versions`) and XSD conformance warnings (:mod:`.conformance`).

Import from the submodules: this package imports nothing, so code that needs only the model (identity
matching in the light functions) does not load lxml. ``read_elmo`` must only ever be given the tree whose
signature was verified.
"""

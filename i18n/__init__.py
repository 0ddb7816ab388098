"""Build steps of the page languages (``python -m i18n.build``)."""

"""Pure EMREX core: protocol, decoding, signatures, ELMO model, registry, identity.

Nothing in this package imports boto3 or knows about Lambda event shapes.
"""

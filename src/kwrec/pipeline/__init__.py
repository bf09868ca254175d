"""The pipeline: the release chain's steps, composed from the core and the adapters.

train -> release (manifest) -> image (build, push) -> deploy (deploy, verify, rollback, gc), with the
records of what is live where (records), one chain at a time (lock), the steps as functions (steps)
and the whole chain in one process (runner).
"""

"""The core: logs -> ingest -> preprocess -> models -> evaluation/gate -> manifests.

It knows nothing of Docker, AWS, HTTP or Airflow: stores come in through the
:class:`~kwrec.core.store.ArtifactStore` protocol. tests/unit/test_layers.py keeps it that way.
"""

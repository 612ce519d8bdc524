"""Province-wide coverage: per-county partitions run as tasks on Dask distributed.

``province.partition`` (pure: no DB, no HTTP) says how wide each county's partition must be for
its results to equal the unpartitioned run; ``province.run`` runs the counties on a Dask cluster
(a LocalCluster or a scheduler by address), each worker reading its own partition from PostGIS
(``layers.province``) and the client storing each county's rows in one transaction.
"""

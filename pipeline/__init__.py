"""Use cases shared by the CLI and the HTTP routes: read layers → compute in geo → store in layers."""

from numpy._core import multiarray as _multiarray

# numpy asks the kernel for transparent huge pages on every array of 4 MB or more (madvise).
# With Debian's default THP setting (enabled=madvise, defrag=madvise) each first touch of such an
# array may stall in direct memory compaction: at scale 10 that doubled preparing the networks
# and the first coverage run (sys time 6.9 s → 1.6 s without it). This is numpy's documented switch
# (NUMPY_MADVISE_HUGEPAGE=0, which numpy reads only when imported), turned off for every process
# that imports the pipeline, whenever numpy was imported.
_multiarray._set_madvise_hugepage(False)  # type: ignore[attr-defined]

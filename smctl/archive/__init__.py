"""model.tar.gz: pack (reproducible, SageMaker's layout), inspect (classic mistakes), safe unpack.

The work is split in archive_pack.py, archive_unpack.py and archive_gzip.py; this module is their public face.
"""

from __future__ import annotations

from smctl.archive.pack import DEFAULT_LEVEL, PackPlan, PackResult, pack_model, pack_trees, plan_pack, write_pack
from smctl.archive.unpack import Finding, Inspection, Member, UnpackResult, inspect_archive, unpack_archive

__all__ = [
    "DEFAULT_LEVEL",
    "Finding",
    "Inspection",
    "Member",
    "PackPlan",
    "PackResult",
    "UnpackResult",
    "inspect_archive",
    "pack_model",
    "pack_trees",
    "plan_pack",
    "unpack_archive",
    "write_pack",
]

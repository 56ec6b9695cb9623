"""The dataset registry: every loader mujo-edge knows, by name (`mujo-edge data list`)."""

from __future__ import annotations

from collections.abc import Iterable

from mujo_edge.data.base import DatasetLoader
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.data.hapt import Hapt
from mujo_edge.data.hmp import Hmp
from mujo_edge.data.mhealth import Mhealth
from mujo_edge.data.mmfit import MmFit
from mujo_edge.data.motionsense import MotionSense
from mujo_edge.data.myogym import MyoGym
from mujo_edge.data.sp_sw_har import SpSwHar
from mujo_edge.data.spar_watch import SparWatch
from mujo_edge.registry import Registry

DATASETS: Registry[DatasetLoader] = Registry("dataset")
for _loader in (SparWatch(), SpSwHar(), Hapt(), Hmp(), MotionSense(), Mhealth(), MmFit(), MyoGym(), CsvRecordings()):
    DATASETS.register(_loader.spec.name, _loader)


def research_only(sources: Iterable[str]) -> tuple[str, ...]:
    """The datasets among `sources` whose licence forbids redistribution (sorted); names that are not datasets
    (e.g. "synthetic", a user's extra corpus) are not judged here."""
    return tuple(sorted({s for s in sources if s in DATASETS and not DATASETS.get(s).spec.redistributable}))


def get_loader(name: str) -> DatasetLoader:
    return DATASETS.get(name)

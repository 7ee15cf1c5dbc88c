"""Mesa agents other than CMOs and the Region.

SMEs live only in :class:`~clustersim.population.FirmArrays`. Large anchor firms are thin
handles over their rows there. Research organisations, training agencies and external
partners are few and carry their own small state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class LargeFirm(mesa.Agent):
    """An anchor firm: a handle over row ``index`` of the firm arrays."""

    def __init__(self, model: ClusterModel, index: int) -> None:
        """Attach to firm row ``index``."""
        super().__init__(model)
        self.index = index

    @property
    def member_of(self) -> int:
        """Cluster index the firm belongs to, or -1."""
        return int(self.model.firms.member_of[self.index])

    @property
    def employees(self) -> int:
        """Head count."""
        return int(self.model.firms.employees[self.index])


class ResearchOrganisation(mesa.Agent):
    """A university department or research centre with limited project capacity."""

    def __init__(self, model: ClusterModel, profile: np.ndarray, capacity: int) -> None:
        """Create with a competence ``profile`` and ``capacity`` concurrent projects."""
        super().__init__(model)
        self.profile = profile
        self.capacity = capacity
        self.active_projects = 0
        self.collaborations = 0

    @property
    def has_capacity(self) -> bool:
        """Whether the organisation can take one more project."""
        return self.active_projects < self.capacity


class TrainingAgency(mesa.Agent):
    """An accredited training agency that CMOs sign agreements with."""

    def __init__(self, model: ClusterModel) -> None:
        """Create with no agreement."""
        super().__init__(model)
        self.agreements = 0


class ExternalPartner(mesa.Agent):
    """Another region or country: the target of international links and ties."""

    def __init__(self, model: ClusterModel, inter_regional: bool) -> None:
        """Create; ``inter_regional`` is True for Italian regions, False for abroad."""
        super().__init__(model)
        self.inter_regional = inter_regional
        self.cmo_links = 0
        self.firm_ties = 0

"""What every consuming service's service layer shares: the unit of work and the event dispatch table."""

from shared.service_layer.unit_of_work import Handlers, UnitOfWork, dispatch

__all__ = ["Handlers", "UnitOfWork", "dispatch"]

"""What every consuming service's service layer shares: the unit of work (one per event, or a batch of
savepoints) and the event dispatch table."""

from shared.service_layer.unit_of_work import (BatchPrepare, BatchUnitOfWork, Handlers, UnitOfWork, dispatch,
                                               dispatch_batch)

__all__ = ["BatchPrepare", "BatchUnitOfWork", "Handlers", "UnitOfWork", "dispatch", "dispatch_batch"]

"""Python workers for taskmill: ``Worker`` runs ``@worker.handler("type")`` functions.

Run a worker from code (``worker.run()``) or with
``python -m taskmill.worker --broker tcp://host:5556 --queues q --concurrency 4 module:worker``.
"""

from taskmill.errors import PermanentError
from taskmill.worker.handler import Awaiting, Poll
from taskmill.worker.runtime import Handler, HandlerResult, Worker
from taskmill.worker.task import Task

__all__ = ["Awaiting", "Handler", "Poll", "HandlerResult", "PermanentError", "Task", "Worker"]

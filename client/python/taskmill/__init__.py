"""taskmill: the Python client and worker of the taskmill distributed task queue."""

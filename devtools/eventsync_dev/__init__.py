"""What eventsync_dagster is developed and shown with, outside the shipped package: the fake
vendor APIs (`fake_api`, for tests, the demo and the benchmark) and `make demo` (`demo`)."""

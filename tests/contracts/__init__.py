"""Contract test suites, importable by the test modules of each backend.

``index.IndexContract`` (IndexBackend) and ``state.StateStoreContract`` (StateStore): a
backend's test class subclasses one and overrides its fixtures that open the backend.
"""

"""A Kubernetes API server for custom resources, as far as a client that lists and watches
them sees it: ``store`` (objects at every resourceVersion since the last compaction),
``selectors`` (label selectors), ``listing`` (lists paged by ``limit``/``continue``, 410 Gone on
a compacted version), ``watching`` (watch streams with bookmarks), ``discovery`` (the documents
kubectl reads to find a resource), ``handler`` (routes, bearer tokens, Status errors) and
``server`` (the loopback server, plain or TLS). ``kubectl`` and the official ``kubernetes``
client list and watch against it in tests: that is how its fidelity is checked.
"""

"""One renderer per concept: jobs, clusters, and the exporter's health per target."""

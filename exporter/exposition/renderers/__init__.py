"""Poll-time renderers, one per concept (jobs, clusters, the exporter's health per target):
each writes the samples of what was polled into a block when a poll ends, not at a scrape."""

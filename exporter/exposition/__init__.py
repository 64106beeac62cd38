"""The metrics as served: the families, the block store that holds each target's rendered
series, the renderers that write them, histograms, label bounding and the process's own series.
"""

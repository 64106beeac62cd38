"""The configuration: YAML read safely, the files it names, its types, and the one
validation path that start, --check-config and reload share.
"""

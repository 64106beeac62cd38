"""Service level objectives over the jobs' series: the ``slos`` section of the configuration
(``model``), checked against the attribution it groups by (``checks``), and the Prometheus
rules made from it (``rules``: recording rules and multi-window, multi-burn-rate alerts;
``render``: the rule file's text that ``--slo.print-rules`` prints)."""

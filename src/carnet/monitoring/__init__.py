"""Production monitoring's engine: drift (``drift``), data quality (``quality``), performance with and
without labels (``performance``, ``perf_*``) and the windows that tie them to the prediction log
(``window``), and the A/B analysis of live versions (``ab``). Pure computation over frames and
profiles; the monitoring service stores the results, the A/B analysis service reports them.
"""

"""The shell around the pure core: the command line and its options (``cli``, ``config``,
``settings_file``), the processes (``workers``, ``pool``, ``lifecycle``), the aiohttp
application (``app``) and its request pipeline (``handlers``), the cache and rewrite rules
it is built with (``caching``, ``siterules``), the one upstream (``upstream``,
``connections``, ``headers``), and what operators see (``health``, ``metrics``,
``operators``, ``logs``, ``accesslog``, ``requestid``, ``deadlines``, ``errors``)."""

"""What a reader gets, made without any I/O: the pure core of the proxy.

A page is decoded (``charset``, ``codings``), parsed and rewritten once for every mode
(``rewrite``, with ``links``, ``relative``, ``noscript``, ``viewport``, ``paint``), its
stylesheets follow the modes (``css``, ``restyle``), and each mode's markup is made here
(``modes``, ``toolbar``, ``placement``, ``sharepage``, ``errorpage``), with the operator's
``tuning`` and the proxy's own stylesheets (``assets``). Nothing here imports aiohttp or the
server.
"""

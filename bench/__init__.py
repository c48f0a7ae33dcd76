"""The benchmark against nginx and aiohttp's ceiling (``python -m bench``); never part of CI."""

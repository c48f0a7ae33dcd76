"""Everything that can go wrong, as one small hierarchy, mapped to HTTP in exactly one place.

ProxyError                  our own failure to answer; never a traceback for the visitor
├── ClientError       4xx   the request itself cannot be served (bad target, too large)
└── UpstreamError     502   the site did not give a usable answer
    ├── UpstreamUnreachable 502   connection refused, reset, DNS failure
    ├── UpstreamBroken      502   closed mid-body, lied about its length, bad encoding
    └── UpstreamTimeout     504   no answer in the configured time
"""

from __future__ import annotations


class ProxyError(Exception):
    status = 500
    #: Plain words for the visitor, in English and Ukrainian; no internal detail.
    title = ("Something went wrong", "Щось пішло не так")
    explanation = (
        "The reading-mode proxy could not answer this request.",
        "Проксі режиму читання не зміг відповісти на цей запит.",
    )


class ClientError(ProxyError):
    status = 400
    title = ("Bad request", "Неправильний запит")
    explanation = (
        "This address cannot be requested through the reading-mode proxy.",
        "Цю адресу не можна відкрити через проксі режиму читання.",
    )

    def __init__(self, status: int = 400, detail: str = "") -> None:
        super().__init__(detail)
        self.status = status


class UpstreamError(ProxyError):
    status = 502
    title = ("The website did not answer properly", "Вебсайт відповів неправильно")
    explanation = (
        "The site behind this reading-mode proxy sent an answer that could not be used. "
        "Please try again in a few minutes.",
        "Сайт, що стоїть за цим проксі, надіслав відповідь, якою неможливо скористатися. "
        "Спробуйте ще раз за кілька хвилин.",
    )


class UpstreamUnreachable(UpstreamError):
    title = ("The website is not reachable", "Вебсайт недоступний")
    explanation = (
        "The reading-mode proxy could not connect to the site. It may be down for "
        "maintenance. Please try again in a few minutes.",
        "Проксі режиму читання не зміг з'єднатися з сайтом. Можливо, на ньому тривають "
        "технічні роботи. Спробуйте ще раз за кілька хвилин.",
    )


class UpstreamBroken(UpstreamError):
    pass


class UpstreamTimeout(UpstreamError):
    status = 504
    title = ("The website is taking too long", "Вебсайт відповідає надто довго")
    explanation = (
        "The site did not answer in time. It may be busy. Please try again in a few minutes.",
        "Сайт не відповів вчасно. Можливо, він перевантажений. Спробуйте ще раз за кілька хвилин.",
    )

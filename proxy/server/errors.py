"""Everything that can go wrong, as one small hierarchy, mapped to HTTP in exactly one place.

ProxyError                  our own failure to answer; never a traceback for the visitor
├── ClientError       4xx   the request itself cannot be served (bad target, too large)
│   └── MethodRefused 405   a method the proxy never passes on (TRACE, TRACK)
├── Unsupported       501   a kind of request the proxy does not relay (WebSocket)
└── UpstreamError     502   the site did not give a usable answer
    ├── UpstreamUnreachable 502   connection refused, reset, DNS failure
    ├── UpstreamBroken      502   closed mid-body, lied about its length, bad encoding
    └── UpstreamTimeout     504   no answer in the configured time
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

Words = tuple[str, str]


class ProxyError(Exception):
    """The detail (``str(error)``) is for the log only, on one line; visitors see the words."""

    status = 500
    #: Plain words for the visitor, in English and Ukrainian; no internal detail.
    title: Words = ("Something went wrong", "Щось пішло не так")
    explanation: Words = (
        "The reading-mode proxy could not answer this request.",
        "Проксі режиму читання не зміг відповісти на цей запит.",
    )
    #: Fields the error response must carry (Allow for a 405, say).
    headers: Mapping[str, str] = MappingProxyType({})

    def __str__(self) -> str:
        # Library messages can span lines (a parser error quotes the bad bytes); a log line
        # per failure must stay one line.
        return " ".join(super().__str__().split())


# The words of a client error follow its status: a missing page is not a bad request.
_CLIENT_WORDS: Final[dict[int, tuple[Words, Words]]] = {
    404: (
        ("Page not found", "Сторінку не знайдено"),
        (
            "There is nothing at this address of the reading-mode proxy.",
            "За цією адресою в проксі режиму читання нічого немає.",
        ),
    ),
    413: (
        ("The request is too large", "Запит завеликий"),
        (
            "What you are sending (a form or a file) is larger than this site accepts "
            "through the reading-mode proxy.",
            "Те, що ви надсилаєте (форма або файл), більше, ніж сайт приймає через проксі "
            "режиму читання.",
        ),
    ),
    405: (
        ("This kind of request is not allowed", "Такий запит не дозволено"),
        (
            "The reading-mode proxy does not pass this kind of request on to the site.",
            "Проксі режиму читання не передає сайту такий запит.",
        ),
    ),
    414: (
        ("The address is too long", "Адреса задовга"),
        (
            "This address is too long to be opened through the reading-mode proxy.",
            "Ця адреса задовга, щоб відкрити її через проксі режиму читання.",
        ),
    ),
}


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
        if status in _CLIENT_WORDS:
            self.title, self.explanation = _CLIENT_WORDS[status]


class MethodRefused(ClientError):
    """A method the proxy answers itself with 405; ``allow`` lists those it passes on."""

    def __init__(self, method: str, allow: str) -> None:
        super().__init__(405, f"{method} is never passed on")
        self.headers = MappingProxyType({"Allow": allow})


class Unsupported(ProxyError):
    status = 501
    title = ("This kind of connection is not supported", "Такий тип з'єднання не підтримується")
    explanation = (
        "The reading-mode proxy shows the site's pages; live connections such as "
        "WebSocket are not passed on.",
        "Проксі режиму читання показує сторінки сайту; постійні з'єднання, як-от WebSocket, "
        "він не передає.",
    )


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

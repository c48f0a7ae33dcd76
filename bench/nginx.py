"""What an operator would pick instead: nginx with sub_filter and proxy_cache.

nginx caches the upstream's page as it came and runs ``sub_filter`` on it for every answer,
hits included: it links a stylesheet chosen by the mode cookie before ``</head>`` and maps the
upstream origin to the public one. It runs in the foreground under the benchmark, with its
prefix, cache and temporary files in a folder of its own, on loopback only.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from proxy.rewriting.modes import ALL_MODES


def config(prefix: Path, *, port: int, upstream_port: int, workers: int) -> str:
    upstream = f"http://127.0.0.1:{upstream_port}"
    public = f"http://127.0.0.1:{port}"
    tokens = "\n".join(f"        {m.token} {m.token};" for m in ALL_MODES)
    # As root, nginx would hand its workers to "nobody", who may not write our cache folder.
    user = pwd.getpwuid(os.geteuid()).pw_name
    user_line = f"user {user};" if os.geteuid() == 0 else ""
    return f"""
{user_line}
daemon off;
master_process on;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy_temp;
    fastcgi_temp_path {prefix}/fastcgi_temp;
    uwsgi_temp_path {prefix}/uwsgi_temp;
    scgi_temp_path {prefix}/scgi_temp;
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=pages:16m max_size=2g
                     inactive=30m use_temp_path=off;
    map $cookie_a11y_mode $a11y_sheet {{
        default default-100;
{tokens}
    }}
    upstream site {{
        server 127.0.0.1:{upstream_port};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://site;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # sub_filter cannot edit a compressed body.
            proxy_set_header Accept-Encoding "";
            proxy_cache pages;
            proxy_cache_valid 200 10m;
            sub_filter '</head>' '<link rel="stylesheet" href="/_a11y/css/$a11y_sheet.css"></head>';
            sub_filter '{upstream}' '{public}';
            sub_filter_once off;
            sub_filter_types text/html;
        }}
    }}
}}
"""


def command(binary: str, prefix: Path) -> list[str]:
    return [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]


def prepare(prefix: Path, *, port: int, upstream_port: int, workers: int) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    text = config(prefix, port=port, upstream_port=upstream_port, workers=workers)
    (prefix / "nginx.conf").write_text(text)

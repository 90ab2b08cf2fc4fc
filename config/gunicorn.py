"""gunicorn settings (`gunicorn -c config/gunicorn.py config.wsgi`), read from the environment.

Sync workers read a chunked request body (Transfer-Encoding: chunked) whole and mark the stream as ended
(wsgi.input_terminated), which the push API honours. The proxy in front (docker-compose) is the only client."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Headers such as X-Forwarded-Proto are believed only from these addresses (the proxy's network).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
accesslog = "-"

"""The worker's cron job (every five minutes): here it only says it ran."""

import datetime

print(f"cleanup ran at {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC", flush=True)

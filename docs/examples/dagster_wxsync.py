"""Dagster: `wxsync sync` as an asset, scheduled daily just after the WeChat API quotas reset.

Exit 75 (stopped early, cursor saved) and 1 are retried 3 hours later and resume; 78
(configuration or permission) and 2 (usage) fail the run at once. WECHAT_APPID,
WECHAT_SECRET and CLICKHOUSE_DSN come from the run's environment (a Kubernetes Secret, the
code location's .env, ...).
"""

import os
import subprocess

import dagster as dg

# wxsync-source-wechat must sit in the same directory as wxsync.
WXSYNC = "/usr/local/bin/wxsync"


@dg.asset(description="A WeChat Official Account's followers, profiles, tags and blacklist, in ClickHouse.")
def wechat_account() -> None:
    proc = subprocess.Popen([WXSYNC, "sync"], env=os.environ.copy())
    try:
        code = proc.wait()
    except BaseException:
        # The run was terminated: let wxsync commit what it has and save its cursor.
        proc.terminate()
        proc.wait(timeout=180)
        raise
    if code in (1, 75):
        raise dg.RetryRequested(max_retries=6, seconds_to_wait=3 * 3600)
    if code != 0:
        raise dg.Failure(
            description=f"wxsync sync exited {code}: fix the configuration (see docs/troubleshooting.md)",
            allow_retries=False,
        )


# The tag lets dagster.yaml keep two syncs of the account from overlapping:
#   concurrency:
#     runs:
#       tag_concurrency_limits:
#         - key: wxsync
#           limit: 1
wxsync_job = dg.define_asset_job("wxsync", selection=[wechat_account], tags={"wxsync": "sync"})

defs = dg.Definitions(
    assets=[wechat_account],
    jobs=[wxsync_job],
    schedules=[
        dg.ScheduleDefinition(job=wxsync_job, cron_schedule="30 0 * * *", execution_timezone="Asia/Shanghai"),
    ],
)

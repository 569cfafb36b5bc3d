"""Airflow DAG: run `wxsync sync` once a day, just after the WeChat API quotas reset.

Exit codes (see README.md): 0 done; 75 stopped early with the cursor saved (retry later,
the next try resumes); 78 configuration or permission error and 2 usage error (retrying
fails the same way: fail at once); 1 anything else (retrying is safe).

A BashOperator cannot tell these apart: it fails the same way on every non-zero exit, so
Airflow would retry a 78 as often as a 75, and `skip_on_exit_code` would turn a broken
configuration into a silent "skipped". This task runs wxsync through Airflow's
SubprocessHook (which streams its log into the task log, like BashOperator) and raises
AirflowFailException, which fails the task without using its retries, for 78 and 2.

Airflow 2.4 or later (the `schedule` argument). Settings come from Airflow Variables:
    airflow variables set wxsync_wechat_appid  wx0123456789abcdef
    airflow variables set wxsync_wechat_secret '<AppSecret>'
    airflow variables set wxsync_clickhouse_dsn 'clickhouse://wxsync:<password>@ch.internal:9000/analytics'
Variables whose name contains "secret" are masked in logs; the DSN is masked explicitly.
"""

import contextlib
import os
from datetime import timedelta

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowException, AirflowFailException
from airflow.hooks.subprocess import SubprocessHook
from airflow.models import Variable
from airflow.utils.log.secrets_masker import mask_secret

# wxsync-source-wechat must sit in the same directory as wxsync.
WXSYNC = "/usr/local/bin/wxsync"


@dag(
    dag_id="wxsync",
    # 00:30 Beijing time: the API's daily quotas reset at midnight Beijing time.
    schedule="30 0 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    # Two syncs of one account must never overlap: a retrying run holds back the next one.
    max_active_runs=1,
    tags=["wxsync"],
)
def wxsync_dag():
    @task(
        # Exit 75 (quota used up, WeChat or ClickHouse down for longer than wxsync's own
        # retries) and exit 1: try again 3 hours later; each try resumes from the cursor.
        # 6 retries, 3 hours apart, end before the next day's run; a sync the quota cannot
        # finish today is then resumed by tomorrow's run.
        retries=6,
        retry_delay=timedelta(hours=3),
        # A hung run is stopped with SIGTERM (below): wxsync saves its cursor and exits 75.
        execution_timeout=timedelta(hours=6),
    )
    def sync():
        dsn = Variable.get("wxsync_clickhouse_dsn")
        mask_secret(dsn)
        env = dict(
            os.environ,
            WECHAT_APPID=Variable.get("wxsync_wechat_appid"),
            WECHAT_SECRET=Variable.get("wxsync_wechat_secret"),
            CLICKHOUSE_DSN=dsn,
        )
        hook = SubprocessHook()
        try:
            result = hook.run_command(command=[WXSYNC, "sync"], env=env)
        except BaseException:
            # Timeout, or the task was killed from the UI: Airflow interrupts this function
            # but not the child process. SIGTERM makes wxsync commit what it has received,
            # save its cursor and exit 75, so no orphan keeps running into the next try.
            with contextlib.suppress(ProcessLookupError):
                hook.send_sigterm()
            raise
        code = result.exit_code
        if code == 0:
            return
        if code in (2, 78):
            raise AirflowFailException(
                f"wxsync sync exited {code}: fix the configuration or the account's "
                f"permissions (see docs/troubleshooting.md); last line: {result.output}"
            )
        raise AirflowException(
            f"wxsync sync exited {code}; the cursor is saved and the retry resumes; "
            f"last line: {result.output}"
        )

    sync()


wxsync_dag()

"""Parsing what HAProxy's runtime API answers: `show proc` and `show stat`."""

from __future__ import annotations

import pytest

from yun.router.control import parse_show_proc
from yun.router.stats import parse_stat_csv

SHOW_PROC = """\
#<PID>          <type>          <reloads>       <uptime>        <version>
4692            master          4 [failed: 1]   0d00h10m26s     2.6.12-1+deb12u4
# workers
17304           worker          0               0d00h00m00s     2.6.12-1+deb12u4
# old workers
17300           worker          1               0d00h00m01s     2.6.12-1+deb12u4
17290           worker          2               0d00h00m02s     2.6.12-1+deb12u4
# programs

"""


def test_show_proc_lists_master_workers_and_draining_workers():
    table = parse_show_proc(SHOW_PROC)

    assert (table.master, table.reloads, table.failed_reloads) == (4692, 4, 1)
    assert table.workers == (17304,)
    assert table.old_workers == (17300, 17290)


def test_show_proc_rejects_other_answers():
    with pytest.raises(ValueError):
        parse_show_proc("Unknown command.\n")


SHOW_STAT = """\
# pxname,svname,qcur,scur,stot,status,hrsp_2xx,
yun_http,FRONTEND,,0,7,OPEN,5,
be_guid-1,idx-0,0,0,5,no check,5,
be_guid-1,BACKEND,0,0,5,UP,5,

"""


def test_show_stat_rows_are_keyed_by_header():
    rows = parse_stat_csv(SHOW_STAT)

    assert len(rows) == 3
    assert rows[1] == {
        "pxname": "be_guid-1",
        "svname": "idx-0",
        "qcur": "0",
        "scur": "0",
        "stot": "5",
        "status": "no check",
        "hrsp_2xx": "5",
    }


def test_show_stat_rejects_other_answers():
    with pytest.raises(ValueError):
        parse_stat_csv("Permission denied\n")

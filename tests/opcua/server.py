#!/usr/bin/env python3
"""Test OPC UA historian for tests/live_opcua.rs (Python `asyncua`).

Replays a long historian export (`timestamp,tag,value,quality,result_timestamp`)
as one Double variable per tag (node ids `ns=2;i=1001`... in tag order,
printed as `NODE <tag> <node id>` lines), in the order the
values became available (result time for lab rows, sample time otherwise),
`--interval-ms` apart. Each value is written with its source timestamp (the
sample time) and server timestamp (the result time), and saved to a SQLite
history, so that a client can back-fill a gap with HistoryRead (raw).

Killed (SIGKILL) and restarted with the same `--history` and `--progress`
files it resumes after the last row it wrote: that is how the test simulates a
lost connection. With `--gap-rows N` a restart first writes N rows *before*
it listens, so those rows can only reach a client through HistoryRead.

Quality column: `good`/empty -> Good, `uncertain` -> UncertainLastUsableValue,
`bad` -> BadSensorFailure with no value (as a historian sends a failed read).

Prints `LISTENING <port>` once clients can connect and `DONE <rows>` once
every row is written; then serves until killed.
"""

import argparse
import asyncio
import csv
import dataclasses
import os
import sys
from datetime import datetime, timedelta, timezone

from asyncua import Server, ua
from asyncua.server.history_sql import HistorySQLite

NAMESPACE = "urn:biotwin:test-historian"


def _naive(t):
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t is not None and t.tzinfo else t


def _aware(t):
    return t.replace(tzinfo=timezone.utc) if t is not None and t.tzinfo is None else t


class UtcHistory(HistorySQLite):
    """HistorySQLite that stores naive UTC datetimes: its sqlite3 converter
    cannot parse the `+00:00` of aware ones, so a read would fail."""

    async def save_node_value(self, node_id, datavalue):
        dv = dataclasses.replace(
            datavalue,
            SourceTimestamp=_naive(datavalue.SourceTimestamp),
            ServerTimestamp=_naive(datavalue.ServerTimestamp),
        )
        await super().save_node_value(node_id, dv)

    async def read_node_history(self, node_id, start, end, nb_values):
        epoch = ua.get_win_epoch()
        if start is None or start == epoch:
            start = epoch
        if end is None or end == epoch:
            end = datetime.now(timezone.utc) + timedelta(days=1)
        # Both bounds given and naive, so the base class compares like with like.
        dvs, cont = await super().read_node_history(node_id, _naive(start), _naive(end), nb_values)
        dvs = [
            dataclasses.replace(dv, SourceTimestamp=_aware(dv.SourceTimestamp), ServerTimestamp=_aware(dv.ServerTimestamp))
            for dv in dvs
        ]
        return dvs, _aware(cont)


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["sample"] = parse_time(r["timestamp"])
        result = (r.get("result_timestamp") or "").strip()
        r["available"] = parse_time(result) if result else r["sample"]
    # The historian receives values when they become available.
    rows.sort(key=lambda r: (r["available"], r["sample"], r["tag"]))
    return rows


def data_value(row):
    quality = (row.get("quality") or "good").strip().lower()
    if quality in ("", "good"):
        variant = ua.Variant(float(row["value"]), ua.VariantType.Double)
        status = ua.StatusCode(ua.StatusCodes.Good)
    elif quality == "uncertain":
        variant = ua.Variant(float(row["value"]), ua.VariantType.Double)
        status = ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)
    elif quality == "bad":
        variant = ua.Variant(None, ua.VariantType.Null)
        status = ua.StatusCode(ua.StatusCodes.BadSensorFailure)
    else:
        raise SystemExit(f"{row}: quality must be good, uncertain or bad")
    return ua.DataValue(
        Value=variant,
        StatusCode=status,
        SourceTimestamp=row["sample"],
        ServerTimestamp=row["available"],
    )


def read_progress(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def write_progress(path, n):
    # Atomic, so a kill leaves the old or the new count, never half a number.
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(n))
    os.replace(tmp, path)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--history", required=True, help="SQLite history file")
    ap.add_argument("--progress", required=True, help="file holding the rows written")
    ap.add_argument("--interval-ms", type=float, default=10.0)
    ap.add_argument("--gap-rows", type=int, default=0)
    args = ap.parse_args()

    rows = read_rows(args.csv)
    done = read_progress(args.progress)

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{args.port}/biotwin/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(NAMESPACE)
    storage = UtcHistory(args.history)
    await storage.init()
    server.iserver.history_manager.set_storage(storage)

    folder = await server.nodes.objects.add_folder(ua.NodeId("historian", ns), "Historian")
    nodes = {}
    for k, tag in enumerate(sorted({r["tag"] for r in rows})):
        # Numeric ids: asyncua's SQLite history names a table after the id.
        var = await folder.add_variable(ua.NodeId(1001 + k, ns), tag, 0.0, varianttype=ua.VariantType.Double)
        access = ua.AccessLevel.CurrentRead | ua.AccessLevel.HistoryRead
        await var.write_attribute(ua.AttributeIds.AccessLevel, ua.DataValue(ua.Variant(access, ua.VariantType.Byte)))
        await var.write_attribute(ua.AttributeIds.UserAccessLevel, ua.DataValue(ua.Variant(access, ua.VariantType.Byte)))
        await var.write_attribute(ua.AttributeIds.Historizing, ua.DataValue(ua.Variant(True, ua.VariantType.Boolean)))
        # No value yet: a client must not take the placeholder for data.
        await server.write_attribute_value(
            var.nodeid, ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData))
        )
        # Every write is saved by write_row (not by a server-side subscription,
        # which would skip a repeated value with a new timestamp).
        await storage.new_historized_node(var.nodeid, None, 0)
        nodes[tag] = var
        print(f"NODE {tag} ns={ns};i={1001 + k}", flush=True)

    async def write_row(i):
        row = rows[i]
        dv = data_value(row)
        await server.write_attribute_value(nodes[row["tag"]].nodeid, dv)
        await storage.save_node_value(nodes[row["tag"]].nodeid, dv)
        write_progress(args.progress, i + 1)

    # Restart: rows written while no client could connect.
    if done > 0:
        for i in range(done, min(done + args.gap_rows, len(rows))):
            await write_row(i)
            done = i + 1

    async with server:
        print(f"LISTENING {args.port}", flush=True)
        for i in range(done, len(rows)):
            await asyncio.sleep(args.interval_ms / 1000.0)
            await write_row(i)
        print(f"DONE {len(rows)}", flush=True)
        while True:
            await asyncio.sleep(3600)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

"""`<node>_doors.json`: the non-secret config of a hosted node's HTTP doors
(runtime/hosted/http_door), one entry per export(..., http = PORT) the node is the gateway of.

Written for every hosted node (an empty list without doors), so the build declares the file
without knowing the plan. The secrets (the door's pair key, the token public key) are not here:
they are in the node's door_keys.json from the keys action.
"""
from __future__ import annotations

import json
from typing import Any

from ambience.backend import CONSOLE_ADDRESS, CONSOLE_NETWORK, CONSOLE_PORT
from ambience.plan_json import NodeDocument

DOORS_FORMAT = 1
DOOR_TIMEOUT_MS = 2000  # a call's deadline: the door's node runs the instance (one UDP hop)
DOOR_MAX_BODY = 64 << 10  # bytes of JSON a request may carry


def doors_doc(doc: NodeDocument) -> dict[str, Any]:
    console = [e for e in doc.endpoints if e.network == CONSOLE_NETWORK]
    doors = []
    for x in doc.exports:
        if x.http is None:
            continue
        inst = next(i for i in doc.instances if i.name == x.instance)  # the planner put it on this node
        cap = next(c for c in doc.capabilities if c.callee == x.instance and c.caller == f"external:{x.network}")
        doors.append({
            "instance": x.instance, "network": x.network, "door": x.door, "http": x.http,
            "interface": inst.interface, "object_id": x.object_id,
            "procedures": [{"name": p.name, "id": p.id, "idempotent": bool((x.idempotent >> p.id) & 1)}
                           for p in cap.procedures],
            "timeout_ms": DOOR_TIMEOUT_MS, "max_body": DOOR_MAX_BODY})
    return {
        "ambience_doors": DOORS_FORMAT,
        "deployment": "//" + doc.package.strip("/"),
        "node": doc.node.name,
        "node_number": doc.runtime.node_ids.get(doc.node.name, 0),
        "entry_endpoint": f"{console[0].address}:{console[0].port}" if console else "",
        "console_endpoint": f"{CONSOLE_ADDRESS}:{CONSOLE_PORT}",
        "doors": doors,
    }


def doors_json(doc: NodeDocument) -> str:
    return json.dumps(doors_doc(doc), indent=1, sort_keys=True) + "\n"

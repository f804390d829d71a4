"""Every SUBMIT and BATCH carries a request_id (protocol-messages.md 8.1): 32 hex digits of
128 random bits, fresh per request and kept by the Call, so a resend of it is stored once."""

from __future__ import annotations

import re

from taskmill import TaskSpec
from taskmill import messages as m
from taskmill.calls import batch_spec, submit_batch, submit_many
from taskmill.codec import decode, encode

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_submits_and_batches_carry_a_fresh_request_id() -> None:
    spec = TaskSpec(type="echo")
    first = submit_many([spec], 1.0).request
    second = submit_many([spec], 1.0).request
    batch = submit_batch(batch_spec([TaskSpec(type="echo", name="a")], "", None, None),
                         False, 1.0).request
    for req in (first, second, batch):
        assert HEX32.fullmatch(req.request_id), req.request_id
    assert len({first.request_id, second.request_id, batch.request_id}) == 3


def test_the_request_id_goes_on_the_wire() -> None:
    req = submit_many([TaskSpec(type="echo")], 1.0).request
    req.req_id = 7
    back = decode(encode(req))
    assert isinstance(back, m.Submit)
    assert back.request_id == req.request_id

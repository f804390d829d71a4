import json

import taskmill
from taskmill import TaskSpec


def step(name: str, *parents: str) -> TaskSpec:
    # An exec step reads its parents' outputs from $TASKMILL_PARENTS_DIR/<name>
    # (a Python handler gets them as task.parents).
    cat = "".join(f'cat "$TASKMILL_PARENTS_DIR/{p}"; ' for p in parents)
    script = f"printf '{name}('; {cat}printf ')'"
    return TaskSpec(type="exec", name=name, depends_on=list(parents),
                    payload=json.dumps({"argv": ["sh", "-c", script]}).encode())


with taskmill.Client() as client:  # a diamond: fetch -> (left, right) -> merge
    run = client.submit_batch(
        [step("fetch"), step("left", "fetch"), step("right", "fetch"),
         step("merge", "left", "right")],
        budget={"usd": 1.0}, subscribe=True)
    for event in run.subscription:  # ends after batch_completed
        print(event.type, event.task_name, f"{event.done}/{event.total}")
    status = client.get_batch(run.status.id)
    print(status.state, client.get(status.tasks["merge"]).output.decode())

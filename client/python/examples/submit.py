import taskmill

# The broker's frontend: $TASKMILL_BROKER, else tcp://127.0.0.1:5555.
with taskmill.Client() as client:
    task_id = client.submit("exec", {"argv": ["echo", "hello"]}, max_attempts=2)
    info = client.result(task_id, timeout=30)  # raises TaskFailed if it failed
    print(info.state, info.exit_code, info.stdout.decode().strip())
    try:
        client.result(client.submit("fail", {"retryable": False}), timeout=30)
    except taskmill.TaskFailed as e:
        print("failed:", e.code, "after", e.attempts, "attempt(s)")

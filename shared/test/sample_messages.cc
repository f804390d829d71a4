#include "sample_messages.h"

namespace taskmill::protocol::testing {
namespace {

TaskSpec FullSpec() {
  TaskSpec s;
  s.id = "01JD0000000000000000000001";
  s.name = "thumb";
  s.queue = "images";
  s.type = "resize";
  s.payload = std::string("\x01\x02\x00\xff", 4);
  s.priority = 200;
  s.max_attempts = 5;
  s.backoff = BackoffPolicy{250, 30000, 1.5, true};
  s.timeout_ms = 60000;
  s.idempotency_key = "order-42";
  s.not_before_ms = 1700000000123;
  s.batch_id = "01JD00000000000000000000B1";
  s.depends_on = {"fetch", "decode"};
  s.labels = {{"team", "media"}, {"tier", "gold"}};
  return s;
}

TaskInfo FullInfo() {
  TaskInfo t;
  t.id = "01JD0000000000000000000001";
  t.queue = "images";
  t.type = "exec";
  t.batch_id = "01JD00000000000000000000B1";
  t.name = "thumb";
  t.state = TaskState::kFailed;
  t.priority = 7;
  t.attempts = 3;
  t.max_attempts = 3;
  t.output = "partial";
  t.error = TaskError{"exit_status", "exited with status 2", true};
  t.exit_code = -2;
  t.stdout_data = "hello\n";
  t.stderr_data = "oops\n";
  t.duration_ms = 1234;
  t.cost = {{"cpu_ms", 12.5}, {"usd", 0.0125}};
  t.worker = "w-1";
  t.created_ms = 1700000000000;
  t.started_ms = 1700000000100;
  t.finished_ms = 1700000001334;
  t.history = {TaskError{"timeout", "attempt 1 timed out", true},
               TaskError{"exit_status", "exited with status 1", true}};
  return t;
}

}  // namespace

std::vector<Sample> SampleMessages() {
  std::vector<Sample> out;
  {
    TaskSpec minimal;
    minimal.type = "echo";
    minimal.payload = "hi";
    out.push_back({"submit_minimal", Submit{1, {minimal}, false, ""}});
    out.push_back(
        {"submit_full", Submit{2, {FullSpec(), minimal}, true, "9f86d081884c7d659a2feaa0c55ad015"}});
  }
  {
    BatchSpec b;
    TaskSpec a;
    a.name = "fetch";
    a.type = "exec";
    TaskSpec c;
    c.name = "merge";
    c.type = "exec";
    c.depends_on = {"fetch"};
    b.tasks = {a, c};
    b.budget = {{"usd", 0.5}};
    b.labels = {{"owner", "ci"}};
    out.push_back({"batch", Batch{3, b, true, ""}});
  }
  {
    // Every optional field of BATCH set (its id and the full TaskSpec included).
    BatchSpec b;
    b.id = "01JD00000000000000000000B2";
    TaskSpec first = FullSpec();
    first.batch_id.clear();  // set by the broker, never by a client
    first.depends_on.clear();
    first.name = "fetch";
    TaskSpec second = FullSpec();
    second.id = "01JD0000000000000000000002";
    second.batch_id.clear();
    second.idempotency_key.clear();  // batch members are deduplicated by the batch id
    second.name = "merge";
    second.depends_on = {"fetch"};
    b.tasks = {first, second};
    b.budget = {{"tokens", 100000.0}, {"usd", 2.5}};
    b.labels = {{"owner", "ci"}, {"run", "nightly"}};
    out.push_back({"batch_full", Batch{12, b, true, "0b1e2d3c4b5a69788796a5b4c3d2e1f0"}});
  }
  {
    // Issue 22: a batch's failure policy (BatchSpec.on_failure, its last field).
    BatchSpec b;
    TaskSpec a;
    a.name = "fetch";
    a.type = "exec";
    TaskSpec c;
    c.name = "report";
    c.type = "exec";
    c.depends_on = {"fetch"};
    b.tasks = {a, c};
    b.on_failure = "continue";
    out.push_back({"batch_policy_continue", Batch{19, b, false, ""}});
    b.on_failure = "fail_fast";
    out.push_back({"batch_policy_fail_fast", Batch{20, b, false, ""}});
    // Issue 22: a finally task (BatchSpec.finally, after on_failure).
    TaskSpec fin;
    fin.name = "finally";
    fin.queue = "ops";
    fin.type = "report";
    b.finally = fin;
    out.push_back({"batch_finally", Batch{21, b, true, ""}});
    // Issue 22: tasks added to a running batch (BatchSpec.append_to, after finally); a new
    // task's parent may be a task already in it, by name.
    BatchSpec app;
    TaskSpec more;
    more.name = "publish";
    more.type = "exec";
    more.depends_on = {"report"};
    app.tasks = {more};
    app.append_to = "01JD00000000000000000000B1";
    out.push_back({"batch_append", Batch{22, app, false, ""}});
  }
  out.push_back(
      {"wait", Wait{4, {"01JD0000000000000000000001", "01JD0000000000000000000002"}, 5000}});
  out.push_back({"get_ids", Get{5, {"01JD0000000000000000000001"}, ""}});
  out.push_back({"get_batch", Get{6, {}, "01JD00000000000000000000B1"}});
  out.push_back({"cancel", Cancel{7, {"01JD0000000000000000000001"}, "", "user asked"}});
  out.push_back({"subscribe", Subscribe{8, "01JD00000000000000000000B1", false}});
  out.push_back({"unsubscribe", Subscribe{13, "01JD00000000000000000000B1", true}});
  out.push_back({"cancel_batch", Cancel{14, {}, "01JD00000000000000000000B1", "over budget"}});
  out.push_back({"dlq_purge", Dlq{15, DlqOp::kPurge, "images", {"01JD0000000000000000000001"}, 7}});
  out.push_back({"stats", Stats{9, {"default", "images"}, {}, "", 0}});
  out.push_back({"stats_page", Stats{12, {}, {"queues", "workers"}, "q:images", 500}});
  out.push_back({"dlq_list", Dlq{10, DlqOp::kList, "images", {}, 50}});
  out.push_back({"dlq_retry", Dlq{11, DlqOp::kRetry, "", {"01JD0000000000000000000001"}, 100}});
  out.push_back(
      {"limit", Limit{16, "images", false, "100/s", 5, "usd=2.5/h", "tenant", "", true}});
  out.push_back({"limit_aging", Limit{17, "reports", false, "", 0, "", "", "30s", false}});
  out.push_back({"limit_clear", Limit{18, "images", true, "", 0, "", "", "", false}});
  {
    Reply r;
    r.req_id = 16;
    QueueStats q;
    q.queue = "images";
    q.limit = "rate=100/s concurrency=5 cost-rate=usd=2.5/h key=tenant round-robin";
    q.limit_running = 3;
    q.throttled = 42;
    r.queues = {q};
    r.count = 1;
    out.push_back({"reply_limit", r});
  }
  out.push_back({"queue_pause", QueueAdmin{19, QueueOp::kPause, "images"}});
  out.push_back({"queue_resume", QueueAdmin{20, QueueOp::kResume, "images"}});
  {
    // QUEUE's REPLY: the queue and whether it is paused now.
    Reply r;
    r.req_id = 19;
    QueueStats q;
    q.queue = "images";
    q.paused = true;
    r.queues = {q};
    r.count = 1;
    out.push_back({"queue_reply_paused", r});
  }
  out.push_back({"worker_quiet", WorkerAdmin{21, WorkerOp::kQuiet, "w-1"}});
  out.push_back({"worker_unquiet", WorkerAdmin{22, WorkerOp::kUnquiet, "w-1"}});
  {
    // WORKER's REPLY: the worker, the broker it is connected to, and whether it is quiet now.
    Reply r;
    r.req_id = 21;
    WorkerInfo w;
    w.id = "w-1";
    w.broker = "b-2";
    w.quiet = true;
    r.workers = {w};
    r.count = 1;
    out.push_back({"worker_reply_quiet", r});
  }
  {
    Reply r;
    r.req_id = 1;
    r.ids = {"01JD0000000000000000000001"};
    out.push_back({"reply_ids", r});
  }
  {
    Reply r;
    r.req_id = 2;
    r.ids = {"01JD0000000000000000000002"};
    r.count = 1;
    r.warnings = {
        "no connected worker serves type 'resize' in queue 'images'; its tasks wait until one "
        "does"};
    out.push_back({"reply_submit_warnings", r});
  }
  {
    // A CANCEL's REPLY: two tasks cancelled, the second still running (its worker is told).
    Reply r;
    r.req_id = 7;
    r.ids = {"01JD0000000000000000000001", "01JD0000000000000000000002"};
    r.count = 2;
    r.requested = {"01JD0000000000000000000002"};
    out.push_back({"reply_cancel", r});
  }
  {
    Reply r;
    r.req_id = 2;
    r.error = WireError{"invalid_argument", "tasks[0].priority: 300 is over the maximum of 255"};
    out.push_back({"reply_error", r});
  }
  {
    // Redis at its maxmemory: a distinct, retryable code (nothing was stored).
    Reply r;
    r.req_id = 3;
    r.error = WireError{"store_full",
                        "Redis is full (used memory is over its maxmemory, and it evicts "
                        "nothing): nothing was stored; retry once memory is freed"};
    out.push_back({"reply_store_full", r});
  }
  {
    Reply r;
    r.req_id = 3;
    r.error = WireError{"forbidden",
                        "DLQ purge needs the admin role; this key ('ci') has client: its .pub "
                        "belongs in the broker's --curve-admin-allow-dir"};
    out.push_back({"reply_forbidden", r});
  }
  {
    Reply r;
    r.req_id = 4;
    r.tasks = {FullInfo()};
    out.push_back({"reply_tasks", r});
  }
  {
    Reply r;
    r.req_id = 9;
    QueueStats q;
    q.queue = "images";
    q.ready = 10;
    q.delayed = 2;
    q.running = 3;
    q.dead = 1;
    q.submitted = 100;
    q.succeeded = 80;
    q.failed = 4;
    q.retried = 6;
    q.cancelled = 2;
    q.cost = {{"usd", 1.25}};
    WorkerInfo w{"w-1", {"images"}, {"resize", "exec"}, 4, 3, {{"host", "a"}}, ""};
    r.queues = {q};
    r.workers = {w};
    out.push_back({"reply_stats", r});
  }
  {
    Reply r;
    r.req_id = 12;
    QueueStats q;
    q.queue = "video";
    q.ready = 7;
    q.submitted = 7;
    r.queues = {q};
    BrokerStats b;
    b.workers = 2;
    b.queues = 1200;
    b.bad_frames = 3;
    b.tasks_dispatched = 40000;
    b.waits = 5;
    b.wait_ids = 5000;
    b.subscriptions = 1;
    b.quota_refusals = 9;
    r.broker = b;
    r.next_cursor = "q:video";
    out.push_back({"reply_stats_page", r});
  }
  {
    Reply r;
    r.req_id = 13;
    BrokerStats b;
    b.workers = 1;
    b.warnings = {"CURVE roles are shared (--curve-roles=shared)"};
    r.broker = b;
    out.push_back({"reply_stats_warnings", r});
  }
  {
    Reply r;
    r.req_id = 14;
    QueueStats q;
    q.queue = "images";
    q.ready = 23;
    q.submitted = 23;
    q.ready_by_type = {{"resize", 20}, {"thumbnail", 2}};
    q.more_types = 1;
    r.queues = {q};
    out.push_back({"reply_stats_by_type", r});
  }
  {
    Reply r;
    r.req_id = 3;
    BatchStatus b;
    b.id = "01JD00000000000000000000B1";
    b.state = "partial";
    b.total = 3;
    b.counts = {{"succeeded", 2}, {"failed", 1}};
    b.cost = {{"usd", 0.25}};
    b.budget = {{"usd", 0.5}};
    b.budget_exceeded = false;
    b.tasks = {{"fetch", "01JD0000000000000000000001"}};
    b.created_ms = 1700000000000;
    b.finished_ms = 1700000005000;
    b.critical_path_ms = 4200;
    r.batch = b;
    r.count = 3;
    out.push_back({"reply_batch", r});
  }
  {
    // Every optional field of a batch's status set: over its budget, not finished yet.
    Reply r;
    r.req_id = 16;
    BatchStatus b;
    b.id = "01JD00000000000000000000B2";
    b.state = "running";
    b.total = 4;
    b.counts = {{"cancelled", 2}, {"running", 1}, {"succeeded", 1}};
    b.cost = {{"tokens", 120000.0}, {"usd", 3.0}};
    b.budget = {{"tokens", 100000.0}, {"usd", 2.5}};
    b.budget_exceeded = true;
    b.tasks = {{"fetch", "01JD0000000000000000000001"}, {"merge", "01JD0000000000000000000002"}};
    b.created_ms = 1700000000000;
    b.finished_ms = 1700000009000;
    b.critical_path_ms = 8800;
    r.batch = b;
    r.ids = {"01JD0000000000000000000001", "01JD0000000000000000000002"};
    r.count = 2;
    out.push_back({"reply_batch_full", r});
  }
  {
    // Issue 22: a fail_fast batch's status (BatchStatus.on_failure, its last field).
    Reply r;
    r.req_id = 20;
    BatchStatus b;
    b.id = "01JD00000000000000000000B3";
    b.state = "failed";
    b.total = 2;
    b.counts = {{"cancelled", 1}, {"failed", 1}};
    b.tasks = {{"fetch", "01JD0000000000000000000001"}, {"report", "01JD0000000000000000000002"}};
    b.created_ms = 1700000000000;
    b.finished_ms = 1700000002000;
    b.on_failure = "fail_fast";
    r.batch = b;
    out.push_back({"batch_policy_reply", r});
    // Issue 22: its finally task, named and in its state (GET of the batch).
    r.req_id = 21;
    r.batch->finally_id = "01JD0000000000000000000003";
    r.batch->finally_state = "running";
    out.push_back({"batch_finally_reply", r});
  }
  out.push_back({"result", ResultMsg{FullInfo()}});
  {
    // A finished exec task with one artifact kept on the workers' volume and one inline.
    TaskInfo t;
    t.id = "01JD0000000000000000000001";
    t.type = "exec";
    t.state = TaskState::kSucceeded;
    t.attempts = 1;
    t.artifacts = {Artifact{"report/summary.txt", 2,
                            "6a5ac9bb8ea2c1ea36b4c0d8e3dd2e1b0bd0c6f0d1f2e3a4b5c6d7e8f9a0b1c2",
                            "file:///var/lib/taskmill/artifacts/01JD0000000000000000000001/"
                            "report/summary.txt",
                            ""},
                   Artifact{"small.bin", 3,
                            "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81",
                            "", std::string("\x01\x02\x03", 3)}};
    out.push_back({"result_artifacts", ResultMsg{t}});
  }
  {
    Event e;
    e.batch_id = "01JD00000000000000000000B1";
    e.type = "task_failed";
    e.task_id = "01JD0000000000000000000001";
    e.task_name = "thumb";
    e.state = "failed";
    e.done = 2;
    e.total = 3;
    e.progress = 0.75;
    e.message = "half way";
    e.error = TaskError{"exit_status", "exited with status 2", false};
    e.cost = {{"usd", 0.125}};
    e.ts_ms = 1700000002000;
    out.push_back({"event", e});
  }
  out.push_back({"ready", Ready{"w-1",
                                {"default", "images"},
                                {"echo", "exec"},
                                4,
                                {{"zone", "a"}},
                                {"01JD0000000000000000000001"}}});
  out.push_back({"heartbeat", Heartbeat{2}});
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 7;
    d.ok = true;
    d.output = std::string("\x00\x01", 2);
    d.exit_code = 0;
    d.stdout_data = "out";
    d.stderr_data = "err";
    d.duration_ms = 15;
    d.cost = {{"cpu_ms", 3.5}, {"tokens_in", 512.0}, {"usd", 0.002}};
    d.started_ms = 1700000000100;
    out.push_back({"done_ok", d});
  }
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 300;
    d.ok = false;
    d.error = TaskError{"timeout", "killed after 60000 ms", true};
    out.push_back({"done_failed", d});
  }
  {
    // A handler's exception: the one code every worker runtime reports it with.
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 301;
    d.ok = false;
    d.error = TaskError{kHandlerExceptionCode,
                        "ValueError: bad size\nTraceback (most recent call last):\n"
                        "  File \"resize.py\", line 7, in resize",
                        true};
    d.duration_ms = 12;
    out.push_back({"done_handler_exception", d});
  }
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 8;
    d.ok = true;
    d.artifacts = {Artifact{"out.txt", 2,
                            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", "",
                            "hi"}};
    out.push_back({"done_artifacts", d});
  }
  out.push_back({"progress", Progress{"01JD0000000000000000000001", 7, 0.5, "half"}});
  // Fencing tokens are random 64-bit values: above 2^53 (a double's exact range) and 2^63,
  // so every library must echo them as exact unsigned integers.
  out.push_back({"progress_token64",
                 Progress{"01JD0000000000000000000001", 0xd3a1c6f09b2e4f17ull, 0.25, ""}});
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 0x9e3779b97f4a7c15ull;
    d.ok = true;
    out.push_back({"done_token64", d});
  }
  out.push_back({"bye", Bye{"drained"}});
  {
    TaskMsg t;
    t.task_id = "01JD0000000000000000000001";
    t.token = 70000;
    t.attempt = 2;
    t.queue = "images";
    t.type = "resize";
    t.payload = std::string("\x80", 1);
    t.timeout_ms = 60000;
    t.batch_id = "01JD00000000000000000000B1";
    t.name = "thumb";
    t.parents = {{"fetch", std::string("\x01\x02", 2)}};
    t.labels = {{"team", "media"}};
    out.push_back({"task", t});
    // Issue 22: a child of an on_failure=continue batch whose parent died (TASK
    // parent_errors, its last field).
    t.parents = {};
    t.name = "report";
    t.parent_errors = {ParentError{"fetch", "exit_status", "exited with status 2", false}};
    out.push_back({"batch_policy_task_parent_errors", t});
  }
  out.push_back({"cancel_task", CancelTask{"01JD0000000000000000000001", 7, "cancelled"}});
  out.push_back({"broker_heartbeat", BrokerHeartbeat{}});
  out.push_back({"drain", Drain{30000}});
  out.push_back({"goaway", Goaway{"shutting down"}});
  out.push_back({"goaway_empty", Goaway{}});
  out.push_back({"move", Move{"shutting down"}});
  out.push_back({"move_empty", Move{}});
  // Progress stored and streamed (issue 19): a WAIT that asks for progress, the EVENT it
  // gets (no batch), and a running task with its stored progress.
  out.push_back({"wait_progress", Wait{5, {"01JD0000000000000000000001"}, 60000, true}});
  {
    Event e;
    e.type = "task_progress";
    e.task_id = "01JD0000000000000000000001";
    e.state = "running";
    e.progress = 0.4;
    e.message = "reading: 40%";
    e.ts_ms = 1700000000500;
    out.push_back({"event_wait_progress", e});
  }
  {
    Reply r;
    r.req_id = 6;
    TaskInfo t;
    t.id = "01JD0000000000000000000001";
    t.queue = "default";
    t.type = "exec";
    t.state = TaskState::kRunning;
    t.attempts = 1;
    t.max_attempts = 3;
    t.worker = "w-1";
    t.created_ms = 1700000000000;
    t.started_ms = 1700000000100;
    t.progress = 0.4;
    t.progress_message = "reading: 40%";
    r.tasks = {t};
    out.push_back({"reply_tasks_progress", r});
  }
  // Completion modes (issue 19): an attempt handed to an outside system, then its COMPLETEs.
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 0x9e3779b97f4a7c15ull;
    d.ok = true;
    d.awaiting = true;
    d.await_ms = 3600000;
    d.completion_token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    out.push_back({"done_awaiting", d});
  }
  {
    Complete c;
    c.req_id = 21;
    c.task_id = "01JD0000000000000000000001";
    c.token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    c.output = "charged";
    c.cost = {{"usd", 0.25}};
    out.push_back({"complete", c});
  }
  {
    Complete c;
    c.req_id = 22;
    c.task_id = "01JD0000000000000000000001";
    c.token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    c.ok = false;
    c.error = TaskError{"declined", "card declined", true};
    out.push_back({"complete_failed", c});
  }
  {
    TaskInfo t;
    t.id = "01JD0000000000000000000001";
    t.state = TaskState::kAwaiting;
    t.attempts = 1;
    Reply r;
    r.req_id = 23;
    r.tasks = {t};
    out.push_back({"reply_awaiting", r});
  }
  {
    Done d;
    d.task_id = "01JD0000000000000000000001";
    d.token = 9;
    d.ok = true;
    d.poll_ms = 5000;
    d.poll_state = std::string("job-42\x00", 7);
    d.poll_max_ms = 600000;
    out.push_back({"done_poll", d});
  }
  {
    TaskMsg t;
    t.task_id = "01JD0000000000000000000001";
    t.token = 10;
    t.type = "check";
    t.poll_state = "job-42";
    out.push_back({"task_poll", t});
  }
  {
    // SCHEDULE add (0x0A): every 5 minutes in Paris, a task of type "report".
    ScheduleInfo s;
    s.name = "nightly-report";
    s.cron = "*/5 * * * *";
    s.tz = "Europe/Paris";
    s.catch_up = "once";
    s.task.queue = "reports";
    s.task.type = "report";
    s.task.payload = std::string("\x91\x01", 2);
    s.task.labels = {{"team", "ops"}};
    out.push_back({"schedule_add", Schedule{20, ScheduleOp::kAdd, "", s}});
  }
  {
    ScheduleInfo s;
    s.name = "heartbeat";
    s.every_ms = 30000;
    s.task.type = "ping";
    out.push_back({"schedule_add_every", Schedule{21, ScheduleOp::kAdd, "", s}});
  }
  out.push_back({"schedule_list", Schedule{22, ScheduleOp::kList, "", std::nullopt}});
  out.push_back({"schedule_pause", Schedule{23, ScheduleOp::kPause, "heartbeat", std::nullopt}});
  out.push_back({"schedule_remove", Schedule{24, ScheduleOp::kRemove, "heartbeat", std::nullopt}});
  {
    // A SCHEDULE list's REPLY: its run state too (next tick, counters, the last task).
    Reply r;
    r.req_id = 22;
    ScheduleInfo s;
    s.name = "heartbeat";
    s.every_ms = 30000;
    s.task.type = "ping";
    s.next_run_ms = 1764979230000;
    s.last_run_ms = 1764979200000;
    s.last_task_id = "01JD0000000000000000000001";
    s.fired = 12;
    s.missed = 2;
    ScheduleInfo p = s;
    p.name = "paused-one";
    p.paused = true;
    p.next_run_ms = 0;
    p.fired = 0;
    p.missed = 0;
    p.last_run_ms = 0;
    p.last_task_id = "";
    r.schedules = {s, p};
    out.push_back({"reply_schedules", r});
  }
  {
    // LIST (0x0E): one queue's delayed tasks of one type, the second page.
    List l;
    l.req_id = 30;
    l.queue = "emails";
    l.state = "delayed";
    l.type = "send";
    l.limit = 2;
    l.cursor = "z:1764979200000:01JD0000000000000000000001";
    out.push_back({"list_tasks", l});
  }
  {
    List l;
    l.req_id = 31;
    l.what = "batches";
    l.state = "running";
    out.push_back({"list_batches", l});
  }
  {
    // A LIST of tasks' REPLY: compact TaskInfo (no output, payload or history) and the cursor.
    Reply r;
    r.req_id = 30;
    TaskInfo t;
    t.id = "01JD0000000000000000000002";
    t.queue = "emails";
    t.type = "send";
    t.state = TaskState::kDelayed;
    t.priority = 5;
    t.attempts = 1;
    t.max_attempts = 3;
    t.error = TaskError{"timeout", "attempt 1 took longer than 30000 ms", true};
    t.created_ms = 1764979100000;
    t.ready_at_ms = 1764979260000;
    r.tasks = {t};
    r.next_cursor = "z:1764979260000:01JD0000000000000000000002";
    out.push_back({"list_reply_tasks", r});
  }
  {
    Reply r;
    r.req_id = 31;
    BatchStatus b;
    b.id = "01JD00000000000000000000B1";
    b.state = "running";
    b.total = 3;
    b.counts = {{"queued", 2}, {"succeeded", 1}};
    b.cost = {{"usd", 0.25}};
    b.created_ms = 1764979000000;
    r.batches = {b};
    out.push_back({"list_reply_batches", r});
  }
  {
    // UPDATE (0x0F): a task's priority, and a delayed task made ready now.
    Update u;
    u.req_id = 32;
    u.id = "01JD0000000000000000000002";
    u.op = "priority";
    u.priority = 200;
    out.push_back({"list_update_priority", u});
    Update p;
    p.req_id = 33;
    p.id = "01JD0000000000000000000002";
    p.op = "promote";
    out.push_back({"list_update_promote", p});
  }
  // Issue 22, task options: a relative delay, an expiry and a per-task idempotency TTL on
  // SUBMIT; the terminal state `expired` as GET and RESULT report it; the queue counter.
  {
    TaskSpec t;
    t.type = "report";
    t.idempotency_key = "nightly-7";
    t.delay_ms = 10000;
    t.expires_in_ms = 30000;
    t.idempotency_ttl_ms = 3600000;
    out.push_back({"task_submit_delay_expiry", Submit{31, {t}, false, ""}});
  }
  {
    TaskInfo t;
    t.id = "01JD0000000000000000000001";
    t.queue = "reports";
    t.type = "report";
    t.state = TaskState::kExpired;
    t.error = TaskError{"expired", "not started before its deadline (expires_in_ms)", false};
    t.created_ms = 1700000000000;
    t.finished_ms = 1700000030000;
    Reply r;
    r.req_id = 32;
    r.tasks = {t};
    out.push_back({"task_reply_expired", r});
    out.push_back({"task_result_expired", ResultMsg{t}});
  }
  {
    Reply r;
    r.req_id = 33;
    QueueStats q;
    q.queue = "reports";
    q.submitted = 5;
    q.succeeded = 3;
    q.expired = 2;
    r.queues = {q};
    out.push_back({"task_reply_stats_expired", r});
  }
  return out;
}

}  // namespace taskmill::protocol::testing

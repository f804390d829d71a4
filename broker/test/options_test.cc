#include <gtest/gtest.h>

#include <map>
#include <string>

#include "taskmill/broker/broker.h"

namespace taskmill::broker {
namespace {

Result<BrokerOptions> Parse(std::vector<const char*> args,
                            std::map<std::string, std::string> env = {}) {
  BrokerOptions o;
  FlagSet flags("taskmill-broker", "");
  RegisterFlags(flags, o);
  args.insert(args.begin(), "taskmill-broker");
  auto parsed =
      flags.Parse(static_cast<int>(args.size()), args.data(), [&](const std::string& name) {
        auto it = env.find(name);
        return it == env.end() ? std::string() : it->second;
      });
  if (!parsed) return std::unexpected(parsed.error());
  if (auto v = Validate(o); !v) return std::unexpected(v.error());
  return o;
}

TEST(BrokerOptionsTest, DefaultsAreValid) {
  auto o = Parse({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->frontend, "tcp://127.0.0.1:5555");
  EXPECT_EQ(o->heartbeat_ms, 1000u);
  EXPECT_EQ(o->liveness, 3u);
  EXPECT_EQ(o->EffectiveLeaseMs(), 15000u);
}

TEST(BrokerOptionsTest, InputCapsHaveDefaultsAndRanges) {
  auto o = Parse({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_label_bytes, 64u << 10);
  EXPECT_EQ(o->max_batch_edges, 100000u);
  EXPECT_EQ(o->max_workers, 10000u);
  EXPECT_EQ(o->max_worker_claim_keys, 1024u);
  o = Parse({"--max-label-bytes", "2000000"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--max-label-bytes: 2000000 is out of range (allowed: 0..1048576)");
  o = Parse({"--max-workers", "0"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--max-workers: 0 is out of range (allowed: 1..1000000)");
  o = Parse({"--max-worker-claim-keys", "40000"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--max-worker-claim-keys: 40000 is out of range (allowed: 1..32768)");
  o = Parse({"--max-batch-edges", "20000000"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--max-batch-edges: 20000000 is out of range (allowed: 0..10000000)");
  o = Parse({}, {{"TASKMILL_MAX_WORKERS", "5"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_workers, 5u);
}

// Issue 22: the idempotency keys' default TTL, 24h unless set, 1s to 720h (30 days).
TEST(BrokerOptionsTest, IdempotencyTtlHasADefaultAndARange) {
  auto o = Parse({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->idempotency_ttl_ms, 24ull * 3600 * 1000);
  o = Parse({"--idempotency-ttl", "1h"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->idempotency_ttl_ms, 3600ull * 1000);
  o = Parse({}, {{"TASKMILL_IDEMPOTENCY_TTL", "90s"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->idempotency_ttl_ms, 90000u);
  for (const char* bad : {"500ms", "721h", "24"}) {
    o = Parse({"--idempotency-ttl", bad});
    ASSERT_FALSE(o) << bad;
    EXPECT_NE(o.error().message.find("--idempotency-ttl"), std::string::npos)
        << o.error().message;
  }
  o = Parse({"--idempotency-ttl", "721h"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("720h"), std::string::npos) << o.error().message;
}

TEST(BrokerOptionsTest, QuotasAndQueuedBytesAreFlagsAndAPerClientValueFitsItsTotal) {
  auto o = Parse({});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_waits_per_client, 64u);
  EXPECT_EQ(o->max_wait_ids_total, 500000u);
  EXPECT_EQ(o->max_queued_bytes_per_client, 64u << 20);
  EXPECT_EQ(o->max_queued_bytes_total, 512u << 20);
  o = Parse({"--max-waits-per-client", "5000"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--max-waits-per-client: 5000 is over its total (4096)");
  o = Parse({"--max-queued-bytes-per-client", "1073741824"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--max-queued-bytes-per-client: 1073741824 is over its total (536870912)");
  // No total: any per-client value; 0 turns the per-client cap off.
  o = Parse({"--max-queued-bytes-per-client", "1073741824", "--max-queued-bytes-total", "0"});
  ASSERT_TRUE(o) << o.error().message;
  o = Parse({}, {{"TASKMILL_MAX_SUBSCRIPTIONS_PER_CLIENT", "7"},
                 {"TASKMILL_MAX_QUEUED_BYTES_PER_CLIENT", "0"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_subscriptions_per_client, 7u);
  EXPECT_EQ(o->max_queued_bytes_per_client, 0u);
}

TEST(BrokerOptionsTest, BadValuesNameTheFlag) {
  auto o = Parse({"--frontend", "localhost:5555"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--frontend: 'localhost:5555' is not a tcp://, ipc:// or inproc:// endpoint");
  o = Parse({"--heartbeat-ms", "5"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--heartbeat-ms: 5 is out of range (allowed: 50..60000)");
  o = Parse({"--lease-ms", "1000"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--lease-ms"), std::string::npos);
  o = Parse({"--backend", "tcp://127.0.0.1:5555"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--frontend and --backend must differ");
  o = Parse({"--log-level", "chatty"});
  ASSERT_FALSE(o);
}

TEST(BrokerOptionsTest, HttpListenerDefaultsToLoopbackAndComesFromTheEnvironment) {
  auto o = Parse({});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->http, "127.0.0.1:9464");
  o = Parse({}, {{"TASKMILL_HTTP", "off"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->http, "off");
  o = Parse({"--http", "[::1]:0"}, {{"TASKMILL_HTTP", "off"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->http, "[::1]:0");
  o = Parse({"--http", "9464"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--http: '9464' has no :PORT (HOST:PORT, [IPv6]:PORT or off)");
}

TEST(BrokerOptionsTest, CapsHaveProductionDefaultsAndCheckedRanges) {
  auto o = Parse({});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->max_queue_depth, 0u);
  EXPECT_EQ(o->max_finished_per_queue, 100000u);
  EXPECT_EQ(o->redis_maxmemory_mb, 0u);
  o = Parse({"--redis-url", "redis://127.0.0.1:6379", "--redis-maxmemory-mb", "64"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--redis-maxmemory-mb: only for the embedded Redis"),
            std::string::npos)
      << o.error().message;
  o = Parse({}, {{"TASKMILL_REDIS_MAXMEMORY_MB", "64"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->redis_maxmemory_mb, 64u);
  EXPECT_EQ(o->max_payload_bytes, 8u << 20);
  EXPECT_EQ(o->max_batch_tasks, 10000u);
  EXPECT_EQ(o->max_output_bytes, 8u << 20);
  o = Parse({"--max-batch-tasks", "0"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--max-batch-tasks: 0 is out of range (allowed: 1..10000)");
  // A batch of more tasks than a decoder reads in one map: its status could not be read.
  o = Parse({"--max-batch-tasks", "10001"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "--max-batch-tasks: 10001 is out of range (allowed: 1..10000)");
  EXPECT_TRUE(Parse({"--max-batch-tasks", "10000"}));
  o = Parse({"--max-payload-bytes", "16777217"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--max-payload-bytes: 16777217 is out of range (allowed: 0..16777216)");
  o = Parse({"--max-output-bytes", "100"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--max-output-bytes: 100 is out of range"), std::string::npos);
}

TEST(BrokerOptionsTest, CapsComeFromTheEnvironmentAndFlagsWin) {
  auto o = Parse({}, {{"TASKMILL_MAX_QUEUE_DEPTH", "500"},
                      {"TASKMILL_MAX_BATCH_TASKS", "20"},
                      {"TASKMILL_MAX_FINISHED_PER_QUEUE", "0"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->max_queue_depth, 500u);
  EXPECT_EQ(o->max_finished_per_queue, 0u);
  EXPECT_EQ(o->max_batch_tasks, 20u);
  o = Parse({"--max-queue-depth", "7"}, {{"TASKMILL_MAX_QUEUE_DEPTH", "500"}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->max_queue_depth, 7u);
}

TEST(BrokerOptionsTest, AFrameMustCarryThePayloadAndOutputCaps) {
  auto o = Parse({"--max-output-bytes", "16777216"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--max-frame-bytes: 16777216 cannot carry --max-output-bytes 16777216 (allowed: at "
            "least 16842752, the cap plus 64 KiB)");
  o = Parse({"--max-frame-bytes", "1048576"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("cannot carry --max-payload-bytes 8388608"), std::string::npos);
  o = Parse({"--max-frame-bytes", "1114112", "--max-payload-bytes", "1048576", "--max-output-bytes",
             "1048576"});
  EXPECT_TRUE(o) << o.error().message;
}

TEST(BrokerOptionsTest, CurveTakesBothFlagsOrNeither) {
  auto o = Parse({"--curve-secret-key-file", "/k/broker.key"});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message,
            "--curve-secret-key-file: needs --curve-allow-dir too (CURVE takes both, or "
            "neither for no CURVE)");
  o = Parse({"--curve-allow-dir", "/k/allowed"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--curve-allow-dir: needs --curve-secret-key-file"),
            std::string::npos);
  o = Parse({"--curve-secret-key-file", "/k/broker.key", "--curve-allow-dir", "/k/allowed"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->curve_allow_dir, "/k/allowed");
  EXPECT_EQ(o->curve_roles, "split");  // each role only from its own directory
  o = Parse({"--curve-secret-key-file", "/k/broker.key", "--curve-allow-dir", "/k/allowed",
             "--curve-roles", "shared"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->curve_roles, "shared");
  o = Parse({"--curve-roles", "shared"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--curve-roles: roles need CURVE"), std::string::npos)
      << o.error().message;
  o = Parse({"--curve-roles", "everyone"});
  EXPECT_FALSE(o);
}

TEST(BrokerOptionsTest, SentinelPasswordFileAndMinReplicasNeedAnExternalRedis) {
  auto o = Parse({"--redis-url", "redis+sentinel://127.0.0.1:26379/m",
                  "--redis-sentinel-password-file", "/run/s", "--redis-min-replicas", "1"});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->redis_min_replicas, 1u);
  EXPECT_EQ(o->redis_min_replicas_timeout_ms, 1000u);
  EXPECT_EQ(o->redis_sentinel_password_file, "/run/s");
  o = Parse({"--redis-url", "redis://127.0.0.1:6379", "--redis-sentinel-password-file", "/s"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--redis-sentinel-password-file"), std::string::npos);
  o = Parse({"--data-dir", "/tmp/x", "--redis-min-replicas", "1"});
  ASSERT_FALSE(o);
  EXPECT_NE(o.error().message.find("--redis-min-replicas"), std::string::npos);
  o = Parse({}, {{"TASKMILL_REDIS_URL", "redis://h:1"}, {"TASKMILL_REDIS_MIN_REPLICAS", "2"}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o->redis_min_replicas, 2u);
}

TEST(BrokerOptionsTest, LeaseFollowsHeartbeatUnlessSet) {
  auto o = Parse({"--heartbeat-ms", "2000", "--liveness", "5"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->EffectiveLeaseMs(), 50000u);
  o = Parse({"--heartbeat-ms", "100"});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->EffectiveLeaseMs(), 10000u);
}

}  // namespace
}  // namespace taskmill::broker

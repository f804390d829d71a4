// taskmill-broker: parses flags, wires the broker, runs it.

#include <signal.h>

#include <cstdio>

#include "taskmill/broker/broker.h"
#include "taskmill/shared/log.h"
#include "taskmill/shared/version.h"

int main(int argc, char** argv) {
  using namespace taskmill;
  // Block the stop and reload signals before any thread exists, so every thread inherits
  // the mask and the broker's signalfd is the only place they arrive.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  broker::BrokerOptions options;
  FlagSet flags("taskmill-broker",
                "The taskmill broker: keeps tasks in Redis and farms them out to workers.");
  bool version = false;
  flags.Bool("version", &version, "print the version and exit");
  broker::RegisterFlags(flags, options);
  auto parsed = flags.Parse(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "taskmill-broker: %s\n", parsed.error().message.c_str());
    return 2;
  }
  if (parsed->help) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("taskmill-broker %s\n", kVersionString);
    return 0;
  }
  if (!parsed->positional.empty()) {
    std::fprintf(stderr, "taskmill-broker: unexpected argument '%s'\n",
                 parsed->positional[0].c_str());
    return 2;
  }
  if (auto valid = broker::Validate(options); !valid) {
    std::fprintf(stderr, "taskmill-broker: %s\n", valid.error().message.c_str());
    return 2;
  }
  (void)SetLogLevel(options.log_level);
  broker::Broker b(options);
  if (auto r = b.Run(); !r) {
    std::fprintf(stderr, "taskmill-broker: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

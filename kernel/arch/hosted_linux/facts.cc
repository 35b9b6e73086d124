// The hosted (Linux) kernel's limits the deployment planner works with, exported from its headers
// (see kernel/core/build_fact.hpp). Compiled for the hosted board's platform by //tools/facts.
#include "kernel/arch/hosted_linux/node.hpp"
#include "kernel/core/build_fact.hpp"

extern "C" void ambience_hosted_linux_facts() {
  // Instances one process (a group process, or the supervisor relaying for the groups) serves.
  AMBIENCE_FACT("max_served_per_process", ambience::hosted::ServiceTable::kMax);
}

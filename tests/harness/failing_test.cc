// A portable test that must FAIL: proves the runner reports failures through the exit status and
// the console, so a broken kernel cannot pass silently.
#include "kernel/testing/test.hpp"

AMBIENCE_TEST(this_check_fails_on_purpose) { CHECK_EQ(1 + 1, 3); }
AMBIENCE_TEST(this_one_passes) { CHECK(true); }

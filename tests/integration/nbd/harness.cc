// The one global test environment of the conformance binary.
#include "harness.h"

namespace nbdtest {
namespace {

// Fails every test early with a clear message when run outside
// conformance.sh.
class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_FALSE(Cfg().socket.empty())
        << "USBD_SOCKET is not set: run this through "
           "tests/integration/conformance.sh";
  }
};
[[maybe_unused]] const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new Env);

}  // namespace
}  // namespace nbdtest

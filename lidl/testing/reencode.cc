// Re-encoder for the hand-written test schemas (see reencode.hpp for the line protocol).
#include "lidl/testing/reencode.hpp"

#include "lidl/testdata/everything.lidl.hpp"
#include "lidl/testdata/frames.lidl.hpp"

int main() {
  using lidl_testing::reencode;
  return lidl_testing::run_reencoder([](const std::string& type, const std::byte* d, std::size_t n) -> std::string {
    if (type == "demo.Everything") return reencode<demo::Everything>(d, n);
    if (type == "demo.Tree") return reencode<demo::Tree>(d, n);
    if (type == "demo.Shape") return reencode<demo::Shape>(d, n);
    if (type == "demo.Mixed") return reencode<demo::Mixed>(d, n);
    if (type == "demo.Padded") return reencode<demo::Padded>(d, n);
    if (type == "camera_trap.Frame") return reencode<camera_trap::Frame>(d, n);
    if (type == "camera_trap.Sighting") return reencode<camera_trap::Sighting>(d, n);
    return "ERR unknown_type";
  });
}

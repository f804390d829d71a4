// Writes the shared protocol test vectors: taskmill-make-vectors <dir>.
// Run it after a deliberate protocol change; vectors_test fails until the files match.

#include <cstdio>
#include <fstream>

#include "sample_messages.h"
#include "vector_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: taskmill-make-vectors DIR\n");
    return 2;
  }
  int written = 0;
  for (const auto& sample : taskmill::protocol::testing::SampleMessages()) {
    std::string path = std::string(argv[1]) + "/" + sample.name + ".json";
    std::ofstream out(path, std::ios::binary);
    out << taskmill::protocol::testing::VectorJson(sample);
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("wrote %d vectors to %s\n", written, argv[1]);
  return 0;
}

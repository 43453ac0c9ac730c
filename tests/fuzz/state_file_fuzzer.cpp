// libFuzzer target for the folder state reader: a state file can be damaged
// by a full disk, a bad sector or a hand edit. Checks that
// parse_folder_state either accepts the text or throws util::Error (never
// crashes, never throws anything else), and that a state it accepts is
// written back and read again unchanged, so that a load never changes what
// the next commit records.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "state/folder_state.hpp"
#include "util/error.hpp"

namespace {

// Aborts (a finding for libFuzzer) when a property does not hold.
void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  roam::state::FolderState state;
  try {
    state = roam::state::parse_folder_state(text, "fuzz.json");
  } catch (const roam::util::Error&) {
    return 0;
  }
  roam::state::FolderState again =
      roam::state::parse_folder_state(roam::state::serialize_folder_state(state), "fuzz.json");
  // The version read is the one written back, the newest.
  again.schema = state.schema;
  check(again == state);
  return 0;
}

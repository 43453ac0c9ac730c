// libFuzzer target for the Maildir file-name codec: names come from the
// directory listing, where any program (or a hostile archive unpacked into
// the Maildir) can put any bytes. Checks that classify_name and parse_name
// never crash, and that what classify_name accepts survives a round trip
// through format_name and parse_name unchanged, so that a flag rename never
// loses letters, extension fields or the stable name.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "maildir/name.hpp"

namespace {

using namespace roam::maildir;

// Aborts (a finding for libFuzzer) when a property does not hold.
void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string name(reinterpret_cast<const char*>(data), size);
  const NameKind kind = classify_name(name);
  const ParsedName parsed = parse_name(name);
  (void)normalize_letters(name);
  (void)is_valid_stable_name(name);
  if (kind != NameKind::Valid) {
    return 0;
  }

  // A valid name has a non-empty stable part without '/' or NUL.
  check(!parsed.stable_name.empty());
  check(parsed.stable_name.find('/') == std::string::npos);
  check(parsed.stable_name.find('\0') == std::string::npos);
  check(parsed.letters == normalize_letters(parsed.letters));

  // Rebuilding the name for cur/ keeps every part.
  const std::string rebuilt =
      format_name(parsed.stable_name, parsed.letters, Subdir::Cur, parsed.extra);
  check(classify_name(rebuilt) == NameKind::Valid);
  const ParsedName again = parse_name(rebuilt);
  check(again.stable_name == parsed.stable_name);
  check(again.letters == parsed.letters);
  check(again.extra == parsed.extra);
  check(again.has_info);

  // A name without info in new/ is written back as it was.
  if (!parsed.has_info) {
    check(format_name(parsed.stable_name, "", Subdir::New) == parsed.stable_name);
  }

  // Known and unknown letters split the letters, and a flag change that
  // keeps the known letters changes nothing.
  const std::string known = known_letters(parsed.letters);
  const std::string unknown = unknown_letters(parsed.letters);
  check(normalize_letters(known + unknown) == parsed.letters);
  check(normalize_letters(replace_known_letters(parsed.letters, known)) == parsed.letters);

  // Known letters survive the trip through IMAP flags.
  const ImapFromLetters flags = imap_flags_from_letters(known);
  check(flags.unknown_letters.empty());
  check(letters_from_imap_flags(flags.imap_flags).letters == known);
  return 0;
}
